"""In-memory fakes of the service ports (the same contract tests run against the real adapters)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import IdSource, ReactionLedger, ReferenceTakenError, TicketRepository


class InMemoryTicketRepository(TicketRepository):
    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.references: dict[str, str] = {}
        self.event_log: dict[str, list[Event]] = {}
        self.writes = 0

    def create(self, ticket: Ticket, event: Event) -> None:
        if ticket.reference in self.references:
            raise ReferenceTakenError(ticket.reference)
        if ticket.id in self.tickets:
            raise ValueError("ticket exists")
        self.writes += 1
        self.tickets[ticket.id] = ticket
        self.references[ticket.reference] = ticket.id
        self.event_log.setdefault(ticket.id, []).append(event)

    def get(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def events(self, ticket_id: str) -> list[Event]:
        return sorted(self.event_log.get(ticket_id, []), key=lambda event: event.id)


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
