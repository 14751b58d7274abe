"""In-memory fakes of the service ports (the same contract tests run against the real adapters)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event
from chalicelib.domain.sla import next_due
from chalicelib.domain.ticket import PRIORITY_RANK, Ticket
from chalicelib.service.ports import (
    DeferredNotification,
    DeliveryClaim,
    EventPage,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    IdSource,
    ListQuery,
    NotificationError,
    NotificationStore,
    Notifier,
    OpsAlert,
    OpsAlerter,
    Page,
    ReactionLedger,
    ReferenceTakenError,
    StartKey,
    StoreThrottledError,
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

    def event(self, ticket_id: str, event_id: str) -> Event | None:
        return next((e for e in self.event_log.get(ticket_id, []) if e.id == event_id), None)

    def append_events(self, events: list[Event]) -> None:
        for event in events:
            known = self.event_log.setdefault(event.ticket_id, [])
            if all(e.id != event.id for e in known):
                known.append(event)

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


class InMemoryNotificationStore(NotificationStore):
    def __init__(self) -> None:
        self.saved_preferences: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, DeliveryClaim] = {}
        self.waiting: dict[str, DeferredNotification] = {}

    def preferences(self, customer_id: str) -> dict[str, Any] | None:
        return self.saved_preferences.get(customer_id)

    def save_preferences(self, customer_id: str, preferences: dict[str, Any]) -> None:
        self.saved_preferences[customer_id] = dict(preferences)

    def claim_delivery(self, event_id: str, now: datetime) -> DeliveryClaim | None:
        if event_id in self.claims:
            return None
        self.claims[event_id] = DeliveryClaim(event_id, "pending", now)
        return self.claims[event_id]

    def delivery(self, event_id: str) -> DeliveryClaim | None:
        return self.claims.get(event_id)

    def settle_delivery(self, event_id: str, state: str, now: datetime) -> None:
        self.claims[event_id] = replace(self.claims[event_id], state=state)

    def resume_deferred(self, event_id: str, now: datetime) -> bool:
        claim = self.claims.get(event_id)
        if claim is None or claim.state != "deferred":
            return False
        self.claims[event_id] = replace(claim, state="pending", claimed_at=now)
        return True

    def defer(self, notice: DeferredNotification) -> None:
        self.waiting[notice.event_id] = notice

    def deferred_due(self, now: datetime, limit: int) -> list[DeferredNotification]:
        due = [n for n in self.waiting.values() if n.send_at <= now]
        return sorted(due, key=lambda n: (n.send_at, n.event_id))[:limit]

    def forget_deferred(self, notice: DeferredNotification) -> None:
        self.waiting.pop(notice.event_id, None)


@dataclass
class SentMessage:
    channel: str
    to: str
    text: str
    subject: str | None = None


class RecordingNotifier(Notifier):
    """Records what would be sent; can fail a number of times, or always, or opt numbers out."""

    def __init__(
        self, failures: int = 0, *, retryable: bool = True, opted_out: frozenset[str] = frozenset()
    ) -> None:
        self.sent: list[SentMessage] = []
        self.failures = failures
        self.retryable = retryable
        self.opted_out = opted_out
        self.attempts = 0

    def _maybe_fail(self) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise NotificationError("Throttling", retryable=self.retryable)

    def send_sms(self, phone: str, text: str) -> str:
        self._maybe_fail()
        self.sent.append(SentMessage("sms", phone, text))
        return f"sms-{len(self.sent)}"

    def send_email(self, address: str, subject: str, text: str, html: str) -> str:
        self._maybe_fail()
        self.sent.append(SentMessage("email", address, text, subject))
        return f"email-{len(self.sent)}"

    def sms_opted_out(self, phone: str) -> bool:
        return phone in self.opted_out


# Fault injection: the same fakes, refusing a number of calls the way the provider would.
# Step Functions (the survey starter, issue 5) gets its twin here when its adapter lands:
# a recording starter whose start_execution is throttled `failures` times.


class ThrottlingTicketRepository(InMemoryTicketRepository):
    """DynamoDB refusing the next `throttled` writes for capacity (after the SDK's retries)."""

    def __init__(self, throttled: int = 0) -> None:
        super().__init__()
        self.throttled = throttled
        self.refused = 0

    def _maybe_refuse(self) -> None:
        if self.throttled:
            self.throttled -= 1
            self.refused += 1
            raise StoreThrottledError()

    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        self._maybe_refuse()
        super().create(ticket, events, idempotency)

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        self._maybe_refuse()
        super().commit(ticket_id, expected_version, changed, events, idempotency)


class ThrottlingReactionLedger(InMemoryReactionLedger):
    """The reaction ledger's transaction refused for capacity `throttled` times."""

    def __init__(self, throttled: int = 0) -> None:
        super().__init__()
        self.throttled = throttled

    def apply_once(self, event_id: str, reaction: str, counters: Mapping[CounterKey, int]) -> bool:
        if self.throttled:
            self.throttled -= 1
            raise StoreThrottledError()
        return super().apply_once(event_id, reaction, counters)
