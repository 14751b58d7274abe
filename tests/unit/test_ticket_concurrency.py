"""Concurrent changes to a ticket with the in-memory fakes: If-Match, and a race lost to
another writer (SPEC 5: one wins, the other gets 409/412, the winner's update kept)."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.domain.errors import ConflictError, IllegalTransitionError, VersionMismatchError
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.ticket import Sla, Ticket
from chalicelib.service.ports import IdempotencyRecord
from chalicelib.service.tickets import act
from tests.fakes import InMemoryTicketRepository
from tests.unit.ticket_support import HOLDER, OWNER, clock_of, make_ports, seed


class RacingRepository(InMemoryTicketRepository):
    """Lets another writer commit first, just before the next commit lands."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0
        self.other_writer: Any = None  # Callable[[Ticket], Ticket] | None

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        self.commits += 1
        if self.other_writer is not None:
            other_writer, self.other_writer = self.other_writer, None
            current = self.tickets[ticket_id]
            self.tickets[ticket_id] = replace(other_writer(current), version=current.version + 1)
        super().commit(ticket_id, expected_version, changed, events, idempotency)


def test_a_stale_if_match_is_a_version_mismatch_and_changes_nothing():
    ports = make_ports()
    ticket = seed(ports, "assigned", HOLDER.id, version=3)
    with pytest.raises(VersionMismatchError):
        act(ports, HOLDER, ticket.id, "start", {}, if_match=2)
    assert ports.repository.get(ticket.id) == ticket


def test_a_current_if_match_lets_the_action_through():
    ports = make_ports()
    ticket = seed(ports, "assigned", HOLDER.id, version=3)
    changed = act(ports, HOLDER, ticket.id, "start", {}, if_match=3)
    assert (changed.status, changed.version) == ("in_progress", 4)
    assert ports.repository.get(ticket.id) == changed


def test_an_illegal_action_is_409_even_with_a_stale_if_match():
    ports = make_ports()
    ticket = seed(ports, "resolved", HOLDER.id, version=3)
    with pytest.raises(IllegalTransitionError):
        act(ports, HOLDER, ticket.id, "start", {}, if_match=1)


def test_losing_a_race_without_if_match_is_a_conflict_not_a_second_write():
    # SPEC 5: two concurrent actions, one wins, the other gets 409/412.
    repository = RacingRepository()
    ports = make_ports(repository)
    ticket = seed(ports, "in_progress", HOLDER.id)
    repository.other_writer = lambda current: replace(current, status="resolved")
    with pytest.raises(ConflictError) as raised:
        act(ports, HOLDER, ticket.id, "request_info", {"message": "ID?"})
    assert not isinstance(raised.value, IllegalTransitionError)
    stored = ports.repository.get(ticket.id)
    assert stored is not None
    assert (stored.status, stored.version) == ("resolved", 2)


def test_losing_a_race_without_if_match_keeps_the_winners_update():
    repository = RacingRepository()
    ports = make_ports(repository)
    ticket = seed(ports, "in_progress", HOLDER.id)
    responded = clock_of(ports).now
    repository.other_writer = lambda current: replace(
        current, sla=Sla(first_responded_at=responded)
    )
    with pytest.raises(ConflictError):
        act(ports, OWNER, ticket.id, "cancel", {"reason": "Sorted"})
    stored = ports.repository.get(ticket.id)
    assert stored is not None
    assert (stored.status, stored.version) == ("in_progress", 2)
    assert stored.sla.first_responded_at == responded  # the winner's change survived
    assert [e.type for e in ports.repository.events(ticket.id)].count(EventType.STATUS_CHANGED) == 0


def test_losing_a_race_with_if_match_is_a_version_mismatch():
    repository = RacingRepository()
    ports = make_ports(repository)
    ticket = seed(ports, "assigned", HOLDER.id)
    repository.other_writer = lambda current: replace(current, priority="high")
    with pytest.raises(VersionMismatchError):
        act(ports, HOLDER, ticket.id, "start", {}, if_match=1)
    stored = ports.repository.get(ticket.id)
    assert stored is not None
    assert (stored.status, stored.priority) == ("assigned", "high")
