"""Ports the use cases need. Real adapters and in-memory fakes implement them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime

from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event
from chalicelib.domain.ticket import Ticket

Clock = Callable[[], datetime]


class ReferenceTakenError(Exception):
    """The short reference collided with an existing one; draw another."""


class TicketRepository(ABC):
    @abstractmethod
    def create(self, ticket: Ticket, event: Event) -> None:
        """Write the ticket, its reference claim and its event in one transaction.

        Raises ReferenceTakenError when the reference is already used.
        """

    @abstractmethod
    def get(self, ticket_id: str) -> Ticket | None: ...

    @abstractmethod
    def events(self, ticket_id: str) -> list[Event]: ...


class ReactionLedger(ABC):
    """Applies a reaction's writes at most once per (event, reaction)."""

    @abstractmethod
    def apply_once(self, event_id: str, reaction: str, counters: Mapping[CounterKey, int]) -> bool:
        """Add `counters` (counter key -> increment) unless this reaction already ran.

        Returns False when the reaction had already been applied (a redelivery).
        """

    @abstractmethod
    def counter(self, key: CounterKey) -> int: ...


class IdSource(ABC):
    @abstractmethod
    def ticket_id(self) -> str: ...

    @abstractmethod
    def event_id(self) -> str: ...

    @abstractmethod
    def reference(self) -> str: ...
