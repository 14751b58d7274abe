"""Bearer token verification with PyJWT.

Deployed stages accept only RS256 tokens from the configured OpenID Connect
provider (JWKS URL, issuer, audience); local mode accepts only HS256 tokens
signed with the development secret. ``none`` is never accepted.

Only access tokens are accepted, never ID tokens: Cognito's carry
``token_use: access``; other providers' must follow RFC 9068 (header
``typ: at+jwt``) and not say ``token_use`` otherwise. When a scope is required
(always in oidc mode), the token's ``scope`` claim (space-separated) must hold it.

The caller carries the client app the token was issued to: ``client_id`` (Cognito and
RFC 9068), else ``azp``. Cognito access tokens have no ``aud``: there the client must be
the configured audience or one of the known client apps (``USAGE_CLIENTS``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, Protocol

import jwt

from chalicelib.config import AUTH_MODE_LOCAL, Settings
from chalicelib.domain.identity import AmbiguousRoleError, Caller, role_from_groups

_REQUIRED_CLAIMS = ["exp", "sub"]
_LEEWAY_SECONDS = 30
_ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068, section 2.1
# The JWKS is cached this long, keys with it: a key the provider removes stops verifying
# within this time (no per-key cache outlives the set).
JWKS_LIFESPAN_SECONDS = 300


class SigningKeys(Protocol):
    """Where RS256 verification keys come from (PyJWKClient over the provider's JWKS URL)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


class TokenRejectedError(Exception):
    """The token is missing, malformed, expired, badly signed or names no role."""


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
        required_scope: str,
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
    return str(header.get("typ") or "").lower() in _ACCESS_TOKEN_TYPES


def _scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope")
    return scope.split(" ") if isinstance(scope, str) else []


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
    """The client app the token was issued to: `client_id` (Cognito, RFC 9068), else `azp`."""
    for name in ("client_id", "azp"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def jwks_client(url: str) -> jwt.PyJWKClient:
    """The provider's keys, cached as one set that expires: no `cache_keys`, whose LRU
    cache has no expiry and would keep trusting a key after the provider removed it."""
    return jwt.PyJWKClient(
        url, cache_keys=False, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS, timeout=5
    )


def build_token_verifier(settings: Settings) -> TokenVerifier:
    if settings.auth_mode == AUTH_MODE_LOCAL:
        return LocalTokenVerifier(settings.dev_jwt_secret, settings.oidc_required_scope)
    assert settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience
    assert settings.oidc_required_scope
    return OidcTokenVerifier(
        jwks_client(settings.oidc_jwks_url),
        settings.oidc_issuer,
        settings.oidc_audience,
        settings.oidc_required_scope,
        clients=settings.usage_keys.keys(),
    )
