"""Signing keys follow the provider's JWKS, served from a loopback HTTP server.

The verifier is built as a deployed stage builds it (`build_token_verifier` in oidc mode);
PyJWT's monotonic clock is replaced by one the test moves, so expiry is exact, not sleepy.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.tokens import (
    JWKS_LIFESPAN_SECONDS,
    JWKS_RETRY_SECONDS,
    JWKS_STALE_SECONDS,
    OidcTokenVerifier,
    SigningKeysUnavailableError,
    TokenRejectedError,
    TokenVerifier,
    build_token_verifier,
    jwks_client,
)
from chalicelib.api.auth import ProviderUnavailableError, RejectedTokenError, authorize
from chalicelib.config import Settings
from chalicelib.domain.identity import Role

ISSUER = "https://cognito-idp.ap-east-1.amazonaws.com/pool"
CLIENT = "client-123"
SCOPE = "servicedesk/api"


class Provider:
    """The identity provider's signing keys and the JWKS document it publishes."""

    def __init__(self) -> None:
        self.keys = {kid: rsa.generate_private_key(65537, 2048) for kid in ("old", "new")}
        self.published = {"old", "new"}
        self.fetches = 0
        self.failing_with: int | None = None  # the endpoint answers this 5xx instead

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [self._jwk(kid) for kid in sorted(self.published)]}

    def _jwk(self, kid: str) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
        return {**public, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, kid: str) -> str:
        now = int(time.time())
        claims = {
            "sub": "agent-7",
            "cognito:groups": ["agents"],
            "iss": ISSUER,
            "client_id": CLIENT,
            "token_use": "access",
            "scope": SCOPE,
            "iat": now,
            "exp": now + 3600,
        }
        encoded = jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})
        return f"Bearer {encoded}"


class MonotonicClock:
    """Stands in for the `time` module PyJWT's JWKS cache reads `monotonic()` from."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    keys = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(keys.jwks()).encode()
            if keys.failing_with is not None:
                body = b"<html>Service Unavailable</html>"
            self.send_response(keys.failing_with or 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield keys, f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> MonotonicClock:
    fake = MonotonicClock()
    for module in (jwt.api_jwk, jwt.jwk_set_cache, jwt.jwks_client):
        monkeypatch.setattr(module, "time", fake)
    return fake


def _verifier(jwks_url: str) -> TokenVerifier:
    return build_token_verifier(
        Settings.from_env(
            {
                "SERVICEDESK_AUTH_MODE": "oidc",
                "OIDC_JWKS_URL": jwks_url,
                "OIDC_ISSUER": ISSUER,
                "OIDC_AUDIENCE": CLIENT,
                "OIDC_REQUIRED_SCOPE": SCOPE,
                "SERVICEDESK_CURSOR_KEY": "k" * 32,
                "USAGE_CLIENTS": f"{CLIENT}=servicedesk-usage-test-client",
            }
        )
    )


def test_a_key_removed_from_the_jwks_stops_verifying_once_the_cache_expires(provider, clock):
    keys, url = provider
    verifier = _verifier(url)
    assert verifier.verify(keys.token("old")).role is Role.AGENT
    assert verifier.verify(keys.token("new")).role is Role.AGENT
    assert keys.fetches == 1  # one fetch serves both keys

    keys.published = {"new"}  # the provider rotates "old" out
    clock.now += JWKS_LIFESPAN_SECONDS - 1
    assert verifier.verify(keys.token("old")).role is Role.AGENT  # cached set, still valid
    clock.now += 2
    with pytest.raises(TokenRejectedError):
        verifier.verify(keys.token("old"))
    assert verifier.verify(keys.token("new")).role is Role.AGENT
    assert keys.fetches == 2


def test_a_key_published_later_is_fetched_for_its_first_token(provider, clock):
    keys, url = provider
    keys.published = {"old"}
    verifier = _verifier(url)
    assert verifier.verify(keys.token("old")).role is Role.AGENT
    keys.published = {"old", "new"}
    clock.now += 31  # past PyJWT's cooldown between forced refreshes for unknown key ids
    assert verifier.verify(keys.token("new")).role is Role.AGENT
    assert keys.fetches == 2


def test_tokens_with_unknown_key_ids_do_not_hammer_the_provider(provider, clock):
    keys, url = provider
    verifier = _verifier(url)
    verifier.verify(keys.token("old"))
    keys.keys["forged"] = rsa.generate_private_key(65537, 2048)
    for _ in range(5):
        with pytest.raises(TokenRejectedError):
            verifier.verify(keys.token("forged"))
    assert keys.fetches == 1  # within the cooldown, an unknown kid fetches nothing


# --- the provider's endpoint out of reach -----------------------------------------------------


def _clocked_verifier(jwks_url: str, clock: MonotonicClock) -> OidcTokenVerifier:
    """As build_token_verifier builds it, on the clock PyJWT's cache reads in these tests."""
    return OidcTokenVerifier(
        jwks_client(jwks_url, clock=clock.monotonic), ISSUER, CLIENT, SCOPE, clients=[CLIENT]
    )


def _closed_port_url() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


@pytest.mark.parametrize("failure", ["5xx", "no connection"])
def test_with_no_keys_to_be_had_a_good_token_is_unavailable_not_unauthorized(
    provider, clock, failure
):
    # A cold start while the provider is down: the token is neither good nor bad. The
    # authorizer used to answer "Unauthorized" (401: log in again) to a valid token.
    keys, url = provider
    if failure == "5xx":
        keys.failing_with = 503
    else:
        url = _closed_port_url()
    verifier = _clocked_verifier(url, clock)
    token = keys.token("old")
    with pytest.raises(SigningKeysUnavailableError):
        verifier.verify(token)
    with pytest.raises(ProviderUnavailableError) as raised:
        authorize(token, verifier, {CLIENT: "plan"}, known_client_required=True)
    assert str(raised.value) != "Unauthorized"  # API Gateway's 401 answers only that message
    assert not isinstance(raised.value, RejectedTokenError)


def test_the_key_set_held_outlives_a_brief_outage_then_stops(provider, clock):
    keys, url = provider
    verifier = _clocked_verifier(url, clock)
    assert verifier.verify(keys.token("old")).role is Role.AGENT
    keys.failing_with = 502
    clock.now += JWKS_LIFESPAN_SECONDS + 1  # the set has expired: PyJWT fetches again, fails
    assert verifier.verify(keys.token("old")).role is Role.AGENT  # the set held stands in
    assert keys.fetches == 2
    with pytest.raises(TokenRejectedError):  # a bad token is still refused meanwhile
        verifier.verify(keys.token("old")[:-4] + "AAAA")

    clock.now += JWKS_STALE_SECONDS  # the outage is no longer brief
    with pytest.raises(SigningKeysUnavailableError):
        verifier.verify(keys.token("old"))

    keys.failing_with = None  # the endpoint is back
    clock.now += JWKS_RETRY_SECONDS
    assert verifier.verify(keys.token("new")).role is Role.AGENT


def test_during_an_outage_the_endpoint_is_asked_again_only_after_a_pause(provider, clock):
    keys, url = provider
    verifier = _clocked_verifier(url, clock)
    verifier.verify(keys.token("old"))
    keys.failing_with = 500
    clock.now += JWKS_LIFESPAN_SECONDS + 1
    for _ in range(5):  # each request would otherwise wait out the fetch's timeout
        assert verifier.verify(keys.token("old")).role is Role.AGENT
    assert keys.fetches == 2
    clock.now += JWKS_RETRY_SECONDS
    verifier.verify(keys.token("old"))
    assert keys.fetches == 3


def test_a_key_id_the_held_set_lacks_is_unavailable_while_the_endpoint_is_down(provider, clock):
    # It may be a key the provider just published: only the endpoint can say.
    keys, url = provider
    keys.published = {"old"}
    verifier = _clocked_verifier(url, clock)
    verifier.verify(keys.token("old"))
    keys.failing_with = 503
    clock.now += 31  # past PyJWT's cooldown between forced refreshes
    with pytest.raises(SigningKeysUnavailableError):
        verifier.verify(keys.token("new"))
    assert verifier.verify(keys.token("old")).role is Role.AGENT  # the set held still works
