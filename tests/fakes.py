"""In-memory fakes of the service ports (the same contract tests run against the real adapters)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event
from chalicelib.domain.sla import next_due
from chalicelib.domain.ticket import PRIORITY_RANK, Ticket
from chalicelib.service.ports import (
    EventPage,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    IdSource,
    ListQuery,
    OpsAlert,
    OpsAlerter,
    Page,
    ReactionLedger,
    ReferenceTakenError,
    StartKey,
    TicketRepository,
    VersionConflictError,
)


class InMemoryTicketRepository(TicketRepository):
    """Keeps the same contract as the DynamoDB repository (tests/integration checks both)."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.references: dict[str, str] = {}
        self.event_log: dict[str, list[Event]] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.writes = 0

    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        if ticket.reference in self.references:
            raise ReferenceTakenError(ticket.reference)
        if ticket.id in self.tickets:
            raise ValueError("ticket exists")
        self._check_idempotency(idempotency)
        self.writes += 1
        self.tickets[ticket.id] = ticket
        self.references[ticket.reference] = ticket.id
        self.event_log.setdefault(ticket.id, []).extend(events)
        self._keep(idempotency)

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        current = self.tickets.get(ticket_id)
        if current is None or current.version != expected_version:
            raise VersionConflictError(ticket_id)
        self._check_idempotency(idempotency)
        self.writes += 1
        if changed is not None:
            self.tickets[ticket_id] = replace(changed, version=expected_version + 1)
        self.event_log.setdefault(ticket_id, []).extend(events)
        self._keep(idempotency)

    def _check_idempotency(self, record: IdempotencyRecord | None) -> None:
        if record is None:
            return
        held = self.idempotency.get((record.scope, record.key))
        if held is not None and held.expires_at > record.expires_at - timedelta(hours=24):
            raise IdempotencyKeyTakenError()

    def _keep(self, record: IdempotencyRecord | None) -> None:
        if record is not None:
            self.idempotency[(record.scope, record.key)] = record

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def events(self, ticket_id: str) -> list[Event]:
        return sorted(self.event_log.get(ticket_id, []), key=lambda event: event.id)

    def event_page(self, ticket_id: str, limit: int, start_key: StartKey | None) -> EventPage:
        events = self.events(ticket_id)
        if start_key is not None:
            events = [e for e in events if f"EVENT#{e.id}" > start_key["sk"]]
        page = events[:limit]
        more = len(events) > limit
        next_key = {"pk": f"TICKET#{ticket_id}", "sk": f"EVENT#{page[-1].id}"} if more else None
        return EventPage(page, next_key)

    def ticket_and_events(
        self, ticket_id: str, limit: int, start_key: StartKey | None
    ) -> tuple[Ticket | None, EventPage]:
        return self.get(ticket_id), self.event_page(ticket_id, limit, start_key)

    def query_tickets(self, query: ListQuery) -> Page:
        field_name = {"customer": "customer_id", "queue": "queue", "assignee": "assignee"}[
            query.index
        ]
        matches = [
            t
            for t in self.tickets.values()
            if getattr(t, field_name) == query.value and query.status in (None, t.status)
        ]
        matches.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        if query.start_key is not None:
            matches = [
                t
                for t in matches
                if f"TICKET#{t.id}" != query.start_key["pk"]
                and (t.created_at.isoformat(), t.id) < tuple(query.start_key["at"].split("|"))
            ]
        page = matches[: query.limit]
        more = len(matches) > query.limit
        next_key = None
        if more:
            last = page[-1]
            next_key = {"pk": f"TICKET#{last.id}", "at": f"{last.created_at.isoformat()}|{last.id}"}
        return Page(page, next_key)

    def by_reference(self, reference: str) -> Ticket | None:
        ticket_id = self.references.get(reference)
        return self.tickets.get(ticket_id) if ticket_id else None

    def claimable(self, queue: str, limit: int) -> list[Ticket]:
        open_unassigned = [
            t
            for t in self.tickets.values()
            if t.queue == queue and t.status in ("new", "assigned") and not t.assignee
        ]
        open_unassigned.sort(key=lambda t: (PRIORITY_RANK[t.priority], t.created_at, t.id))
        return open_unassigned[:limit]

    def due_tickets(self, now: datetime, limit: int) -> list[Ticket]:
        due = [(d, t) for t in self.tickets.values() if (d := next_due(t)) is not None and d <= now]
        return [t for _, t in sorted(due, key=lambda pair: (pair[0], pair[1].id))][:limit]

    def idempotency_record(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        record = self.idempotency.get((scope, key))
        return record if record is not None and record.expires_at > now else None


class InMemoryReactionLedger(ReactionLedger):
    def __init__(self) -> None:
        self.applied: set[tuple[str, str]] = set()
        self.counters: dict[CounterKey, int] = {}

    def apply_once(self, event_id: str, reaction: str, counters: Mapping[CounterKey, int]) -> bool:
        if (event_id, reaction) in self.applied:
            return False
        self.applied.add((event_id, reaction))
        for key, increment in counters.items():
            self.counters[key] = self.counters.get(key, 0) + increment
        return True

    def counter(self, key: CounterKey) -> int:
        return self.counters.get(key, 0)

    def release(self, event_id: str, reaction: str) -> None:
        self.applied.discard((event_id, reaction))


class RecordingOpsAlerter(OpsAlerter):
    def __init__(self, failures: int = 0) -> None:
        self.sent: list[OpsAlert] = []
        self.failures = failures

    def alert(self, alert: OpsAlert) -> str:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("ops-alerts unavailable")
        self.sent.append(alert)
        return f"msg-{len(self.sent)}"


class SequentialIds(IdSource):
    """Predictable ids; `references` lets a test force collisions."""

    def __init__(self, references: list[str] | None = None) -> None:
        self._numbers = itertools.count(1)
        self._references: Iterator[str] = iter(references or [])

    def ticket_id(self) -> str:
        return f"T-{next(self._numbers):026d}"

    def event_id(self) -> str:
        return f"E-{next(self._numbers):026d}"

    def reference(self) -> str:
        return next(self._references, None) or f"SD-{next(self._numbers):08d}"


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 27, 2, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
