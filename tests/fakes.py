"""In-memory fakes of the service ports (the same contract tests run against the real adapters)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from msgspec.structs import replace

from chalicelib.domain.appointments import upcoming
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.counters import CounterKey
from chalicelib.domain.errors import SlotFullError, TooManyAppointmentsError
from chalicelib.domain.events import Event
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.inbox import InboxItem
from chalicelib.domain.mail import MailThread
from chalicelib.domain.privacy import anonymized_response
from chalicelib.domain.sla import next_due
from chalicelib.domain.surveys import Answer, Survey, SurveyState
from chalicelib.domain.ticket import PRIORITY_RANK, Ticket, TicketRequest
from chalicelib.service.ports import (
    AppointmentStore,
    AuditLog,
    CounterReader,
    DeferredNotification,
    DeliveryClaim,
    DependencyUnavailableError,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    IdSource,
    InboxItemChangedError,
    InboxStore,
    ListQuery,
    MailSource,
    MailThreads,
    MetricsSink,
    NotificationError,
    NotificationStore,
    Notifier,
    OpsAlert,
    OpsAlerter,
    Page,
    PrivacyStore,
    ReactionLedger,
    ReferenceTakenError,
    Reminder,
    Seat,
    SeatMoves,
    StartKey,
    StoredMail,
    StoreThrottledError,
    SurveyStateChangedError,
    SurveyStore,
    SurveyWorkflow,
    TicketChange,
    TicketErasedError,
    TicketRepository,
    TicketWrite,
    VersionConflictError,
)


class InMemoryTicketRepository(TicketRepository):
    """Keeps the same contract as the DynamoDB repository (tests/integration checks both)."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.references: dict[str, str] = {}
        self.event_log: dict[str, list[Event]] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        # The stored responses each ticket's writes made (erasure drops them).
        self.stored_for: dict[str, set[tuple[str, str]]] = {}
        # The phone lookup: number hash -> {ticket id: customer id}, written with the ticket.
        self.phones: dict[str, dict[str, str]] = {}
        # The erasure markers: tickets anonymized by an erasure (InMemoryPrivacyStore).
        self.erased: set[str] = set()
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
        self._index_phone(ticket)
        self.event_log.setdefault(ticket.id, []).extend(events)
        self._keep(ticket.id, idempotency)

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
        self._keep(ticket_id, idempotency)

    def commit_many(
        self, writes: list[TicketWrite], idempotency: IdempotencyRecord | None = None
    ) -> None:
        for write in writes:  # every condition first: nothing is half-written
            if write.expected_version is None:
                assert write.changed is not None
                if write.changed.reference in self.references:
                    raise ReferenceTakenError(write.changed.reference)
            elif self._version(write.ticket_id) != write.expected_version:
                raise VersionConflictError(write.ticket_id)
        self._check_idempotency(idempotency)
        self.writes += 1
        for write in writes:
            if write.changed is not None:
                version = (write.expected_version or 0) + 1
                self.tickets[write.ticket_id] = replace(write.changed, version=version)
                self.references[write.changed.reference] = write.ticket_id
                if write.expected_version is None:
                    self._index_phone(write.changed)
            self.event_log.setdefault(write.ticket_id, []).extend(write.events)
        if writes:
            self._keep(writes[0].ticket_id, idempotency)

    def _index_phone(self, ticket: Ticket) -> None:
        if ticket.contact.phone:
            by_ticket = self.phones.setdefault(phone_key(ticket.contact.phone), {})
            by_ticket[ticket.id] = ticket.customer_id

    def customers_by_phone(self, key: str) -> list[str]:
        return sorted(set(self.phones.get(key, {}).values()))

    def forget_phone(self, key: str, ticket_id: str) -> None:
        self.phones.get(key, {}).pop(ticket_id, None)

    def _version(self, ticket_id: str) -> int | None:
        current = self.tickets.get(ticket_id)
        return current.version if current is not None else None

    def _check_idempotency(self, record: IdempotencyRecord | None) -> None:
        if record is None:
            return
        held = self.idempotency.get((record.scope, record.key))
        if held is not None and (record.written_at is None or held.expires_at > record.written_at):
            raise IdempotencyKeyTakenError()

    def _keep(self, ticket_id: str, record: IdempotencyRecord | None) -> None:
        if record is not None:
            self.idempotency[(record.scope, record.key)] = record
            self.stored_for.setdefault(ticket_id, set()).add((record.scope, record.key))

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def events(self, ticket_id: str) -> list[Event]:
        return sorted(self.event_log.get(ticket_id, []), key=lambda event: event.id)

    def event_page(self, ticket_id: str, limit: int, start_key: StartKey | None) -> Page[Event]:
        # The fake's own positions: the last event id read (opaque to the service).
        events = self.events(ticket_id)
        if start_key is not None:
            events = [e for e in events if e.id > start_key]
        page = events[:limit]
        more = len(events) > limit
        return Page(page, StartKey(page[-1].id) if more else None)

    def ticket_and_events(
        self, ticket_id: str, limit: int, start_key: StartKey | None
    ) -> tuple[Ticket | None, Page[Event]]:
        return self.get(ticket_id), self.event_page(ticket_id, limit, start_key)

    def query_tickets(self, query: ListQuery) -> Page[Ticket]:
        field_name = {"customer": "customer_id", "queue": "queue", "assignee": "assignee"}[
            query.index
        ]
        matches = [
            t
            for t in self.tickets.values()
            if getattr(t, field_name) == query.value and query.status in (None, t.status)
        ]
        matches.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        if query.start_key is not None:  # the fake's own positions: "<created at>|<id>"
            after = tuple(query.start_key.split("|"))
            matches = [t for t in matches if (t.created_at.isoformat(), t.id) < after]
        page = matches[: query.limit]
        more = len(matches) > query.limit
        next_key = None
        if more:
            last = page[-1]
            next_key = StartKey(f"{last.created_at.isoformat()}|{last.id}")
        return Page(page, next_key)

    def by_reference(self, reference: str) -> Ticket | None:
        ticket_id = self.references.get(reference)
        return self.tickets.get(ticket_id) if ticket_id else None

    def claimable(self, queue: str, limit: int) -> list[Ticket]:
        open_unassigned = [
            t
            for t in self.tickets.values()
            if t.queue == queue and t.status == "new" and not t.assignee
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
    def __init__(self, tickets: InMemoryTicketRepository | None = None) -> None:
        self.saved_preferences: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, DeliveryClaim] = {}
        self.waiting: dict[str, DeferredNotification] = {}
        # Which claims have their outcome (the claim item's outcome_id, gone with it).
        self.outcomes: dict[str, str] = {}
        # Where outcomes are written (the ticket's events): the notifier's repository.
        self.tickets = tickets

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

    def record_outcome(
        self, outcome: Event, state: str, now: datetime, *, unless_erased: bool = True
    ) -> bool:
        tickets = self.tickets
        if tickets is None:
            raise AssertionError("InMemoryNotificationStore(tickets) writes outcomes")
        source = str(outcome.data["source_event"])
        if source in self.outcomes and source in self.claims:
            return False  # the claim has its outcome already (an expired one: anew)
        if unless_erased and outcome.ticket_id in tickets.erased:  # the erasure's marker
            raise TicketErasedError(outcome.ticket_id)
        tickets.append_events([outcome])
        claim = self.claims.get(source) or DeliveryClaim(source, state, now)  # expired: anew
        self.claims[source] = replace(claim, state=state)
        self.outcomes[source] = outcome.id
        return True

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
    thread: MailThread | None = None


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

    def send_email(
        self, address: str, subject: str, text: str, html: str, thread: MailThread | None = None
    ) -> str:
        self._maybe_fail()
        self.sent.append(SentMessage("email", address, text, subject, thread))
        return f"email-{len(self.sent)}"

    def sms_opted_out(self, phone: str) -> bool:
        return phone in self.opted_out


class InMemorySurveyStore(SurveyStore):
    """Same contract as DynamoSurveyStore (the integration tests run the real one)."""

    def __init__(self, tickets: InMemoryTicketRepository) -> None:
        self.tickets = tickets
        self.surveys: dict[str, Survey] = {}
        self.codes: dict[str, str] = {}
        self.comments: dict[str, str] = {}
        self.answered_at: dict[str, datetime] = {}

    def create(self, survey: Survey) -> bool:
        if survey.id in self.surveys:
            return False
        self.surveys[survey.id] = survey
        return True

    def get(self, survey_id: str) -> Survey | None:
        return self.surveys.get(survey_id)

    def by_code(self, digest: str) -> Survey | None:
        survey_id = self.codes.get(digest)
        return self.surveys.get(survey_id) if survey_id else None

    def last_answered(self, customer_id: str) -> datetime | None:
        return self.answered_at.get(customer_id)

    def forget_cooldown(self, customer_id: str) -> None:
        self.answered_at.pop(customer_id, None)

    def add_code(self, survey_id: str, digest: str, at: datetime) -> None:
        self.codes[digest] = survey_id

    def record_round(self, survey: Survey, round_number: int, event: Event) -> bool:
        current = self.surveys[survey.id]
        expected = SurveyState.INVITED if round_number == 1 else SurveyState.REMINDED
        if current.state is not expected or round_number in current.rounds:
            return False
        self.surveys[survey.id] = replace(current, rounds=current.rounds | {round_number})
        self.tickets.append_events([event])
        return True

    def answer(
        self,
        survey: Survey,
        answer: Answer,
        at: datetime,
        events: list[Event],
        ticket: TicketChange | None,
    ) -> None:
        current = self.surveys[survey.id]
        if current.state not in (SurveyState.INVITED, SurveyState.REMINDED):
            raise SurveyStateChangedError(survey.id)
        self._write(events, ticket)
        self.surveys[survey.id] = replace(
            current, state=SurveyState.ANSWERED, score=answer.score, answered_at=at
        )
        if answer.comment:
            self.comments[survey.id] = answer.comment
        self.answered_at[survey.customer_id] = at

    def settle_expiry(
        self, survey: Survey, events: list[Event], ticket: TicketChange | None
    ) -> bool:
        current = self.surveys[survey.id]
        if current.state is not SurveyState.EXPIRED or current.settled:
            return False
        self._write(events, ticket)
        self.surveys[survey.id] = replace(current, settled=True)
        return True

    def _write(self, events: list[Event], ticket: TicketChange | None) -> None:
        if ticket is not None:
            stored = self.tickets.tickets.get(ticket.ticket.id)
            if stored is None or stored.version != ticket.expected_version:
                raise VersionConflictError(ticket.ticket.id)
            self.tickets.tickets[ticket.ticket.id] = ticket.ticket
        self.tickets.append_events(events)

    def withdraw(self, survey_id: str) -> bool:
        current = self.surveys.get(survey_id)
        if current is None or current.state not in (
            SurveyState.PENDING,
            SurveyState.INVITED,
            SurveyState.REMINDED,
        ):
            return False
        self.surveys[survey_id] = replace(current, state=SurveyState.WITHDRAWN)
        return True

    def move(self, survey_id: str, state: SurveyState, token: str | None = None) -> Survey:
        """What the state machine does: set the state (and the task token)."""
        current = self.surveys[survey_id]
        moved = replace(current, state=state, task_token=token or current.task_token)
        self.surveys[survey_id] = moved
        return moved


class RecordingWorkflow(SurveyWorkflow):
    def __init__(self, failures: int = 0) -> None:
        self.started: dict[str, dict[str, Any]] = {}
        self.starts = 0
        self.stopped: list[str] = []
        self.answered_tokens: list[str] = []
        self.failures = failures

    def start(self, name: str, payload: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("states throttled")
        self.starts += 1
        self.started.setdefault(name, payload)

    def stop(self, name: str) -> None:
        self.stopped.append(name)

    def answered(self, task_token: str) -> None:
        self.answered_tokens.append(task_token)


# --- reports, audit, privacy ----------------------------------------------------------------------


class InMemoryCounterReader(CounterReader):
    """Reads the fake ledger's counters the way the table is queried: one family, a slot range."""

    def __init__(self, ledger: InMemoryReactionLedger) -> None:
        self.ledger = ledger
        self.queries: list[str] = []

    def slots(self, family: str, first: str, last: str) -> list[tuple[str, int]]:
        self.queries.append(family)
        found = [
            (key.slot, total)
            for key, total in self.ledger.counters.items()
            if key.family == family and first <= key.slot <= last
        ]
        return sorted(found)


class InMemoryAuditLog(AuditLog):
    def __init__(self) -> None:
        self.entries: dict[str, tuple[AuditEntry, int]] = {}
        self.batches: list[int] = []  # entries per BatchWriteItem call
        self.refusing = False  # True: the store keeps refusing batches (throttled)

    def record(self, entry: AuditEntry, expires_at: int) -> None:
        self.entries[entry.id] = (entry, expires_at)

    def record_many(self, entries: list[AuditEntry], expires_at: int) -> None:
        if self.refusing:
            raise StoreThrottledError()
        for start in range(0, len(entries), 25):
            chunk = entries[start : start + 25]
            self.batches.append(len(chunk))
            for entry in chunk:
                self.record(entry, expires_at)

    def page(self, by: str, value: str, limit: int, start_key: StartKey | None) -> Page[AuditEntry]:
        matches = [
            entry
            for entry, _ in self.entries.values()
            if (entry.ticket_id if by == "ticket" else entry.actor.id) == value
        ]
        matches.sort(key=lambda entry: (entry.at, entry.id), reverse=True)
        if start_key is not None:  # the fake's own positions: "<at>#<entry id>"
            matches = [e for e in matches if f"{e.at.isoformat()}#{e.id}" < start_key]
        page = matches[:limit]
        more = len(matches) > limit
        next_key = StartKey(f"{page[-1].at.isoformat()}#{page[-1].id}") if more else None
        return Page(page, next_key)


class InMemoryPrivacyStore(PrivacyStore):
    def __init__(
        self, repository: InMemoryTicketRepository, notifications: InMemoryNotificationStore
    ) -> None:
        self.repository = repository
        self.notifications = notifications
        self.expiries: dict[str, int] = {}
        self.event_expiries: dict[str, int] = {}  # events stamped one by one (late outcomes)
        self.forgotten_survey_comments: list[str] = []

    def anonymize_ticket(
        self, expected_version: int, changed: Ticket, rewritten: list[Event], added: list[Event]
    ) -> None:
        repository = self.repository
        current = repository.tickets.get(changed.id)
        if current is None or current.version != expected_version:
            raise VersionConflictError(changed.id)
        by_id = {event.id: event for event in rewritten}
        log = repository.event_log.get(changed.id, [])
        repository.event_log[changed.id] = [by_id.get(e.id, e) for e in log] + list(added)
        repository.tickets[changed.id] = changed
        repository.erased.add(changed.id)
        for key in repository.stored_for.get(changed.id, set()):
            record = repository.idempotency.get(key)
            if record is not None:
                repository.idempotency[key] = replace(record, body=anonymized_response(record.body))

    def anonymize_records(
        self, ticket_id: str, expected_version: int, rewritten: list[Event]
    ) -> None:
        current = self.repository.tickets.get(ticket_id)
        if current is None or current.version != expected_version:
            raise VersionConflictError(ticket_id)
        by_id = {event.id: event for event in rewritten}
        log = self.repository.event_log.get(ticket_id, [])
        self.repository.event_log[ticket_id] = [by_id.get(e.id, e) for e in log]

    def forget_preferences(self, customer_id: str) -> bool:
        return self.notifications.saved_preferences.pop(customer_id, None) is not None

    def expire_ticket_records(self, ticket_id: str, expires_at: int) -> None:
        self.expiries[ticket_id] = expires_at

    def expire_event(self, event: Event, expires_at: int) -> None:
        self.event_expiries[event.id] = expires_at

    def forget_survey_comment(self, survey_id: str) -> None:
        self.forgotten_survey_comments.append(survey_id)


class RecordingMetrics(MetricsSink):
    def __init__(self) -> None:
        self.points: list[tuple[str, dict[str, str], float]] = []

    def count(self, name: str, dimensions: Mapping[str, str], value: float = 1.0) -> None:
        self.points.append((name, dict(dimensions), value))


class InMemoryAppointmentStore(AppointmentStore):
    """Seats, guards and reminders in dicts; tickets go to the in-memory repository.

    Every check runs before anything is written, so a refused write changes nothing.
    """

    def __init__(
        self, tickets: InMemoryTicketRepository, branches: list[dict[str, Any]] | None = None
    ) -> None:
        self.tickets = tickets
        self.branch_records = {record["id"]: record for record in branches or []}
        self.seats: dict[tuple[str, str, datetime], int] = {}
        # customer -> ticket id -> slot start: the appointments holding a seat
        self.holds: dict[str, dict[str, datetime]] = {}
        self.reminders: dict[tuple[datetime, str], Reminder] = {}

    @property
    def open_counts(self) -> dict[str, int]:
        """How many appointments each customer holds a seat for (passed slots included
        until their next booking drops them, as on the table)."""
        return {customer: len(held) for customer, held in self.holds.items()}

    def branches(self) -> list[dict[str, Any]]:
        return list(self.branch_records.values())

    def branch(self, branch_id: str) -> dict[str, Any] | None:
        return self.branch_records.get(branch_id)

    def seats_taken(self, branch_id: str, day: str) -> dict[datetime, int]:
        return {
            start: taken
            for (branch, seat_day, start), taken in self.seats.items()
            if (branch, seat_day) == (branch_id, day)
        }

    def _seat_key(self, seat: Seat) -> tuple[str, str, datetime]:
        return seat.branch_id, seat.day, seat.start.astimezone(UTC)

    def _check(self, ticket: Ticket, moves: SeatMoves, at: datetime) -> None:
        if moves.take is not None and self.seats.get(self._seat_key(moves.take), 0) >= (
            moves.take.capacity
        ):
            raise SlotFullError("full")
        held = self.holds.get(ticket.customer_id, {})
        if moves.take is not None and upcoming(held, at, besides=ticket.id) >= 3:
            raise TooManyAppointmentsError("too many")

    def _apply(self, ticket: Ticket, moves: SeatMoves, at: datetime) -> None:
        held = self.holds.setdefault(ticket.customer_id, {})
        if moves.release is not None:
            key = self._seat_key(moves.release)
            self.seats[key] = self.seats.get(key, 0) - 1
            held.pop(ticket.id, None)
        if moves.take is not None:
            key = self._seat_key(moves.take)
            self.seats[key] = self.seats.get(key, 0) + 1
            for passed in [held_id for held_id, start in held.items() if start <= at]:
                del held[passed]
            held[ticket.id] = moves.take.start.astimezone(UTC)
        if moves.forget is not None:
            self.reminders.pop((moves.forget.slot_start, moves.forget.ticket_id), None)
        if moves.remember is not None:
            reminder = moves.remember
            self.reminders[(reminder.slot_start, reminder.ticket_id)] = reminder

    def book(
        self,
        ticket: Ticket,
        events: list[Event],
        seat: Seat,
        reminder: Reminder,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        moves = SeatMoves(take=seat, remember=reminder)
        self._check(ticket, moves, ticket.created_at)
        self.tickets.create(ticket, events, idempotency)
        self._apply(ticket, moves, ticket.created_at)

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket,
        events: list[Event],
        moves: SeatMoves,
    ) -> None:
        # One transaction: this ticket, its seat moves and the other tickets it names.
        writes = [TicketWrite(ticket_id, expected_version, changed, events), *moves.also]
        for write in writes:
            current = self.tickets.tickets.get(write.ticket_id)
            if current is None or current.version != write.expected_version:
                raise VersionConflictError(write.ticket_id)
        self._check(changed, moves, changed.updated_at)
        self.tickets.commit_many(writes)
        self._apply(changed, moves, changed.updated_at)

    def reminders_due(self, slot_until: datetime, limit: int) -> list[Reminder]:
        due = sorted(key for key in self.reminders if key[0] <= slot_until)
        return [self.reminders[key] for key in due[:limit]]

    def remind(self, reminder: Reminder, event: Event) -> bool:
        if self.reminders.pop((reminder.slot_start, reminder.ticket_id), None) is None:
            return False
        self.tickets.event_log.setdefault(event.ticket_id, []).append(event)
        return True

    def forget(self, reminder: Reminder) -> None:
        self.reminders.pop((reminder.slot_start, reminder.ticket_id), None)


# Fault injection: the same fakes, refusing a number of calls the way the provider would.
# Step Functions: RecordingWorkflow(failures=n) above refuses its first n starts.


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


class ThrottlingAppointmentStore(InMemoryAppointmentStore):
    """The booking transaction refused for capacity `throttled` times (nothing written)."""

    def __init__(
        self,
        tickets: InMemoryTicketRepository,
        branches: list[dict[str, Any]] | None = None,
        throttled: int = 0,
    ) -> None:
        super().__init__(tickets, branches)
        self.throttled = throttled
        self.refused = 0

    def book(
        self,
        ticket: Ticket,
        events: list[Event],
        seat: Seat,
        reminder: Reminder,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        if self.throttled:
            self.throttled -= 1
            self.refused += 1
            raise StoreThrottledError()
        super().book(ticket, events, seat, reminder, idempotency)


class InMemoryInboxStore(InboxStore):
    """The triage inbox on the in-memory ticket repository (same contract as Dynamo's)."""

    def __init__(self, tickets: InMemoryTicketRepository) -> None:
        self.items: dict[str, InboxItem] = {}
        self._tickets = tickets

    def put(self, item: InboxItem) -> bool:
        if item.id in self.items:
            return False
        self.items[item.id] = item
        return True

    def get(self, item_id: str) -> InboxItem | None:
        return self.items.get(item_id)

    def page(self, status: str, limit: int, start_key: StartKey | None) -> Page[InboxItem]:
        shown = sorted(
            (i for i in self.items.values() if i.status == status),
            key=lambda i: (i.received_at, i.id),
            reverse=True,
        )
        start = int(start_key or 0)
        rest = shown[start : start + limit]
        more = start + limit < len(shown)
        return Page(rest, StartKey(str(start + limit)) if more else None)

    def settle(
        self,
        handled: InboxItem,
        expected_version: int,
        *,
        new_ticket: Ticket | None = None,
        change: TicketChange | None = None,
        events: list[Event] | None = None,
    ) -> None:
        current = self.items.get(handled.id)
        if current is None or current.version != expected_version:
            raise InboxItemChangedError(handled.id)
        if new_ticket is not None:
            self._tickets.create(new_ticket, events or [])
        elif change is not None:
            unchanged = change.ticket.version == change.expected_version
            self._tickets.commit(
                change.ticket.id,
                change.expected_version,
                None if unchanged else change.ticket,
                events or [],
            )
        self.items[handled.id] = handled


class InMemoryMailThreads(MailThreads):
    def __init__(self, tickets: InMemoryTicketRepository) -> None:
        self._tickets = tickets
        self.sent: dict[str, str] = {}
        self.threads: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.receipts: dict[str, str] = {}  # receipt -> the ticket it went to

    def remember_sent(self, ses_message_id: str, ticket_id: str, at: datetime) -> None:
        self.sent[ses_message_id] = ticket_id

    def ticket_of_sent(self, ses_message_ids: tuple[str, ...]) -> str | None:
        return next((self.sent[i] for i in ses_message_ids if i in self.sent), None)

    def thread(self, ticket_id: str) -> tuple[str, tuple[str, ...]] | None:
        return self.threads.get(ticket_id)

    def remember_received(
        self, ticket_id: str, message_id: str, references: tuple[str, ...]
    ) -> None:
        self.threads[ticket_id] = (message_id, tuple(reversed(references)))

    def customer_of_sender(self, address: str) -> str | None:
        for ticket in sorted(self._tickets.tickets.values(), key=lambda t: t.created_at):
            if ticket.contact.email and ticket.contact.email.lower() == address.lower():
                return ticket.customer_id
        return None

    def receive(
        self,
        receipt: str,
        *,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
    ) -> bool:
        if receipt in self.receipts:
            return False
        self._tickets.commit(ticket_id, expected_version, changed, events)
        self.receipts[receipt] = ticket_id
        return True

    def receive_new(self, receipt: str, *, ticket: Ticket, events: list[Event]) -> bool:
        if receipt in self.receipts:
            return False
        self._tickets.create(ticket, events)
        self.receipts[receipt] = ticket.id
        return True

    def taken_by(self, receipt: str) -> str | None:
        return self.receipts.get(receipt)


class StoredMails(MailSource):
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.unavailable = False  # S3 out of reach, as the adapter reports it

    def read(self, bucket: str, key: str) -> StoredMail | None:
        if self.unavailable:
            raise DependencyUnavailableError("S3 GetObject: SlowDown")
        raw = self.objects.get((bucket, key))
        if raw is None:
            return None
        return StoredMail(key=key, size=len(raw), raw=raw[: 10 * 1024 * 1024 + 1])


def card_request(contact: Any = None, **changes: Any) -> TicketRequest:
    """The tests' usual request: a mobile consultation about a blocked card."""
    fields: dict[str, Any] = {
        "channel": "mobile",
        "kind": "consultation",
        "category": "card",
        "subject": "Card blocked",
        "description": "",
        "contact": contact,
    }
    return TicketRequest(**(fields | changes))


class AlwaysWorking:
    """A calendar where every minute is working time: due times are plain arithmetic."""

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return end - start
