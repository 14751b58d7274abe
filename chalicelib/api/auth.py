"""The API's built-in authorizer and the caller it vouches for.

The authorizer answers with an allow-all policy and a TTL of 0: no cached
decision can outlive a token's expiry or leak one route's policy onto another;
what a role may do is checked in the views.

It also names the caller's client app to API Gateway: ``usageIdentifierKey`` is the
API key value of that app's usage plan (the API's key source is AUTHORIZER, clients
never send a key), so one app cannot spend the stage's rate for the others. In oidc
mode a token of a client app with no usage plan is refused with a 401.

A Lambda authorizer has three answers: a policy (Allow; a Deny is a 403), "Unauthorized"
(API Gateway's 401), or a failure. When the identity provider's keys cannot be had (its
JWKS endpoint is out of reach and no key set held may stand in), the token is neither
good nor bad: the authorizer fails with ProviderUnavailableError, and API Gateway's
gateway response for a failed authorizer (AUTHORIZER_CONFIGURATION_ERROR, and
AUTHORIZER_FAILURE) answers 503 `service-unavailable` with Retry-After (infra/template.json),
not the 401 that told a customer with a good token to log in again. Local mode verifies
HS256 tokens with the development secret: it fetches no keys, so it never meets this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from chalice.app import AuthRequest, AuthResponse, AuthRoute, Blueprint, Request

from chalicelib import bootstrap
from chalicelib.adapters.tokens import (
    SigningKeysUnavailableError,
    TokenRejectedError,
    TokenVerifier,
)
from chalicelib.config import AUTH_MODE_OIDC
from chalicelib.domain.errors import ForbiddenError, UnauthorizedError
from chalicelib.domain.identity import Caller, Role, is_customer_id
from chalicelib.logs import logger

auth_blueprint = Blueprint(__name__)


class RejectedTokenError(Exception):
    """Raised from the authorizer: API Gateway answers exactly 'Unauthorized' with a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class ProviderUnavailableError(Exception):
    """Raised from the authorizer when no key can check the token now: the function fails
    and API Gateway answers 503 (its gateway response for a failed authorizer). The
    message is anything but 'Unauthorized', which API Gateway would answer with a 401."""

    def __init__(self) -> None:
        super().__init__("The identity provider's keys are unavailable")


class UsageAuthResponse(AuthResponse):
    """Chalice's AuthResponse plus API Gateway's ``usageIdentifierKey``, when there is one."""

    def __init__(
        self,
        routes: list[str | AuthRoute],
        principal_id: str,
        context: dict[str, str] | None = None,
        usage_identifier_key: str | None = None,
    ) -> None:
        super().__init__(routes, principal_id, context)
        self.usage_identifier_key = usage_identifier_key

    def to_dict(self, request: AuthRequest) -> dict[str, Any]:
        response = super().to_dict(request)
        if self.usage_identifier_key is not None:
            response["usageIdentifierKey"] = self.usage_identifier_key
        return response


@auth_blueprint.authorizer(ttl_seconds=0)
def jwt_authorizer(auth_request: AuthRequest) -> AuthResponse:
    container = bootstrap.container()
    return authorize(
        auth_request.token,
        container.token_verifier,
        container.settings.usage_keys,
        known_client_required=container.settings.auth_mode == AUTH_MODE_OIDC,
    )


def authorize(
    authorization: str,
    verifier: TokenVerifier,
    usage_keys: Mapping[str, str],
    *,
    known_client_required: bool,
) -> UsageAuthResponse:
    """Verify the bearer token and name the caller's usage plan; RejectedTokenError if not,
    ProviderUnavailableError when no key can check it now."""
    try:
        caller = verifier.verify(authorization)
    except TokenRejectedError:
        raise RejectedTokenError() from None
    except SigningKeysUnavailableError as error:
        logger.warning("identity provider keys unavailable", extra={"cause": str(error)})
        raise ProviderUnavailableError() from error
    if not is_customer_id(caller.id):
        # The subject is the caller's id everywhere (a customer's IS the customer id): one
        # the API could not take as a customer_id or assignee (too long, control characters,
        # lone surrogates) would break the keys it becomes (a 500), so it names no one.
        logger.warning("token subject is not a usable id", extra={"length": len(caller.id)})
        raise RejectedTokenError()
    usage_key = usage_keys.get(caller.client_id) if caller.client_id else None
    if usage_key is None and known_client_required:
        # A bank serves its own apps only: a client with no usage plan is refused, not
        # metered under a shared plan it could exhaust for others.
        logger.warning(
            "token of a client app with no usage plan", extra={"client_id": caller.client_id}
        )
        raise RejectedTokenError()
    return UsageAuthResponse(
        routes=["*"],
        principal_id=caller.id,
        context={
            "role": caller.role.value,
            "team": caller.team or "",
            **({"segment": caller.segment} if caller.segment else {}),
        },
        usage_identifier_key=usage_key,
    )


def current_caller(request: Request) -> Caller:
    """The caller the authorizer verified for this request."""

    context = (request.context or {}).get("authorizer") or {}
    role = context.get("role")
    principal = context.get("principalId")
    if not role or not principal:
        raise UnauthorizedError("No verified identity on this request")
    return Caller(
        role=Role(role),
        id=principal,
        team=context.get("team") or None,
        segment=context.get("segment") or None,
    )


def require_role(caller: Caller, allowed: Collection[str]) -> None:
    """403 unless the caller's role (a str enum) is one of `allowed`."""
    if caller.role not in allowed:
        raise ForbiddenError(f"The {caller.role.value} role may not do this")
