"""Ports the use cases need. Real adapters and in-memory fakes implement them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event
from chalicelib.domain.ticket import Ticket

Clock = Callable[[], datetime]
StartKey = dict[str, str]


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


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first successful response to a request carrying an Idempotency-Key."""

    scope: str
    key: str
    fingerprint: str
    status: int
    body: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class Page:
    items: list[Ticket]
    next_key: StartKey | None


@dataclass(frozen=True)
class EventPage:
    items: list[Event]
    next_key: StartKey | None


@dataclass(frozen=True)
class ListQuery:
    """One list access pattern: an index, its partition value, optional status."""

    index: str  # customer | queue | assignee
    value: str
    status: str | None = None
    limit: int = 20
    start_key: StartKey | None = field(default=None)


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
    def get(self, ticket_id: str) -> Ticket | None: ...

    @abstractmethod
    def events(self, ticket_id: str) -> list[Event]: ...

    @abstractmethod
    def event_page(self, ticket_id: str, limit: int, start_key: StartKey | None) -> EventPage: ...

    @abstractmethod
    def ticket_and_events(
        self, ticket_id: str, limit: int, start_key: StartKey | None
    ) -> tuple[Ticket | None, EventPage]:
        """The ticket and a page of its events (on the first page, in one read)."""

    @abstractmethod
    def query_tickets(self, query: ListQuery) -> Page: ...

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


@dataclass(frozen=True)
class OpsAlert:
    """What ops read in the console: ids and facts only, never personal data."""

    kind: str  # e.g. sla.breached
    ticket_id: str
    summary: str
    details: dict[str, str]


class OpsAlerter(ABC):
    @abstractmethod
    def alert(self, alert: OpsAlert) -> str:
        """Publish to the ops-alerts topic; returns the provider's message id."""


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
    def send_email(self, address: str, subject: str, text: str, html: str) -> str: ...

    @abstractmethod
    def sms_opted_out(self, phone: str) -> bool:
        """Did the number reply STOP (the provider's opt-out list)?"""


@dataclass(frozen=True)
class DeliveryClaim:
    """The right to send one notification for one event, taken before the provider call."""

    event_id: str
    state: str  # pending | sent | skipped | failed | deferred | unknown
    claimed_at: datetime


@dataclass(frozen=True)
class DeferredNotification:
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
