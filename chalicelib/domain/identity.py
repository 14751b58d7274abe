"""Who is calling: roles from SPEC section 3."""

from __future__ import annotations

import re
from enum import StrEnum

import msgspec


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    SYSTEM = "system"


GROUP_ROLES: dict[str, Role] = {
    "customers": Role.CUSTOMER,
    "agents": Role.AGENT,
    "supervisors": Role.SUPERVISOR,
    "auditors": Role.AUDITOR,
}

STAFF_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR})
WORKING_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})


class AmbiguousRoleError(ValueError):
    """A token whose groups name more than one role we cannot rank."""


def role_from_groups(groups: list[str]) -> Role | None:
    """The one role a token's groups grant, or None when no known group is present.

    A supervisor is often also in the agents group: the supervisor role wins.
    Any other mix (a customer who is also staff, an auditor who also works
    tickets) is refused rather than guessed.
    """
    roles = {GROUP_ROLES[group] for group in groups if group in GROUP_ROLES}
    if roles == {Role.AGENT, Role.SUPERVISOR}:
        return Role.SUPERVISOR
    if len(roles) > 1:
        raise AmbiguousRoleError("token names more than one role")
    return next(iter(roles), None)


class Caller(msgspec.Struct, frozen=True):
    role: Role
    id: str
    team: str | None = None
    # The OAuth client app the token was issued to (its usage plan); None when unknown.
    client_id: str | None = None
    # A customer's own `custom:segment` claim (standard|priority|private); None when absent.
    segment: str | None = None

    @property
    def is_customer(self) -> bool:
        return self.role is Role.CUSTOMER

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES or self.role is Role.SYSTEM


SYSTEM = Caller(role=Role.SYSTEM, id="system")
# A customer id as the API takes it (the IdP's subject): single line, no control characters.
CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")


def is_customer_id(value: str) -> bool:
    return CUSTOMER_ID.fullmatch(value) is not None


# Never in an id a client names (SPEC 5: single-line fields refuse control characters):
# C0 controls (TAB, LF and CR too), DEL, C1 controls, line and paragraph separators, lone
# surrogates.
_NOT_IN_AN_ID = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
MAX_ID = 128
ID_RULE = f"must be 1-{MAX_ID} characters on one line, with no control characters"


def is_id_text(value: str) -> bool:
    """An id parameter (customer, queue, staff member, reference, actor) fit to look up."""
    return 0 < len(value) <= MAX_ID and _NOT_IN_AN_ID.search(value) is None
