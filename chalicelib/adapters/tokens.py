"""Bearer token verification with PyJWT.

Deployed stages accept only RS256 tokens from the configured OpenID Connect
provider (JWKS URL, issuer, audience); local mode accepts only HS256 tokens
signed with the development secret. ``none`` is never accepted.

Only access tokens are accepted, never ID tokens, with no provider-specific setting (SPEC 3:
JWKS URL, issuer and audience are the whole configuration). A token that says what it is
is taken at its word: Cognito's ``token_use`` must be ``access``, an RFC 9068 header
``typ: at+jwt`` is an access token. A token that does not say (Keycloak, Okta, Auth0 by
default) is refused when it carries an ID token's marks (OIDC Core: ``nonce``, ``at_hash``,
``c_hash``; Keycloak's ``typ: ID``); otherwise the audience check binds it to this API (an
ID token's ``aud`` names the client app, not the API). When a scope is configured
(``OIDC_REQUIRED_SCOPE``; the template sets it), the token's ``scope`` (space-separated)
or ``scp`` (a list, Okta) must hold it.

The caller carries the client app the token was issued to: ``client_id`` (Cognito and
RFC 9068), else ``azp``, else ``cid`` (Okta). Cognito access tokens have no ``aud``:
there the client must be the configured audience or one of the known client apps
(``USAGE_CLIENTS``).

When the provider's key set cannot be had (no connection, a timeout, a 5xx, a body that
is no key set), a token is neither accepted nor refused: ``SigningKeysUnavailableError``
(the caller is told to retry, 503), unless a key set fetched before may stand in for it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from typing import Any, Protocol

import jwt

from chalicelib.config import AUTH_MODE_LOCAL, Settings
from chalicelib.domain.identity import AmbiguousRoleError, Caller, role_from_groups
from chalicelib.logs import logger
from chalicelib.service.ports import DependencyUnavailableError

_REQUIRED_CLAIMS = ["exp", "sub"]
_LEEWAY_SECONDS = 30
_ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068, section 2.1
_ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")  # OpenID Connect Core 1.0, section 2
# The JWKS is cached this long, keys with it: a key the provider removes stops verifying
# within this time (no per-key cache outlives the set).
JWKS_LIFESPAN_SECONDS = 300
# While the provider's endpoint fails, the set held keeps verifying this much longer past
# its lifespan (a brief outage does not log every customer out); no removed key can be
# learnt of meanwhile anyway. Past that, tokens answer 503 until the endpoint is back.
JWKS_STALE_SECONDS = 3600
# After a failed fetch, the set held is used without asking again for this long: each
# request would otherwise wait out the fetch's timeout (5 s) during an outage.
JWKS_RETRY_SECONDS = 10


class SigningKeys(Protocol):
    """Where RS256 verification keys come from (PyJWKClient over the provider's JWKS URL)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


class TokenRejectedError(Exception):
    """The token is missing, malformed, expired, badly signed or names no role."""


class SigningKeysUnavailableError(DependencyUnavailableError):
    """The provider's key set (JWKS) could not be fetched and none held may stand in for
    it: the token can be neither accepted nor refused now; the caller retries (503)."""


class TokenVerifier(ABC):
    def __init__(self, required_scope: str | None) -> None:
        self._required_scope = required_scope

    def verify(self, authorization: str) -> Caller:
        token = _bearer_token(authorization)
        try:
            claims = self._decode(token)
            header = jwt.get_unverified_header(token)  # its signature is verified by now
        except jwt.PyJWTError as error:
            raise TokenRejectedError(type(error).__name__) from error
        if not _is_access_token(claims, header):
            raise TokenRejectedError("not an access token")
        if self._required_scope is not None and self._required_scope not in _scopes(claims):
            raise TokenRejectedError("scope")
        return _caller_from_claims(claims)

    @abstractmethod
    def _decode(self, token: str) -> dict[str, Any]: ...


class LocalTokenVerifier(TokenVerifier):
    def __init__(self, secret: str, required_scope: str | None = None) -> None:
        super().__init__(required_scope)
        self._secret = secret

    def _decode(self, token: str) -> dict[str, Any]:
        return jwt.decode(
            token,
            self._secret,
            algorithms=["HS256"],
            options={"require": _REQUIRED_CLAIMS},
            leeway=_LEEWAY_SECONDS,
        )


class OidcTokenVerifier(TokenVerifier):
    def __init__(
        self,
        jwks_client: SigningKeys,
        issuer: str,
        audience: str,
        required_scope: str | None,
        clients: Collection[str] = (),
    ) -> None:
        super().__init__(required_scope)
        self._jwks = jwks_client
        self._issuer = issuer
        self._audience = audience
        self._clients = frozenset(clients)

    def _decode(self, token: str) -> dict[str, Any]:
        signing_key = self._jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            issuer=self._issuer,
            options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            leeway=_LEEWAY_SECONDS,
        )
        if not _audience_matches(claims, self._audience, self._clients):
            raise jwt.InvalidAudienceError("audience")
        return claims


def _is_access_token(claims: dict[str, Any], header: dict[str, Any]) -> bool:
    token_use = claims.get("token_use")
    if token_use is not None:
        return bool(token_use == "access")
    if str(header.get("typ") or "").lower() in _ACCESS_TOKEN_TYPES:
        return True
    if str(claims.get("typ") or "").lower() == "id":
        return False
    return not any(mark in claims for mark in _ID_TOKEN_CLAIMS)


def _scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return scope.split(" ")
    listed = claims.get("scp")
    return [str(item) for item in listed] if isinstance(listed, list) else []


def _audience_matches(claims: dict[str, Any], audience: str, clients: frozenset[str]) -> bool:
    # RFC 9068 access tokens carry `aud`; Cognito's carry the client in `client_id` and no
    # `aud`: any of the known client apps may call (the required scope names this API).
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    client = claims.get("client_id")
    if audience in audiences or client == audience:
        return True
    return aud is None and isinstance(client, str) and client in clients


def _bearer_token(authorization: str) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejectedError("not a bearer token")
    return token.strip()


def _caller_from_claims(claims: dict[str, Any]) -> Caller:
    groups = claims.get("cognito:groups") or []
    subject = claims.get("sub")
    if not isinstance(groups, list) or not isinstance(subject, str) or not subject:
        raise TokenRejectedError("claims")
    try:
        role = role_from_groups([str(group) for group in groups])
    except AmbiguousRoleError as error:
        raise TokenRejectedError("ambiguous role") from error
    if role is None:
        raise TokenRejectedError("no known group")
    team = claims.get("custom:team")
    segment = claims.get("custom:segment")
    return Caller(
        role=role,
        id=subject,
        team=team if isinstance(team, str) else None,
        client_id=_client_id(claims),
        segment=segment if isinstance(segment, str) and segment else None,
    )


def _client_id(claims: dict[str, Any]) -> str | None:
    """The client app the token was issued to: `client_id` (Cognito, RFC 9068), else `azp`
    (OpenID Connect, Keycloak), else `cid` (Okta)."""
    for name in ("client_id", "azp", "cid"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


class ProviderKeys(jwt.PyJWKClient):
    """PyJWKClient over the provider's JWKS URL, cached as one set that expires (no
    `cache_keys`, whose LRU cache has no expiry and would keep trusting a key after the
    provider removed it), and that outlives a brief outage of the endpoint.

    PyJWT keeps the set it last fetched when a fetch fails (2.10+: only a successful fetch
    writes the cache), but answers from it only within its lifespan; past that, every token
    raised PyJWKClientConnectionError, which a verifier reads as a bad token (401). Here a
    failed fetch serves the set held for up to JWKS_STALE_SECONDS past its lifespan, and
    SigningKeysUnavailableError otherwise, or when the set had to be fetched anew for a key
    id it does not hold (a key the provider may just have published).

    `clock` must be the clock PyJWT's cache stamps its set with (time.monotonic)."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(
            url, cache_keys=False, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS, timeout=5
        )
        self._clock = clock
        self._retry_at = float("-inf")  # after a failed fetch: the set held, no asking

    def get_jwk_set(self, refresh: bool = False) -> jwt.PyJWKSet:
        if self._clock() < self._retry_at:
            return self._held(refresh, None)
        try:
            jwk_set = super().get_jwk_set(refresh)
        except (jwt.PyJWTError, ValueError) as error:  # no connection, 5xx, no key set
            self._retry_at = self._clock() + JWKS_RETRY_SECONDS
            return self._held(refresh, error)
        self._retry_at = float("-inf")
        return jwk_set

    def _held(self, refresh: bool, error: Exception | None) -> jwt.PyJWKSet:
        cached = self.jwk_set_cache.jwk_set_with_timestamp if self.jwk_set_cache else None
        cause = type(error).__name__ if error else "retrying later"
        if refresh or cached is None:
            raise SigningKeysUnavailableError(f"identity provider keys: {cause}") from error
        age = self._clock() - cached.get_timestamp()
        if age > JWKS_LIFESPAN_SECONDS + JWKS_STALE_SECONDS:
            raise SigningKeysUnavailableError(f"identity provider keys: {cause}") from error
        if error is not None:
            logger.warning("identity provider keys not refreshed; the set held stays in use")
        return cached.get_jwk_set()


def jwks_client(url: str, *, clock: Callable[[], float] = time.monotonic) -> ProviderKeys:
    """The provider's keys (see ProviderKeys)."""
    return ProviderKeys(url, clock=clock)


def build_token_verifier(settings: Settings) -> TokenVerifier:
    if settings.auth_mode == AUTH_MODE_LOCAL:
        return LocalTokenVerifier(settings.dev_jwt_secret, settings.oidc_required_scope)
    assert settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience
    return OidcTokenVerifier(
        jwks_client(settings.oidc_jwks_url),
        settings.oidc_issuer,
        settings.oidc_audience,
        settings.oidc_required_scope,
        clients=settings.usage_keys.keys(),
    )
