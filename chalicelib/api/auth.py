"""The API's built-in authorizer and the caller it vouches for.

The authorizer answers with an allow-all policy and a TTL of 0: no cached
decision can outlive a token's expiry or leak one route's policy onto another;
what a role may do is checked in the views.
"""

from __future__ import annotations

from collections.abc import Collection

from chalice.app import AuthRequest, AuthResponse, Blueprint, Request

from chalicelib import bootstrap
from chalicelib.adapters.tokens import TokenRejectedError
from chalicelib.domain.errors import ForbiddenError, UnauthorizedError
from chalicelib.domain.identity import Caller, Role

auth_blueprint = Blueprint(__name__)


class RejectedTokenError(Exception):
    """Raised from the authorizer: API Gateway answers exactly 'Unauthorized' with a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@auth_blueprint.authorizer(ttl_seconds=0)
def jwt_authorizer(auth_request: AuthRequest) -> AuthResponse:
    try:
        caller = bootstrap.container().token_verifier.verify(auth_request.token)
    except TokenRejectedError:
        raise RejectedTokenError() from None
    return AuthResponse(
        routes=["*"],
        principal_id=caller.id,
        context={"role": caller.role.value, "team": caller.team or ""},
    )


def current_caller(request: Request) -> Caller:
    """The caller the authorizer verified for this request."""

    context = (request.context or {}).get("authorizer") or {}
    role = context.get("role")
    principal = context.get("principalId")
    if not role or not principal:
        raise UnauthorizedError("No verified identity on this request")
    return Caller(role=Role(role), id=principal, team=context.get("team") or None)


def require_role(caller: Caller, allowed: Collection[str]) -> None:
    """403 unless the caller's role (a str enum) is one of `allowed`."""
    if caller.role not in allowed:
        raise ForbiddenError(f"The {caller.role.value} role may not do this")
