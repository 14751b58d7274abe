"""Reactions to event items arriving on the table's stream.

Delivery is at-least-once, so every reaction is idempotent by event id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.counters import counters_for
from chalicelib.domain.events import TICKET_CREATED, Event
from chalicelib.service.ports import ReactionLedger


@dataclass(frozen=True)
class ReactionPorts:
    ledger: ReactionLedger


Reaction = Callable[[Event, ReactionPorts], None]


def count_event(event: Event, ports: ReactionPorts) -> None:
    """Move the report counters this event affects, once per event."""
    counters = counters_for(event)
    if counters:
        ports.ledger.apply_once(event.id, "count", counters)


REACTIONS: dict[str, tuple[Reaction, ...]] = {
    TICKET_CREATED: (count_event,),
}


def react(event: Event, ports: ReactionPorts) -> None:
    """Run every reaction registered for the event's type."""
    for reaction in REACTIONS.get(event.type, ()):
        reaction(event, ports)
