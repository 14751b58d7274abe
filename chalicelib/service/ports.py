"""Ports the use cases need. Real adapters and in-memory fakes implement them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, NewType, Protocol, TypeVar

import msgspec

from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.counters import CounterKey
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.inbound_sms import InboundSms
from chalicelib.domain.inbox import InboxItem, TriageReason
from chalicelib.domain.mail import MailThread
from chalicelib.domain.surveys import Answer, Survey
from chalicelib.domain.ticket import Ticket

Clock = Callable[[], datetime]
# Where the next page starts: a token only the store that issued it can read. The API
# signs it into a cursor; nothing above the adapters looks inside.
StartKey = NewType("StartKey", str)


class UnknownPositionError(ValidationError):
    """A page position the store did not issue (refused before it reaches the store)."""

    def __init__(self) -> None:
        super().__init__([FieldError("cursor", "is not a cursor this API issued")])


class ReferenceTakenError(Exception):
    """The short reference collided with an existing one; draw another."""


class VersionConflictError(Exception):
    """The ticket changed since it was read (optimistic lock lost)."""


class IdempotencyKeyTakenError(Exception):
    """A live record already holds this idempotency key."""


class TransactionConflictError(Exception):
    """Another transaction touched the same items at the same moment; retry later."""


class StoreThrottledError(Exception):
    """The store refused a write for capacity, after the SDK's own retries; nothing written."""


class DependencyUnavailableError(Exception):
    """An AWS service the desk needs (the table, the secret store) failed or could not be
    reached (5xx, connection or read timeout), after the SDK's own retries. A write that
    failed so is never half-written (one transaction); retry later."""


class IdempotencyRecord(msgspec.Struct, frozen=True):
    """The first successful response to a request carrying an Idempotency-Key."""

    scope: str
    key: str
    fingerprint: str
    status: int
    body: str
    headers: dict[str, str]
    expires_at: datetime
    # When the record is written: a record expired by then counts as absent. None on a
    # record read back from the store.
    written_at: datetime | None = None


ItemT = TypeVar("ItemT")


class Page(msgspec.Struct, Generic[ItemT], frozen=True):
    """One page of a list a store answers (tickets, timeline events, audit entries, inbox
    items), and where the next one starts (None: this is the last)."""

    items: list[ItemT]
    next_key: StartKey | None


class ListQuery(msgspec.Struct, frozen=True):
    """One list access pattern: an index, its partition value, optional status."""

    index: str  # customer | queue | assignee
    value: str
    status: str | None = None
    limit: int = 20
    start_key: StartKey | None = msgspec.field(default=None)


class TicketWrite(msgspec.Struct, frozen=True):
    """One ticket's part of a write that spans tickets (a review, a merge)."""

    ticket_id: str
    # None: a new ticket (written with its reference claim); else the version it must be at.
    expected_version: int | None
    changed: Ticket | None  # None: a timeline-only change (the ticket is checked)
    events: list[Event]


class TicketRepository(ABC):
    @abstractmethod
    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        """Write the ticket, its reference claim, its events (and idempotency record) at once.

        Raises ReferenceTakenError or IdempotencyKeyTakenError; nothing is half-written.
        """

    @abstractmethod
    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Write a change in one transaction, only if the ticket is still at expected_version.

        `changed` None means a timeline-only change: the ticket is checked, not written.
        Raises VersionConflictError, IdempotencyKeyTakenError or TransactionConflictError.
        """

    @abstractmethod
    def commit_many(
        self, writes: list[TicketWrite], idempotency: IdempotencyRecord | None = None
    ) -> None:
        """Write several tickets' changes in one transaction, each only if still at its
        expected version (a new one only if its reference is free).

        Raises VersionConflictError (naming the ticket), ReferenceTakenError,
        IdempotencyKeyTakenError or TransactionConflictError; nothing is half-written.
        """

    @abstractmethod
    def get(self, ticket_id: str) -> Ticket | None: ...

    @abstractmethod
    def events(self, ticket_id: str) -> list[Event]: ...

    @abstractmethod
    def event_page(self, ticket_id: str, limit: int, start_key: StartKey | None) -> Page[Event]: ...

    @abstractmethod
    def ticket_and_events(
        self, ticket_id: str, limit: int, start_key: StartKey | None
    ) -> tuple[Ticket | None, Page[Event]]:
        """The ticket and a page of its events (on the first page, in one read)."""

    @abstractmethod
    def query_tickets(self, query: ListQuery) -> Page[Ticket]: ...

    @abstractmethod
    def by_reference(self, reference: str) -> Ticket | None: ...

    @abstractmethod
    def claimable(self, queue: str, limit: int) -> list[Ticket]:
        """Unassigned tickets of a queue, most urgent first, then oldest."""

    @abstractmethod
    def event(self, ticket_id: str, event_id: str) -> Event | None: ...

    @abstractmethod
    def append_events(self, events: list[Event]) -> None:
        """Timeline-only entries (notification records): no version change, each written once."""

    @abstractmethod
    def customers_by_phone(self, phone_key: str) -> list[str]:
        """Every customer with a ticket whose contact uses this number (`phone_key`: its
        SHA-256, domain/inbound_sms.phone_key); the entries are written with the ticket."""

    @abstractmethod
    def forget_phone(self, phone_key: str, ticket_id: str) -> None:
        """Drop the ticket's entry under its number (erasure); gone already: fine."""

    @abstractmethod
    def due_tickets(self, now: datetime, limit: int) -> list[Ticket]:
        """Open tickets with a deadline at or before now, earliest first (a sparse index)."""

    @abstractmethod
    def idempotency_record(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        """The live (unexpired) record for this key, if any."""


class ReactionLedger(ABC):
    """Applies a reaction's writes at most once per (event, reaction)."""

    @abstractmethod
    def apply_once(self, event_id: str, reaction: str, counters: Mapping[CounterKey, int]) -> bool:
        """Add `counters` (counter key -> increment) unless this reaction already ran.

        Returns False when the reaction had already been applied (a redelivery).
        """

    @abstractmethod
    def counter(self, key: CounterKey) -> int: ...

    def claim(self, event_id: str, reaction: str) -> bool:
        """Take the one right to run a side effect for this event (before calling out)."""
        return self.apply_once(event_id, reaction, {})

    @abstractmethod
    def release(self, event_id: str, reaction: str) -> None:
        """Give a claim back after the side effect failed, so a retry may run it."""


class OpsAlert(msgspec.Struct, frozen=True):
    """What ops read in the console: ids and facts only, never personal data."""

    kind: str  # e.g. sla.breached
    ticket_id: str
    summary: str
    details: dict[str, str]


class OpsAlerter(ABC):
    @abstractmethod
    def alert(self, alert: OpsAlert) -> str:
        """Publish to the ops-alerts topic; returns the provider's message id."""


class BusEntry(msgspec.Struct, frozen=True):
    """One event put on the desk's EventBridge bus."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    at: datetime


class EventBusError(Exception):
    """The bus refused some entries (FailedEntryCount) or could not be reached: retry."""


class EventBus(ABC):
    @abstractmethod
    def put(self, entries: list[BusEntry]) -> None:
        """PutEvents; raises EventBusError unless every entry was taken."""


class NotificationError(Exception):
    """A provider refused or failed to take a message; `retryable` says whether to try again."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Notifier(ABC):
    """SMS through SNS, email through SES; the only place full contact details are used."""

    @abstractmethod
    def send_sms(self, phone: str, text: str) -> str:
        """Returns the provider's message id; raises NotificationError."""

    @abstractmethod
    def send_email(
        self, address: str, subject: str, text: str, html: str, thread: MailThread | None = None
    ) -> str:
        """Raw MIME (text + HTML) with the thread's Reply-To, In-Reply-To and References;
        returns the provider's message id; raises NotificationError."""

    @abstractmethod
    def sms_opted_out(self, phone: str) -> bool:
        """Did the number reply STOP (the provider's opt-out list)?"""


class SmsSent(msgspec.Struct, frozen=True):
    """One SMS the desk sent: what a text back from that number is matched by."""

    phone_key: str  # the number's SHA-256 (domain/inbound_sms.phone_key), never the number
    ticket_id: str
    customer_id: str
    at: datetime
    event_id: str  # the event the message told (its notification's source)
    survey_id: str | None = None  # a survey invitation or reminder


class SmsIndex(ABC):
    """The SMS the desk sent, by number (hashed), newest first; and inbound texts handled."""

    @abstractmethod
    def remember(self, sent: SmsSent) -> None:
        """Keep one sent SMS (for 7 days) and the customer's link to the number."""

    @abstractmethod
    def recent(self, phone_key: str, since: datetime, limit: int) -> list[SmsSent]:
        """SMS sent to the number at or after `since`, newest first (one key-range query)."""

    @abstractmethod
    def customers(self, phone_key: str) -> list[str]:
        """Every customer the desk has texted at this number."""

    @abstractmethod
    def forget(self, phone_key: str, customer_id: str) -> None:
        """Drop what links the customer to the number (erasure)."""

    @abstractmethod
    def handled(self, message_id: str) -> bool:
        """Was this inbound message (inboundMessageId) already acted on?"""

    @abstractmethod
    def mark_handled(self, message_id: str, outcome: str, at: datetime) -> None: ...


class SmsCount(msgspec.Struct, frozen=True):
    """One SMS about to go out, to be counted on its number's and its customer's day."""

    phone_key: str  # the number's SHA-256 (domain/inbound_sms.phone_key), never the number
    customer_id: str
    day: str  # the bank's day, yyyy-mm-dd (domain/sms_policy.quota_day)
    event_id: str  # the event the SMS tells (the write differs per message)
    expires_at: datetime  # when the day's counters may go (TTL)


class SmsQuota(ABC):
    """Daily SMS counters per number and per customer (security review H2), and the one
    ops alert a day each may raise."""

    @abstractmethod
    def take(self, sms: SmsCount, per_number: int, per_customer: int) -> str | None:
        """Count the SMS on both counters at once when both are below their limit (None).
        Otherwise nothing is counted and the full counter is named: `number` (checked
        first) or `customer` (domain/sms_policy.NUMBER, CUSTOMER)."""

    @abstractmethod
    def claim_alert(self, counter: str, key: str, day: str, expires_at: datetime) -> bool:
        """Take the day's one ops alert about a number (`number`, its hash) or a customer
        (`customer`, their id); False when it was taken already."""

    @abstractmethod
    def release_alert(self, counter: str, key: str, day: str) -> None:
        """Give the alert back (the alert could not be sent: the next refusal tries)."""


class Triage(ABC):
    """Where a text no rule matched waits for staff (the triage inbox, SPEC 12)."""

    @abstractmethod
    def triage_sms(self, sms: InboundSms, reason: TriageReason) -> None:
        """Keep the text with its reason (`unmatched_sms`: no ticket expects it,
        `ambiguous_sender`: the number is more than one customer's); idempotent by the
        message's id."""


class TicketErasedError(Exception):
    """The ticket was anonymized (or is gone): nothing personal may be written about it."""


class DeliveryClaim(msgspec.Struct, frozen=True):
    """The right to send one notification for one event, taken before the provider call."""

    event_id: str
    state: str  # pending | sent | skipped | failed | deferred | unknown
    claimed_at: datetime


class DeferredNotification(msgspec.Struct, frozen=True):
    event_id: str
    ticket_id: str
    send_at: datetime


class NotificationStore(ABC):
    """Preferences, delivery claims and messages waiting for quiet hours to end."""

    @abstractmethod
    def preferences(self, customer_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def save_preferences(self, customer_id: str, preferences: dict[str, Any]) -> None: ...

    @abstractmethod
    def claim_delivery(self, event_id: str, now: datetime) -> DeliveryClaim | None:
        """Take the claim (None when another delivery already holds or settled it)."""

    @abstractmethod
    def delivery(self, event_id: str) -> DeliveryClaim | None: ...

    @abstractmethod
    def settle_delivery(self, event_id: str, state: str, now: datetime) -> None: ...

    @abstractmethod
    def record_outcome(
        self, outcome: Event, state: str, now: datetime, *, unless_erased: bool = True
    ) -> bool:
        """Write the outcome event (a fresh, time-ordered id: the timeline only grows at
        its end) and settle the claim of the event it reports on to `state`, in one
        transaction. The claim records that it has an outcome: False when it had one
        already (the first one written wins; nothing is written). With `unless_erased`,
        raises TicketErasedError when the ticket was erased (`anonymize_ticket` marked
        it; nothing is written)."""

    @abstractmethod
    def resume_deferred(self, event_id: str, now: datetime) -> bool:
        """Move a `deferred` claim back to `pending` (False if someone else already did)."""

    @abstractmethod
    def defer(self, notice: DeferredNotification) -> None: ...

    @abstractmethod
    def deferred_due(self, now: datetime, limit: int) -> list[DeferredNotification]: ...

    @abstractmethod
    def forget_deferred(self, notice: DeferredNotification) -> None: ...


class IdSource(ABC):
    @abstractmethod
    def ticket_id(self) -> str: ...

    @abstractmethod
    def event_id(self) -> str: ...

    @abstractmethod
    def reference(self) -> str: ...


class SurveyStateChangedError(Exception):
    """The survey left the state the write expected (answered, expired or withdrawn meanwhile)."""


class TicketChange(msgspec.Struct, frozen=True):
    """A ticket write joined to another transaction: the new ticket, if still at `expected`."""

    ticket: Ticket
    expected_version: int


class SurveyCodeStore(ABC):
    """Where the hashes of survey link codes are kept: the notifier adds one per message."""

    @abstractmethod
    def add_code(self, survey_id: str, digest: str, at: datetime) -> None:
        """Keep a new code's SHA-256 for the survey (looked up by it, as a key)."""


class SurveyStore(SurveyCodeStore):
    """Survey records, their link codes (hashed) and each customer's last answer."""

    @abstractmethod
    def create(self, survey: Survey) -> bool:
        """Write a new survey; False when it already exists (a redelivery)."""

    @abstractmethod
    def get(self, survey_id: str) -> Survey | None: ...

    @abstractmethod
    def by_code(self, digest: str) -> Survey | None:
        """The survey a link code (given as its SHA-256) belongs to."""

    @abstractmethod
    def last_answered(self, customer_id: str) -> datetime | None: ...

    @abstractmethod
    def forget_cooldown(self, customer_id: str) -> None:
        """Delete when the customer last answered a survey (erasure); none: fine."""

    @abstractmethod
    def record_round(self, survey: Survey, round_number: int, event: Event) -> bool:
        """Mark the round and store its event at once, once per round, and only while
        the survey is still in that round's state. False: nothing to do."""

    @abstractmethod
    def answer(
        self,
        survey: Survey,
        answer: Answer,
        at: datetime,
        events: list[Event],
        ticket: TicketChange | None,
    ) -> None:
        """Record the answer, its events, the ticket's closing and the customer's
        cooldown in one transaction. Raises SurveyStateChangedError when the survey
        is no longer open, VersionConflictError when the ticket moved."""

    @abstractmethod
    def settle_expiry(
        self, survey: Survey, events: list[Event], ticket: TicketChange | None
    ) -> bool:
        """Record an expired survey on its ticket once (False: already recorded)."""

    @abstractmethod
    def withdraw(self, survey_id: str) -> bool:
        """Mark a survey that is not finished as withdrawn (its ticket was reopened)."""


class SurveyWorkflow(ABC):
    """The Step Functions executions that time each survey."""

    @abstractmethod
    def start(self, name: str, payload: dict[str, Any]) -> None:
        """Start the execution `name`; starting it again is harmless."""

    @abstractmethod
    def stop(self, name: str) -> None:
        """Stop the execution if it still runs."""

    @abstractmethod
    def answered(self, task_token: str) -> None:
        """Hand the answer to the waiting task (a token already settled is ignored)."""


# --- reports, audit, privacy (SPEC section 10) ---------------------------------------------------


class CounterReader(ABC):
    @abstractmethod
    def slots(self, family: str, first: str, last: str) -> list[tuple[str, int]]:
        """A counter family's (slot, total) with first <= slot <= last: one key-range query."""


class AuditLog(ABC):
    @abstractmethod
    def record(self, entry: AuditEntry, expires_at: int) -> None:
        """Write one entry (idempotent by entry id)."""

    @abstractmethod
    def record_many(self, entries: list[AuditEntry], expires_at: int) -> None:
        """Write entries in batches (BatchWriteItem, 25 a call), resending what the store
        leaves unprocessed; raises StoreThrottledError if some are still refused."""

    @abstractmethod
    def page(self, by: str, value: str, limit: int, start_key: StartKey | None) -> Page[AuditEntry]:
        """Entries newest first, `by` ticket or actor."""


class PrivacyStore(ABC):
    """Rewrites records in place for erasure and retention."""

    @abstractmethod
    def anonymize_ticket(
        self, expected_version: int, changed: Ticket, rewritten: list[Event], added: list[Event]
    ) -> None:
        """Rewrite the events, then write the ticket (at expected_version) with `added`, in
        one transaction; also drops the ticket's idempotency records (stored responses).
        That transaction marks the ticket erased, for `record_outcome`.

        Raises VersionConflictError.
        """

    @abstractmethod
    def anonymize_records(
        self, ticket_id: str, expected_version: int, rewritten: list[Event]
    ) -> None:
        """Rewrite timeline-only records (events) of a ticket anonymized already, while the
        ticket is still at expected_version: checked, not written (nothing of the ticket
        changes, so it keeps its version and gets no event).

        Raises VersionConflictError.
        """

    @abstractmethod
    def forget_preferences(self, customer_id: str) -> bool:
        """Delete the customer's preferences; False when there were none."""

    @abstractmethod
    def expire_ticket_records(self, ticket_id: str, expires_at: int) -> None:
        """Stamp the TTL on the ticket's events and reference claim (idempotent)."""

    @abstractmethod
    def expire_event(self, event: Event, expires_at: int) -> None:
        """Stamp the TTL on one event written after its ticket's (idempotent; an event
        no longer there stays gone)."""

    @abstractmethod
    def forget_survey_comment(self, survey_id: str) -> None:
        """Remove the free-text comment from a survey record (the score stays); a survey
        still waiting for its answer is withdrawn (its links answer as expired)."""


class MetricsSink(ABC):
    """Operational metrics (CloudWatch EMF when deployed)."""

    @abstractmethod
    def count(self, name: str, dimensions: Mapping[str, str], value: float = 1.0) -> None: ...


# --- branch appointments -----------------------------------------------------------------


class Seat(msgspec.Struct, frozen=True):
    """One counter seat of a branch slot; `capacity` is the branch's counters."""

    branch_id: str
    day: str  # the branch's own date, YYYY-MM-DD
    start: datetime  # UTC
    capacity: int


class Reminder(msgspec.Struct, frozen=True):
    """An appointment still to be reminded of, keyed by its slot start."""

    ticket_id: str
    slot_start: datetime  # UTC


class SeatMoves(msgspec.Struct, frozen=True):
    """What an appointment's change does besides the ticket, in the same transaction."""

    # The seat given back and the seat taken; the customer's count of upcoming
    # appointments (at most 3) follows them (`holds_seat` in domain/appointments).
    release: Seat | None = None
    take: Seat | None = None
    forget: Reminder | None = None
    remember: Reminder | None = None
    # Other tickets checked or changed in the same transaction (a merge's target).
    also: tuple[TicketWrite, ...] = ()


class AppointmentStore(ABC):
    """Branches, seat counters, the per-customer guard and reminders on the table."""

    @abstractmethod
    def branches(self) -> list[dict[str, Any]]:
        """Every branch's stored attributes (id, name, name_zh, timezone, address, counters,
        hours)."""

    @abstractmethod
    def branch(self, branch_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def seats_taken(self, branch_id: str, day: str) -> dict[datetime, int]:
        """Taken seats per slot start (UTC) on one branch-local day; absent slots are free."""

    @abstractmethod
    def book(
        self,
        ticket: Ticket,
        events: list[Event],
        seat: Seat,
        reminder: Reminder,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """Ticket, reference, events, seat, the customer's guard and the reminder, at once.
        The guard refuses a 4th appointment whose slot is ahead at the booking
        (`ticket.created_at`); appointments whose slots have passed do not count.

        Raises ReferenceTakenError, SlotFullError, TooManyAppointmentsError,
        IdempotencyKeyTakenError or TransactionConflictError; nothing is half-written.
        """

    @abstractmethod
    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket,
        events: list[Event],
        moves: SeatMoves,
    ) -> None:
        """A change of an appointment ticket with its seat, guard and reminder moves, at once.
        A seat taken counts toward the customer's limit with the appointments whose slots
        are still ahead at the change (`changed.updated_at`); a seat released stops counting.

        Raises VersionConflictError, SlotFullError, TooManyAppointmentsError or
        TransactionConflictError; nothing is half-written.
        """

    @abstractmethod
    def reminders_due(self, slot_until: datetime, limit: int) -> list[Reminder]:
        """Reminders of slots starting at or before `slot_until`, earliest first."""

    @abstractmethod
    def remind(self, reminder: Reminder, event: Event) -> bool:
        """Write the reminded event and drop the reminder, once (False: already done)."""

    @abstractmethod
    def forget(self, reminder: Reminder) -> None:
        """Drop a reminder that no longer applies (cancelled, moved, past)."""


# --- omnichannel inbound: email threads and the triage inbox (SPEC section 12) -------------------


class InboxItemChangedError(Exception):
    """The inbox item was handled (or changed) since it was read."""


class InboxStore(ABC):
    """Triage items on the table, "open, newest first" per status by a sparse index."""

    @abstractmethod
    def put(self, item: InboxItem) -> bool:
        """Write a new item; False when an item with its id already exists (a redelivery)."""

    @abstractmethod
    def get(self, item_id: str) -> InboxItem | None: ...

    @abstractmethod
    def page(self, status: str, limit: int, start_key: StartKey | None) -> Page[InboxItem]:
        """Items in one status, newest first."""

    @abstractmethod
    def settle(
        self,
        handled: InboxItem,
        expected_version: int,
        *,
        new_ticket: Ticket | None = None,
        change: TicketChange | None = None,
        events: list[Event] | None = None,
    ) -> None:
        """Write the handled item (only if still at expected_version) together with the
        ticket it opened or the ticket change it made, and their events: one transaction.

        Raises InboxItemChangedError, VersionConflictError, ReferenceTakenError or
        TransactionConflictError; nothing is half-written.
        """


class MailThreads(ABC):
    """Which ticket a desk email belongs to, the customer's last Message-ID per ticket,
    and which stored messages were already taken (SES message ids and keys, no scan)."""

    @abstractmethod
    def remember_sent(self, ses_message_id: str, ticket_id: str, at: datetime) -> None: ...

    @abstractmethod
    def ticket_of_sent(self, ses_message_ids: tuple[str, ...]) -> str | None:
        """The ticket of the first of these SES message ids the desk sent, if any."""

    @abstractmethod
    def thread(self, ticket_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The customer's last Message-ID on the ticket and its References, if any."""

    @abstractmethod
    def remember_received(
        self, ticket_id: str, message_id: str, references: tuple[str, ...]
    ) -> None: ...

    @abstractmethod
    def customer_of_sender(self, address: str) -> str | None:
        """The customer whose newest ticket has this contact email (lower case), if any."""

    @abstractmethod
    def receive(
        self,
        receipt: str,
        *,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
    ) -> bool:
        """Write a reply's comment (and the ticket's change, if any, only at
        expected_version) with a receipt for the stored message, at once. False when the
        receipt exists (a redelivery: nothing written). Raises VersionConflictError."""

    @abstractmethod
    def receive_new(self, receipt: str, *, ticket: Ticket, events: list[Event]) -> bool:
        """Open the ticket a reply about a finished one starts, with the receipt, at once.
        False when the receipt exists. Raises ReferenceTakenError."""

    @abstractmethod
    def taken_by(self, receipt: str) -> str | None:
        """The ticket a stored message with this receipt went to; None when not taken."""


class ReplyKeysUnavailableError(Exception):
    """The reply-token key could not be read now (the secret store failed); retry later."""


class ReplyKeys(Protocol):
    """The reply-token keys: the current one first (it signs); every one held verifies.
    Raises ReplyKeysUnavailableError when they cannot be read."""

    def signing_keys(self) -> tuple[bytes, ...]: ...


class StoredMail(msgspec.Struct, frozen=True):
    key: str  # where it is (the bucket's object key)
    size: int
    raw: bytes  # the whole message, or its first MAX_MAIL_BYTES when larger


class MailSource(ABC):
    """The inbound bucket SES writes each received message to."""

    @abstractmethod
    def read(self, bucket: str, key: str) -> StoredMail | None:
        """The stored message (None: gone, e.g. expired by the lifecycle rule)."""
