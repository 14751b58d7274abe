"""The audit log: staff reads recorded by the API, staff writes from the stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from chalicelib.domain.audit import LIST_INBOX, LIST_TICKETS, AuditEntry, entry_for_event
from chalicelib.domain.errors import FieldError, ForbiddenError, ThrottledError, ValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import ID_RULE, STAFF_ROLES, Caller, Role, is_id_text
from chalicelib.domain.privacy import DEFAULT_RETENTION, retention_expiry
from chalicelib.service.ports import (
    AuditLog,
    Clock,
    IdSource,
    Page,
    StartKey,
    StoreThrottledError,
)


class AuditPorts(msgspec.Struct, frozen=True):
    log: AuditLog
    ids: IdSource
    clock: Clock
    retention: timedelta = DEFAULT_RETENTION


def record_read(
    ports: AuditPorts,
    caller: Caller,
    action: str,
    *,
    ticket_id: str | None = None,
    customer_id: str | None = None,
    inbox_id: str | None = None,
) -> None:
    """Record what a staff member read (customers reading their own tickets are not audited).

    One PutItem; written before the data goes out, so no read escapes the log.
    """
    if caller.role not in STAFF_ROLES:
        return
    now = ports.clock()
    entry = AuditEntry(
        ports.ids.event_id(), now, caller, action, ticket_id, customer_id, inbox_id=inbox_id
    )
    ports.log.record(entry, retention_expiry(now, ports.retention))


def record_list_read(
    ports: AuditPorts,
    caller: Caller,
    ticket_ids: Sequence[str],
    query: Mapping[str, str],
) -> None:
    """Record a staff list read as a read of every ticket it returns (SPEC 10).

    One entry per ticket, each carrying the query's filters (ids and statuses only),
    so `GET /v1/audit?ticket_id=` shows who saw the ticket in a list. A page with no
    ticket still records the query (by actor). Written before the page goes out: if
    the log refuses the entries, the caller gets a 429 and no data.
    """
    if caller.role not in STAFF_ROLES:
        return
    now = ports.clock()
    customer_id, filters = query.get("customer_id"), dict(query)
    targets: list[str | None] = [*ticket_ids] or [None]
    entries = [
        AuditEntry(ports.ids.event_id(), now, caller, LIST_TICKETS, target, customer_id, filters)
        for target in targets
    ]
    _record_many(ports, entries, now)


def record_inbox_list_read(
    ports: AuditPorts, caller: Caller, shown: Sequence[tuple[str, str | None]], status: str
) -> None:
    """A staff list of the triage inbox is a read of every message it shows (their
    senders, masked, and subjects): one entry per (item id, ticket id), with the status
    asked for, written before the page goes out. A page with no message reads nothing."""
    if caller.role not in STAFF_ROLES or not shown:
        return
    now = ports.clock()
    query = {"status": status}
    entries = [
        AuditEntry(ports.ids.event_id(), now, caller, LIST_INBOX, ticket, None, query, item)
        for item, ticket in shown
    ]
    _record_many(ports, entries, now)


def _record_many(ports: AuditPorts, entries: list[AuditEntry], now: datetime) -> None:
    try:
        ports.log.record_many(entries, retention_expiry(now, ports.retention))
    except StoreThrottledError as error:
        raise ThrottledError("The audit log is busy; nothing was shown. Retry shortly.") from error


def record_write(event: Event, log: AuditLog, retention: timedelta) -> None:
    """The audit entry of a staff write, from its event (idempotent by event id)."""
    entry = entry_for_event(event)
    if entry is not None:
        log.record(entry, retention_expiry(event.at, retention))


def audit_query(caller: Caller, ticket_id: str | None, actor: str | None) -> tuple[str, str]:
    """Auditors only (403), then exactly one of ticket_id and actor (400)."""
    if caller.role is not Role.AUDITOR:
        raise ForbiddenError(f"The {caller.role.value} role may not read the audit log")
    named = {n: v for n, v in (("ticket_id", ticket_id), ("actor", actor)) if v is not None}
    if len(named) != 1:
        raise ValidationError([FieldError("query", "give exactly one of ticket_id, actor")])
    [(name, value)] = named.items()
    if not is_id_text(value):
        raise ValidationError([FieldError(name, ID_RULE)])
    return ("ticket" if name == "ticket_id" else "actor"), value


def audit_page(
    ports: AuditPorts, by: str, value: str, limit: int, start_key: StartKey | None
) -> Page[AuditEntry]:
    """Entries newest first, by ticket or by actor."""
    return ports.log.page(by, value, limit, start_key)
