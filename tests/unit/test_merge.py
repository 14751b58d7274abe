"""Merging repeated tickets and possible duplicates at creation (SPEC 13), with fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.domain.errors import (
    ConflictError,
    ForbiddenError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
    VersionMismatchError,
)
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.merge import MergeMismatchError
from chalicelib.domain.notifications import template_for
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, ticket_view
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.merge import find_possible_duplicates, with_possible_duplicates
from chalicelib.service.ports import IdempotencyRecord, ListQuery, Page, TicketWrite
from chalicelib.service.tickets import TicketPorts, act, create_ticket
from tests.fakes import FixedClock, InMemoryTicketRepository, SequentialIds, card_request

OWNER = Caller(Role.CUSTOMER, "cust-1")
OTHER_CUSTOMER = Caller(Role.CUSTOMER, "cust-2")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")

REQUEST = card_request(kind="complaint", subject="Charged twice")


def make_ports(repository: InMemoryTicketRepository | None = None) -> TicketPorts:
    return TicketPorts(repository or InMemoryTicketRepository(), SequentialIds(), FixedClock())


def repo_of(ports: TicketPorts) -> InMemoryTicketRepository:
    assert isinstance(ports.repository, InMemoryTicketRepository)
    return ports.repository


def clock_of(ports: TicketPorts) -> FixedClock:
    assert isinstance(ports.clock, FixedClock)
    return ports.clock


def render(ticket: Ticket, duplicates: list[str]) -> StoredResponse:
    return StoredResponse(
        201, json.dumps({**ticket_view(ticket), "possible_duplicates": duplicates})
    )


def create(ports: TicketPorts, caller: Caller = OWNER, **changes: Any) -> dict[str, Any]:
    request = replace(REQUEST, **changes)
    if not caller.is_customer:
        request = replace(request, customer_id=request.customer_id or "cust-1")
    rendered = with_possible_duplicates(ports.repository, render)
    body: dict[str, Any] = json.loads(create_ticket(ports, caller, request, rendered).body)
    return body


def opened(ports: TicketPorts, caller: Caller = OWNER, **changes: Any) -> str:
    return str(create(ports, caller, **changes)["id"])


# ----------------------------------------------------------------- merge


def test_merge_closes_the_source_into_the_target_in_one_write():
    ports = make_ports()
    target_id = opened(ports)
    source_id = opened(ports)
    repo = repo_of(ports)
    target_before = repo.tickets[target_id]
    writes = repo.writes

    merged = act(ports, AGENT, source_id, "merge", {"into": target_id})

    assert repo.writes == writes + 1
    assert (merged.status, merged.merged_into) == (Status.CLOSED, target_id)
    assert repo.tickets[source_id] == merged
    assert ticket_view(merged)["merged_into"] == target_id
    # The target keeps its clocks (and its version: a timeline-only change).
    assert repo.tickets[target_id] == target_before
    assert ticket_view(target_before)["merged_into"] is None
    moved = repo.events(source_id)[-1]
    assert moved.type == EventType.STATUS_CHANGED
    assert moved.data == {
        "action": "merge",
        "into": target_id,
        "from": "new",
        "to": "closed",
        "total_suspended_seconds": 0,  # a complaint's end records its suspended time
    }
    entry = repo.events(target_id)[-1]
    assert entry.type == EventType.MERGED
    assert entry.data == {"from": source_id, "from_reference": merged.reference}
    assert entry.actor == AGENT


def test_the_customer_is_told_once_about_a_merge():
    ports = make_ports()
    target_id = opened(ports)
    source_id = opened(ports)
    act(ports, SUPERVISOR, source_id, "merge", {"into": target_id})
    repo = repo_of(ports)
    written = [*repo.events(source_id)[1:], *repo.events(target_id)[1:]]
    told = [template for event in written if (template := template_for(event))]
    assert told == ["ticket.merged"]


@pytest.mark.parametrize("kind", ["consultation", "application", "complaint"])
def test_any_kind_merges_from_any_open_status(kind):
    for status in ("new", "assigned", "in_progress", "waiting_on_customer"):
        ports = make_ports()
        target_id = opened(ports, kind=kind)
        source_id = opened(ports, kind=kind)
        repo = repo_of(ports)
        repo.tickets[source_id] = replace(repo.tickets[source_id], status=Status(status))
        repo.tickets[target_id] = replace(repo.tickets[target_id], status=Status(status))
        assert act(ports, AGENT, source_id, "merge", {"into": target_id}).status == "closed"


def test_merging_into_itself_is_a_mismatch():
    ports = make_ports()
    ticket_id = opened(ports)
    with pytest.raises(MergeMismatchError):
        act(ports, AGENT, ticket_id, "merge", {"into": ticket_id})


@pytest.mark.parametrize("status", ["resolved", "closed", "cancelled"])
def test_merging_into_a_ticket_that_is_not_open_is_a_mismatch(status):
    ports = make_ports()
    target_id = opened(ports)
    source_id = opened(ports)
    repo = repo_of(ports)
    repo.tickets[target_id] = replace(repo.tickets[target_id], status=Status(status))
    with pytest.raises(MergeMismatchError):
        act(ports, AGENT, source_id, "merge", {"into": target_id})
    assert repo.tickets[source_id].status == Status.NEW


def test_merging_across_customers_or_into_an_unknown_ticket_is_a_mismatch():
    ports = make_ports()
    theirs = opened(ports, OTHER_CUSTOMER)
    source_id = opened(ports)
    for into in (theirs, "T-NOSUCH", "x" * 300):
        with pytest.raises(MergeMismatchError):
            act(ports, AGENT, source_id, "merge", {"into": into})
    assert repo_of(ports).tickets[source_id].merged_into is None


def test_a_mismatch_is_a_409():
    assert issubclass(MergeMismatchError, ConflictError)


def test_a_closed_source_cannot_be_merged_and_customers_and_auditors_may_not_merge():
    ports = make_ports()
    target_id = opened(ports)
    source_id = opened(ports)
    with pytest.raises(ForbiddenError):
        act(ports, OWNER, source_id, "merge", {"into": target_id})
    with pytest.raises(ForbiddenError):
        act(ports, AUDITOR, source_id, "merge", {"into": target_id})
    with pytest.raises(ValidationError):
        act(ports, AGENT, source_id, "merge", {})
    act(ports, AGENT, source_id, "merge", {"into": target_id})
    with pytest.raises(IllegalTransitionError):
        act(ports, AGENT, source_id, "merge", {"into": target_id})
    with pytest.raises(NotFoundError):
        act(ports, OTHER_CUSTOMER, source_id, "merge", {"into": target_id})


class TargetMovesRepository(InMemoryTicketRepository):
    """The target changes between the read and the write."""

    def __init__(self) -> None:
        super().__init__()
        self.move: str | None = None

    def commit_many(
        self, writes: list[TicketWrite], idempotency: IdempotencyRecord | None = None
    ) -> None:
        if self.move is not None:
            moved = self.tickets[self.move]
            self.tickets[self.move] = replace(moved, status=Status.CANCELLED, version=2)
            self.move = None
        super().commit_many(writes, idempotency)


def test_a_target_that_moves_meanwhile_leaves_both_tickets_as_they_were():
    repository = TargetMovesRepository()
    ports = make_ports(repository)
    target_id = opened(ports)
    source_id = opened(ports)
    repository.move = target_id
    with pytest.raises(ConflictError):
        act(ports, AGENT, source_id, "merge", {"into": target_id})
    assert repository.tickets[source_id].status == Status.NEW
    assert [e.type for e in repository.events(target_id)] == [EventType.TICKET_CREATED]


# ----------------------------------------------------------------- possible duplicates


def test_a_first_ticket_has_no_possible_duplicates():
    assert create(make_ports())["possible_duplicates"] == []


def test_possible_duplicates_are_open_same_kind_and_category_of_the_last_seven_days():
    ports = make_ports()
    clock = clock_of(ports)
    too_old = opened(ports)
    clock.advance(days=1)
    in_window = opened(ports)
    other_category = opened(ports, category="loan")
    other_kind = opened(ports, kind="consultation")
    theirs = opened(ports, OTHER_CUSTOMER)
    finished = opened(ports)
    act(ports, OWNER, finished, "cancel", {})
    clock.advance(days=6, seconds=1)
    newest = opened(ports)

    body = create(ports)

    assert body["possible_duplicates"] == [newest, in_window]
    assert not {too_old, other_category, other_kind, theirs, finished} & set(
        body["possible_duplicates"]
    )


def test_at_most_five_newest_first():
    ports = make_ports()
    ids = []
    for _ in range(7):
        ids.append(opened(ports))
        clock_of(ports).advance(minutes=1)
    assert create(ports)["possible_duplicates"] == ids[::-1][:5]


def test_staff_opening_for_a_customer_see_that_customers_duplicates():
    ports = make_ports()
    mine = opened(ports)
    assert create(ports, AGENT, customer_id="cust-1")["possible_duplicates"] == [mine]
    assert create(ports, AGENT, customer_id="cust-9")["possible_duplicates"] == []


def test_an_idempotent_replay_answers_the_same_list():
    ports = make_ports()
    first_id = opened(ports)
    key = IdempotencyKey("customer:cust-1:POST /v1/tickets", "k-1", "same-body")
    rendered = with_possible_duplicates(ports.repository, render)
    first = create_ticket(ports, OWNER, REQUEST, rendered, key)
    opened(ports)  # a newer duplicate appears meanwhile
    again = create_ticket(ports, OWNER, REQUEST, rendered, key)
    assert again == first
    assert json.loads(again.body)["possible_duplicates"] == [first_id]


class CountingRepository(InMemoryTicketRepository):
    def __init__(self) -> None:
        super().__init__()
        self.queries: list[ListQuery] = []

    def query_tickets(self, query: ListQuery) -> Page[Ticket]:
        self.queries.append(query)
        return super().query_tickets(query)


def test_the_lookup_reads_the_customer_index_newest_first_and_stops_at_seven_days():
    repository = CountingRepository()
    ports = make_ports(repository)
    for _ in range(45):  # three pages of old tickets
        opened(ports)
    clock_of(ports).advance(days=8)
    recent = opened(ports)
    repository.queries.clear()
    probe = replace(repository.tickets[recent], id="T-PROBE", created_at=ports.clock())
    assert find_possible_duplicates(repository, probe) == [recent]
    assert [(q.index, q.value) for q in repository.queries] == [("customer", "cust-1")]


def test_the_window_is_seven_days_back_from_the_new_ticket():
    ports = make_ports()
    kept = opened(ports)
    clock_of(ports).advance(days=7)
    assert create(ports)["possible_duplicates"] == [kept]
    clock_of(ports).advance(seconds=1)
    assert kept not in create(ports)["possible_duplicates"]


def test_a_bad_target_is_409_before_a_stale_if_match_is_412():
    ports = make_ports()
    source_id = opened(ports)
    with pytest.raises(MergeMismatchError):
        act(ports, AGENT, source_id, "merge", {"into": source_id}, if_match=9)
    target_id = opened(ports)
    with pytest.raises(VersionMismatchError):
        act(ports, AGENT, source_id, "merge", {"into": target_id}, if_match=9)
    assert act(ports, AGENT, source_id, "merge", {"into": target_id}, if_match=1).merged_into
