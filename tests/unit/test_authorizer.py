"""The authorizer names the caller's usage plan: ``usageIdentifierKey`` per client app.

API Gateway meters a usage plan by the API key value the authorizer returns (the
API's key source is AUTHORIZER). In oidc mode a token of a client app with no plan
is refused; local mode needs no plan.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from chalice.app import AuthRequest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import bootstrap
from chalicelib.adapters.tokens import (
    LocalTokenVerifier,
    OidcTokenVerifier,
    SigningKeysUnavailableError,
)
from chalicelib.api.auth import (
    ProviderUnavailableError,
    RejectedTokenError,
    authorize,
    jwt_authorizer,
)
from chalicelib.config import Settings
from local.token import LOCAL_CLIENT_ID, mint

SECRET = "test-secret-that-is-long-enough-for-hs256"
ISSUER = "https://cognito-idp.ap-east-1.amazonaws.com/pool"
SCOPE = "servicedesk/api"
MOBILE, WEB = "mobile-client-1", "web-client-2"
KEYS = {
    MOBILE: "servicedesk-usage-prod-mobile",
    WEB: "servicedesk-usage-prod-web",
}
ARN = "arn:aws:execute-api:ap-east-1:123456789012:abc123/prod/GET/v1/tickets"


class _StaticJwks:
    """Stands in for PyJWKClient: serves one RSA public key, no network."""

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
        self._key = jwt.PyJWK.from_dict({**jwk, "kid": "k1", "alg": "RS256"})

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        return self._key


class _UnreachableJwks:
    """Stands in for PyJWKClient while the provider's endpoint is out of reach."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        raise SigningKeysUnavailableError("identity provider keys: PyJWKClientConnectionError")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oidc(rsa_key: rsa.RSAPrivateKey) -> OidcTokenVerifier:
    # Cognito: one audience (the API's resource server) and three app clients.
    return OidcTokenVerifier(
        _StaticJwks(rsa_key.public_key()), ISSUER, "servicedesk-api", SCOPE, clients=KEYS
    )


def _cognito_token(rsa_key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": "agent-7",
        "iss": ISSUER,
        "cognito:groups": ["agents"],
        "token_use": "access",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    return "Bearer " + jwt.encode(body, rsa_key, algorithm="RS256", headers={"kid": "k1"})


def _answer(response: Any) -> dict[str, Any]:
    answer: dict[str, Any] = response.to_dict(AuthRequest("TOKEN", "unused", ARN))
    return answer


@pytest.mark.parametrize("client", [MOBILE, WEB])
def test_a_known_client_app_is_metered_by_its_own_plan(oidc, rsa_key, client):
    token = _cognito_token(rsa_key, client_id=client)
    answer = _answer(authorize(token, oidc, KEYS, known_client_required=True))
    assert answer["usageIdentifierKey"] == KEYS[client]
    assert answer["principalId"] == "agent-7"
    assert answer["context"] == {"role": "agent", "team": ""}
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_an_rfc9068_token_names_its_client_in_client_id_or_azp(rsa_key):
    verifier = OidcTokenVerifier(
        _StaticJwks(rsa_key.public_key()), ISSUER, "servicedesk-api", SCOPE, clients=KEYS
    )
    for claims in ({"client_id": WEB}, {"azp": WEB}):
        token = _cognito_token(rsa_key, aud="servicedesk-api", **claims)
        answer = _answer(authorize(token, verifier, KEYS, known_client_required=True))
        assert answer["usageIdentifierKey"] == KEYS[WEB], claims


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "servicedesk-api", "client_id": "partner-app"},  # signed, scoped, no plan
        {"aud": "servicedesk-api"},  # names no client at all
    ],
    ids=["unknown-client", "no-client"],
)
def test_oidc_refuses_a_client_app_with_no_usage_plan(oidc, rsa_key, claims):
    token = _cognito_token(rsa_key, **claims)
    assert oidc.verify(token).role.value == "agent"  # the token itself is valid
    with pytest.raises(RejectedTokenError, match="^Unauthorized$"):
        authorize(token, oidc, KEYS, known_client_required=True)


def test_a_token_no_key_can_check_now_fails_the_authorizer_instead_of_a_401(rsa_key):
    # "Unauthorized" is API Gateway's 401: a customer with a good token was told to log in.
    # A failed authorizer is its AUTHORIZER_CONFIGURATION_ERROR response: 503, Retry-After.
    verifier = OidcTokenVerifier(_UnreachableJwks(), ISSUER, "servicedesk-api", SCOPE, KEYS)
    token = _cognito_token(rsa_key, client_id=MOBILE)
    with pytest.raises(ProviderUnavailableError) as raised:
        authorize(token, verifier, KEYS, known_client_required=True)
    assert str(raised.value) != "Unauthorized"


def test_local_mode_needs_no_usage_plan():
    token = "Bearer " + mint("customers", "cust-1", secret=SECRET)
    answer = _answer(authorize(token, LocalTokenVerifier(SECRET), {}, known_client_required=False))
    assert "usageIdentifierKey" not in answer
    assert answer["principalId"] == "cust-1"


def test_a_rejected_token_is_still_a_bare_401():
    with pytest.raises(RejectedTokenError, match="^Unauthorized$"):
        authorize("Bearer nope", LocalTokenVerifier(SECRET), KEYS, known_client_required=False)


@pytest.fixture
def local_stack_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(
        {
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "SERVICEDESK_DEV_JWT_SECRET": SECRET,
            "USAGE_CLIENTS": f"{LOCAL_CLIENT_ID}=servicedesk-usage-local-desk",
        }
    )
    bootstrap.use(bootstrap.bootstrap(settings))
    yield
    bootstrap.use(None)


def test_the_lambda_authorizer_answers_api_gateway_with_the_usage_key(local_stack_settings):
    """Through Chalice's authorizer entry point, as API Gateway invokes it."""
    event = {"type": "TOKEN", "authorizationToken": "", "methodArn": ARN}
    known = jwt_authorizer(
        {**event, "authorizationToken": "Bearer " + mint("agents", "a-1", secret=SECRET)}, None
    )
    assert known["usageIdentifierKey"] == "servicedesk-usage-local-desk"
    assert known["principalId"] == "a-1"
    other = mint("agents", "a-2", secret=SECRET, client_id="somebody-else")
    # Local mode refuses nobody for want of a plan: the key is just left out.
    assert "usageIdentifierKey" not in jwt_authorizer(
        {**event, "authorizationToken": "Bearer " + other}, None
    )
