"""Bearer token verification with PyJWT.

Deployed stages accept only RS256 tokens from the configured OpenID Connect
provider (JWKS URL, issuer, audience); local mode accepts only HS256 tokens
signed with the development secret. ``none`` is never accepted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import jwt

from chalicelib.config import AUTH_MODE_LOCAL, Settings
from chalicelib.domain.identity import AmbiguousRoleError, Caller, role_from_groups

_REQUIRED_CLAIMS = ["exp", "sub"]
_LEEWAY_SECONDS = 30


class SigningKeys(Protocol):
    """Where RS256 verification keys come from (PyJWKClient over the provider's JWKS URL)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


class TokenRejectedError(Exception):
    """The token is missing, malformed, expired, badly signed or names no role."""


class TokenVerifier(ABC):
    def verify(self, authorization: str) -> Caller:
        token = _bearer_token(authorization)
        try:
            claims = self._decode(token)
        except jwt.PyJWTError as error:
            raise TokenRejectedError(type(error).__name__) from error
        return _caller_from_claims(claims)

    @abstractmethod
    def _decode(self, token: str) -> dict[str, Any]: ...


class LocalTokenVerifier(TokenVerifier):
    def __init__(self, secret: str) -> None:
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
    def __init__(self, jwks_client: SigningKeys, issuer: str, audience: str) -> None:
        self._jwks = jwks_client
        self._issuer = issuer
        self._audience = audience

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
        if not _audience_matches(claims, self._audience):
            raise jwt.InvalidAudienceError("audience")
        return claims


def _audience_matches(claims: dict[str, Any], audience: str) -> bool:
    # ID tokens carry `aud`; OAuth access tokens of some providers (Cognito among
    # them) carry the client in `client_id` instead.
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return audience in audiences or claims.get("client_id") == audience


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
    return Caller(role=role, id=subject, team=team if isinstance(team, str) else None)


def build_token_verifier(settings: Settings) -> TokenVerifier:
    if settings.auth_mode == AUTH_MODE_LOCAL:
        return LocalTokenVerifier(settings.dev_jwt_secret)
    assert settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience
    jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=3600, timeout=5)
    return OidcTokenVerifier(jwks, settings.oidc_issuer, settings.oidc_audience)
