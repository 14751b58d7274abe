"""Ticket use cases with the in-memory fakes: idempotency, races, check order, claim, lists."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.domain.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    NotFoundError,
    RequestInFlightError,
    ValidationError,
    VersionMismatchError,
)
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Sla, Ticket, ticket_view
from chalicelib.service.ports import (
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    ListQuery,
)
from chalicelib.service.tickets import (
    Answer,
    IdempotencyKey,
    ListFilters,
    StoredResponse,
    TicketPorts,
    act,
    claim,
    comment,
    create_ticket,
    list_query,
    list_tickets,
)
from tests.fakes import FixedClock, InMemoryTicketRepository, SequentialIds, card_request

OWNER = Caller(Role.CUSTOMER, "cust-1")
STRANGER = Caller(Role.CUSTOMER, "cust-2")
HOLDER = Caller(Role.AGENT, "agent-holder")
OTHER_AGENT = Caller(Role.AGENT, "agent-other")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")

REQUEST = card_request()
SCOPE = "customer:cust-1:POST /v1/tickets"


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


class KeyHeldElsewhereRepository(InMemoryTicketRepository):
    """The key is held by a first request that has not finished (no record to replay)."""

    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        if idempotency is not None:
            raise IdempotencyKeyTakenError()
        super().create(ticket, events, idempotency)


class StaleIndexRepository(InMemoryTicketRepository):
    """An eventually consistent claim index: still lists what it listed first."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: list[Ticket] | None = None

    def claimable(self, queue: str, limit: int) -> list[Ticket]:
        if self.snapshot is None:
            self.snapshot = super().claimable(queue, limit)
        return list(self.snapshot)


def make_ports(repository: InMemoryTicketRepository | None = None) -> TicketPorts:
    return TicketPorts(repository or InMemoryTicketRepository(), SequentialIds(), FixedClock())


def clock_of(ports: TicketPorts) -> FixedClock:
    assert isinstance(ports.clock, FixedClock)
    return ports.clock


def repo_of(ports: TicketPorts) -> InMemoryTicketRepository:
    assert isinstance(ports.repository, InMemoryTicketRepository)
    return ports.repository


def render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(
        201, json.dumps(ticket_view(ticket)), {"Location": f"/v1/tickets/{ticket.id}"}
    )


def render_event(event: Event) -> StoredResponse:
    return StoredResponse(201, json.dumps({"id": event.id, "type": event.type}))


def open_as(ports: TicketPorts, caller: Caller = OWNER, **request: Any) -> Ticket:
    if not caller.is_customer:
        request.setdefault("customer_id", OWNER.id)
    response = create_ticket(ports, caller, replace(REQUEST, **request), render)
    ticket = ports.repository.get(json.loads(response.body)["id"])
    assert ticket is not None
    return ticket


def seed(ports: TicketPorts, status: str, assignee: str | None = None, **changes: Any) -> Ticket:
    """A stored ticket in the given state (as if earlier actions had run)."""
    ticket = open_as(ports)
    changed = replace(ticket, status=Status(status), assignee=assignee, **changes)
    repo_of(ports).tickets[ticket.id] = changed
    return changed


def key(fingerprint: str = "body-1", name: str = "key-1", scope: str = SCOPE) -> IdempotencyKey:
    return IdempotencyKey(scope=scope, key=name, fingerprint=fingerprint)


def filters_with(name: str, value: str) -> ListFilters:
    named: dict[str, Any] = {name: value}
    return ListFilters(**named)


def invalid_body() -> ValidationError:
    return ValidationError([FieldError("resolution", "is too long")])


# ---------------------------------------------------------------- idempotent create


def test_the_same_key_and_body_gives_the_first_response_and_writes_nothing_new():
    ports = make_ports()
    first = create_ticket(ports, OWNER, REQUEST, render, key())
    clock_of(ports).advance(hours=23, minutes=59)
    again = create_ticket(ports, OWNER, REQUEST, render, key())
    assert again == first
    assert len(repo_of(ports).tickets) == 1
    assert repo_of(ports).writes == 1


def test_the_same_key_with_another_body_is_refused():
    ports = make_ports()
    create_ticket(ports, OWNER, REQUEST, render, key("body-1"))
    with pytest.raises(IdempotencyKeyReusedError):
        create_ticket(ports, OWNER, replace(REQUEST, subject="Other"), render, key("body-2"))
    assert len(repo_of(ports).tickets) == 1


def test_an_expired_key_opens_a_new_ticket():
    ports = make_ports()
    first = create_ticket(ports, OWNER, REQUEST, render, key())
    clock_of(ports).advance(hours=24, seconds=1)
    second = create_ticket(ports, OWNER, REQUEST, render, key())
    assert json.loads(second.body)["id"] != json.loads(first.body)["id"]
    assert len(repo_of(ports).tickets) == 2


def test_a_key_is_scoped_to_the_caller_and_route():
    ports = make_ports()
    first = create_ticket(ports, OWNER, REQUEST, render, key())
    other_scope = key(scope="customer:cust-2:POST /v1/tickets")
    second = create_ticket(ports, STRANGER, REQUEST, render, other_scope)
    assert json.loads(second.body)["id"] != json.loads(first.body)["id"]
    assert json.loads(second.body)["customer_id"] == STRANGER.id


def test_a_failed_request_leaves_the_key_free():
    ports = make_ports()
    with pytest.raises(ValidationError):
        create_ticket(ports, OWNER, replace(REQUEST, priority="urgent"), render, key("body-a"))
    response = create_ticket(ports, OWNER, REQUEST, render, key("body-b"))
    assert response.status == 201
    assert len(repo_of(ports).tickets) == 1


def test_a_key_still_held_by_a_running_request_is_a_conflict():
    ports = make_ports(KeyHeldElsewhereRepository())
    with pytest.raises(RequestInFlightError):
        create_ticket(ports, OWNER, REQUEST, render, key())
    assert repo_of(ports).tickets == {}


def test_a_replayed_comment_is_not_written_twice():
    ports = make_ports()
    ticket = seed(ports, "in_progress", HOLDER.id)
    comment_key = key(scope="customer:cust-1:POST comments")
    first = comment(ports, OWNER, ticket.id, "Hi", False, answer=Answer(render_event, comment_key))
    again = comment(ports, OWNER, ticket.id, "Hi", False, answer=Answer(render_event, comment_key))
    assert again == first
    assert [e.type for e in ports.repository.events(ticket.id)].count(EventType.COMMENT_ADDED) == 1


# ---------------------------------------------------------------- If-Match and races


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


# ---------------------------------------------------------------- check order (SPEC 3)


@pytest.mark.parametrize("invalid", [None, invalid_body()], ids=["valid", "invalid"])
def test_an_invisible_ticket_is_404_before_anything_else(invalid):
    ports = make_ports()
    ticket = seed(ports, "assigned", HOLDER.id)
    with pytest.raises(NotFoundError):
        act(ports, AUDITOR, "T-unknown", "start", {}, invalid=invalid)
    with pytest.raises(NotFoundError):
        act(ports, STRANGER, ticket.id, "cancel", {}, invalid=invalid, if_match=99)


@pytest.mark.parametrize("invalid", [None, invalid_body()], ids=["valid", "invalid"])
def test_auditors_may_not_act_on_a_ticket_they_can_see(invalid):
    ports = make_ports()
    ticket = seed(ports, "assigned", HOLDER.id)
    with pytest.raises(ForbiddenError):
        act(ports, AUDITOR, ticket.id, "start", {}, invalid=invalid)


def test_an_allowed_caller_with_an_invalid_body_gets_that_validation_error():
    ports = make_ports()
    ticket = seed(ports, "in_progress", HOLDER.id)
    invalid = invalid_body()
    with pytest.raises(ValidationError) as raised:
        act(ports, HOLDER, ticket.id, "resolve", {"resolution": "x" * 6000}, invalid=invalid)
    assert raised.value is invalid
    assert repo_of(ports).tickets[ticket.id] == ticket


@pytest.mark.parametrize(
    ("caller", "action"),
    [(OTHER_AGENT, "resolve"), (OWNER, "resolve")],
    ids=["agent-not-the-assignee", "customer-on-a-staff-action"],
)
def test_a_caller_who_may_not_run_the_action_is_403_even_with_an_invalid_body(caller, action):
    # SPEC 3: 403 (role, or not the assignee) comes before 400 (validation).
    ports = make_ports()
    ticket = seed(ports, "in_progress", HOLDER.id)
    with pytest.raises(ForbiddenError):
        act(ports, caller, ticket.id, action, {"resolution": "x" * 6000}, invalid=invalid_body())


def test_not_the_assignee_is_403_before_an_illegal_status():
    ports = make_ports()
    ticket = seed(ports, "resolved", HOLDER.id)
    with pytest.raises(ForbiddenError):
        act(ports, OTHER_AGENT, ticket.id, "resolve", {"resolution": "Done"})


def test_validation_is_400_before_an_illegal_status():
    ports = make_ports()
    ticket = seed(ports, "resolved", HOLDER.id)
    with pytest.raises(ValidationError):
        act(ports, HOLDER, ticket.id, "resolve", {})


def test_an_action_writes_the_ticket_and_its_event_together():
    ports = make_ports()
    ticket = seed(ports, "assigned", HOLDER.id)
    act(ports, HOLDER, ticket.id, "start", {})
    types = [event.type for event in ports.repository.events(ticket.id)]
    assert types == ["ticket.created", "ticket.status_changed"]


def test_auditors_may_not_comment_even_with_an_invalid_body():
    ports = make_ports()
    ticket = seed(ports, "in_progress", HOLDER.id)
    with pytest.raises(ForbiddenError):
        comment(
            ports,
            AUDITOR,
            ticket.id,
            "x",
            False,
            answer=Answer(render_event, invalid=invalid_body()),
        )


# ---------------------------------------------------------------- claim


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


# ---------------------------------------------------------------- lists


def test_customers_list_their_own_tickets_newest_first():
    ports = make_ports()
    older = open_as(ports)
    clock_of(ports).advance(minutes=1)
    open_as(ports, STRANGER)
    clock_of(ports).advance(minutes=1)
    newer = open_as(ports)
    page = list_tickets(ports, OWNER, ListFilters())
    assert [ticket.id for ticket in page.items] == [newer.id, older.id]
    assert page.next_key is None


def test_customers_may_narrow_by_status():
    ports = make_ports()
    seed(ports, "resolved")
    waiting = seed(ports, "waiting_on_customer", HOLDER.id)
    page = list_tickets(ports, OWNER, ListFilters(status="waiting_on_customer"))
    assert [ticket.id for ticket in page.items] == [waiting.id]


@pytest.mark.parametrize("field", ["customer_id", "queue", "assignee", "reference"])
def test_customers_may_not_name_a_list_key(field):
    with pytest.raises(ValidationError) as raised:
        list_tickets(make_ports(), OWNER, filters_with(field, "x"))
    assert [error.path for error in raised.value.errors] == [field]


@pytest.mark.parametrize("field", ["customer_id", "queue", "assignee", "reference"])
@pytest.mark.parametrize("value", ["cust\r\n1", "cust\x001", "a\tb", "a\u2028b", "a\x85b"])
def test_staff_list_keys_are_single_line_ids(field, value):
    # SPEC 5: single-line fields (ids too) refuse control characters.
    with pytest.raises(ValidationError) as raised:
        list_query(SUPERVISOR, filters_with(field, value))
    assert [error.path for error in raised.value.errors] == [field]


def test_a_customer_naming_themselves_is_still_refused():
    with pytest.raises(ValidationError):
        list_query(OWNER, ListFilters(customer_id=OWNER.id))


@pytest.mark.parametrize(
    "filters",
    [ListFilters(), ListFilters(status="new"), ListFilters(queue="cards", assignee="agent-1")],
    ids=["none", "status-only", "two"],
)
@pytest.mark.parametrize("caller", [HOLDER, SUPERVISOR, AUDITOR])
def test_staff_name_exactly_one_list_key(caller, filters):
    with pytest.raises(ValidationError):
        list_tickets(make_ports(), caller, filters)


def test_a_customers_query_is_bound_to_the_caller():
    query = list_query(OWNER, ListFilters(status="new", limit=5))
    assert query == ListQuery("customer", OWNER.id, "new", 5, None)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ListFilters(customer_id="cust-9"), ListQuery("customer", "cust-9")),
        (ListFilters(queue="cards", status="new"), ListQuery("queue", "cards", "new")),
        (ListFilters(assignee="agent-1", limit=3), ListQuery("assignee", "agent-1", None, 3)),
    ],
)
def test_a_staff_list_queries_the_index_its_filter_names(filters, expected):
    assert list_query(AUDITOR, filters) == expected


def test_staff_list_by_queue_assignee_and_customer():
    ports = make_ports()
    mine = seed(ports, "assigned", HOLDER.id)
    clock_of(ports).advance(minutes=1)
    fresh = open_as(ports)
    other = open_as(ports, STRANGER, category="loan")

    def ids(**filters: Any) -> list[str]:
        return [t.id for t in list_tickets(ports, SUPERVISOR, ListFilters(**filters)).items]

    assert ids(queue="cards") == [fresh.id, mine.id]
    assert ids(queue="cards", status="new") == [fresh.id]
    assert ids(assignee=HOLDER.id) == [mine.id]
    assert ids(customer_id=STRANGER.id) == [other.id]


def test_staff_find_a_ticket_by_its_reference_as_read_out():
    ports = make_ports()
    ticket = open_as(ports)
    spoken = ticket.reference.lower().replace("-", " ")
    page = list_tickets(ports, AUDITOR, ListFilters(reference=spoken))
    assert [t.id for t in page.items] == [ticket.id]
    narrowed = list_tickets(ports, AUDITOR, ListFilters(reference=spoken, status="closed"))
    assert narrowed.items == []
    unknown = list_tickets(ports, AUDITOR, ListFilters(reference="SD-ZZZZZZZZ"))
    assert unknown.items == []


def test_lists_page_with_the_repository_key():
    ports = make_ports()
    for _ in range(3):
        open_as(ports)
        clock_of(ports).advance(minutes=1)
    first = list_tickets(ports, OWNER, ListFilters(limit=2))
    assert len(first.items) == 2
    assert first.next_key is not None
    rest = list_tickets(ports, OWNER, ListFilters(limit=2, start_key=first.next_key))
    assert len(rest.items) == 1
    assert rest.next_key is None
    assert {t.id for t in first.items}.isdisjoint({t.id for t in rest.items})
