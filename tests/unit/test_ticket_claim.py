"""Claiming the next ticket of a queue (SPEC 5) with the in-memory fakes: urgency then
age, one ticket per claim, a stale index, who may claim, escalated tickets."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ForbiddenError, NotFoundError
from chalicelib.domain.ticket import Ticket
from chalicelib.service.tickets import act, claim
from tests.fakes import InMemoryTicketRepository
from tests.unit.ticket_support import (
    AUDITOR,
    HOLDER,
    OTHER_AGENT,
    OWNER,
    SUPERVISOR,
    clock_of,
    make_ports,
    open_as,
    repo_of,
    seed,
)


class StaleIndexRepository(InMemoryTicketRepository):
    """An eventually consistent claim index: still lists what it listed first."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: list[Ticket] | None = None

    def claimable(self, queue: str, limit: int) -> list[Ticket]:
        if self.snapshot is None:
            self.snapshot = super().claimable(queue, limit)
        return list(self.snapshot)


def test_claim_gives_the_next_new_ticket_to_the_caller():
    ports = make_ports()
    ticket = open_as(ports)
    claimed = claim(ports, HOLDER, ticket.queue)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.assignee, claimed.version) == (
        ticket.id,
        "assigned",
        HOLDER.id,
        2,
    )
    assert ports.repository.get(ticket.id) == claimed
    created, assigned, moved = ports.repository.events(ticket.id)
    assert (created.type, assigned.type, moved.type) == (
        "ticket.created",
        "ticket.assigned",
        "ticket.status_changed",
    )
    assert assigned.data["assignee"] == HOLDER.id
    assert moved.data == {"action": "assign", "from": "new", "to": "assigned"}
    assert (moved.actor, assigned.actor) == (HOLDER, HOLDER)


def test_two_agents_claiming_in_turn_get_different_tickets_then_nothing():
    ports = make_ports()
    first = open_as(ports)
    clock_of(ports).advance(minutes=1)
    second = open_as(ports)
    got_a = claim(ports, HOLDER, "cards")
    got_b = claim(ports, OTHER_AGENT, "cards")
    assert got_a is not None
    assert got_b is not None
    assert (got_a.id, got_b.id) == (first.id, second.id)
    assert (got_a.assignee, got_b.assignee) == (HOLDER.id, OTHER_AGENT.id)
    assert claim(ports, SUPERVISOR, "cards") is None


def test_claim_takes_the_most_urgent_first_then_the_oldest():
    ports = make_ports()
    old_normal = open_as(ports, HOLDER)
    clock_of(ports).advance(minutes=5)
    newer_high = open_as(ports, HOLDER, priority="high")
    clock_of(ports).advance(minutes=5)
    newest_urgent = open_as(ports, HOLDER, priority="urgent")
    clock_of(ports).advance(minutes=5)
    newest_normal = open_as(ports, HOLDER)
    order = [claim(ports, HOLDER, "cards") for _ in range(4)]
    assert [ticket.id if ticket else None for ticket in order] == [
        newest_urgent.id,
        newer_high.id,
        old_normal.id,
        newest_normal.id,
    ]


def test_claim_skips_a_ticket_the_index_still_lists_but_someone_took():
    repository = StaleIndexRepository()
    ports = make_ports(repository)
    first = open_as(ports)
    clock_of(ports).advance(minutes=1)
    second = open_as(ports)
    got_a = claim(ports, HOLDER, "cards")
    got_b = claim(ports, OTHER_AGENT, "cards")
    assert got_a is not None
    assert got_b is not None
    assert (got_a.id, got_b.id) == (first.id, second.id)
    stored = ports.repository.get(first.id)
    assert stored is not None
    assert stored.assignee == HOLDER.id


def test_claim_ignores_other_queues_and_assigned_tickets():
    ports = make_ports()
    seed(ports, "assigned", OTHER_AGENT.id)
    open_as(ports, category="loan")  # the lending queue
    assert claim(ports, HOLDER, "cards") is None


@pytest.mark.parametrize("status", ["assigned", "in_progress", "waiting_on_customer"])
def test_an_escalated_ticket_past_new_is_not_claimable_but_can_still_be_assigned(status):
    # SPEC 5: claim hands out "the next unassigned ticket (status new; ...)" only; an
    # escalation keeps the status (SPEC 6). Spec review 2, Low 10: `assigned` ones were.
    ports = make_ports()
    ticket = seed(ports, status, HOLDER.id)
    escalated = act(ports, HOLDER, ticket.id, "escalate", {"reason": "Needs tier 2"})
    assert (escalated.status, escalated.assignee, escalated.queue) == (status, None, "tier2")
    assert repo_of(ports).claimable("tier2", 10) == []
    assert claim(ports, OTHER_AGENT, "tier2") is None
    assert ports.repository.get(ticket.id) == escalated  # claim wrote nothing
    taken = act(ports, OTHER_AGENT, ticket.id, "assign", {})
    assert (taken.status, taken.assignee) == (status, OTHER_AGENT.id)


def test_an_unknown_queue_is_not_found():
    with pytest.raises(NotFoundError):
        claim(make_ports(), HOLDER, "no-such-queue")


@pytest.mark.parametrize("caller", [OWNER, AUDITOR])
def test_customers_and_auditors_may_not_claim(caller):
    ports = make_ports()
    ticket = open_as(ports)
    with pytest.raises(ForbiddenError):
        claim(ports, caller, "cards")
    assert ports.repository.get(ticket.id) == ticket
