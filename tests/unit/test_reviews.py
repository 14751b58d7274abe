"""The review (核查) of a concluded complaint and the recusal of who handled it (SPEC 13)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.bootstrap import load_complaint_codes
from chalicelib.domain.complaints import ClassificationRequiredError
from chalicelib.domain.errors import (
    ForbiddenError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
)
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.notifications import template_for
from chalicelib.domain.reviews import (
    NotReviewableError,
    RecusalError,
    ReviewExistsError,
    ReviewWindowClosedError,
)
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.ports import IdempotencyRecord, TicketWrite
from chalicelib.service.reviews import request_review
from chalicelib.service.tickets import Answer, TicketPorts, act, claim, comment, create_ticket
from tests.fakes import FixedClock, InMemoryTicketRepository, SequentialIds, card_request

OWNER = Caller(Role.CUSTOMER, "cust-1")
STRANGER = Caller(Role.CUSTOMER, "cust-2")
HANDLER = Caller(Role.AGENT, "agent-handler")  # assigned and resolved the original
NOTER = Caller(Role.AGENT, "agent-noter")  # left an internal note on it
FRESH = Caller(Role.AGENT, "agent-fresh")  # never touched it
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")  # extended it
OTHER_SUPERVISOR = Caller(Role.SUPERVISOR, "sup-2")
AUDITOR = Caller(Role.AUDITOR, "aud-1")

COMPLAINT = card_request(kind="complaint", subject="Charged twice", channel="web")


def make_ports(repository: InMemoryTicketRepository | None = None) -> TicketPorts:
    return TicketPorts(
        repository or InMemoryTicketRepository(),
        SequentialIds(),
        FixedClock(),
        complaint_codes=load_complaint_codes(),
    )


def render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, json.dumps(ticket_view(ticket)), {"Location": ticket.id})


def repo_of(ports: TicketPorts) -> InMemoryTicketRepository:
    assert isinstance(ports.repository, InMemoryTicketRepository)
    return ports.repository


def clock_of(ports: TicketPorts) -> FixedClock:
    assert isinstance(ports.clock, FixedClock)
    return ports.clock


def opened(ports: TicketPorts, request: TicketRequest = COMPLAINT) -> str:
    body = create_ticket(ports, OWNER, request, render).body
    return str(json.loads(body)["id"])


def concluded_complaint(ports: TicketPorts, *, close: bool = False) -> str:
    """A complaint the HANDLER resolved, NOTER annotated and SUPERVISOR extended."""
    ticket_id = opened(ports)
    act(ports, HANDLER, ticket_id, "assign", {})
    comment(ports, NOTER, ticket_id, "Check the card network log", True, answer=Answer(_event))
    act(ports, SUPERVISOR, ticket_id, "extend", {"reason": "Card network"})
    act(ports, HANDLER, ticket_id, "start", {})
    act(ports, HANDLER, ticket_id, "classify", {"business": "card", "cause": "fees"})
    act(ports, HANDLER, ticket_id, "resolve", {"resolution": "Refunded"})
    if close:
        act(ports, SUPERVISOR, ticket_id, "close", {})
    return ticket_id


def _event(event: Any) -> StoredResponse:
    return StoredResponse(201, "{}")


def review(
    ports: TicketPorts, ticket_id: str, caller: Caller = OWNER, **options: Any
) -> dict[str, Any]:
    response = request_review(
        ports, caller, ticket_id, "I was not refunded the fee", answer=Answer(render, **options)
    )
    assert response.status == 201
    body: dict[str, Any] = json.loads(response.body)
    return body


# ----------------------------------------------------------------- opening a review


@pytest.mark.parametrize("close", [False, True], ids=["resolved", "closed"])
def test_a_review_is_a_new_complaint_linked_both_ways_in_one_write(close):
    ports = make_ports()
    original_id = concluded_complaint(ports, close=close)
    before = repo_of(ports).tickets[original_id]
    writes = repo_of(ports).writes
    clock_of(ports).advance(days=3)

    body = review(ports, original_id)

    repo = repo_of(ports)
    assert repo.writes == writes + 1  # one transaction: both tickets and both events
    new = repo.tickets[body["id"]]
    original = repo.tickets[original_id]
    assert (new.kind, new.queue, new.tier, new.priority, new.status) == (
        "complaint",
        "complaint-review",
        2,
        "high",
        Status.NEW,
    )
    assert (new.customer_id, new.category, new.description) == (
        "cust-1",
        "card",
        "I was not refunded the fee",
    )
    assert new.review_of == original_id and new.reviewed_by is None
    assert original.reviewed_by == new.id and original.review_of is None
    assert original.version == before.version + 1
    assert original.status == before.status  # the original stays as it was decided
    assert new.sla.resolution_due == ports.clock() + timedelta(days=30)
    assert body["complaint"] == {
        "business": "card",  # classified as the original was: the same matter
        "cause": "fees",
        "extensions": 0,
        "extension_requested": None,
        "clock_suspended": False,
        "review_of": original_id,
        "reviewed_by": None,
    }
    assert body["sla"]["resolution_due"] == (ports.clock() + timedelta(days=30)).isoformat()
    [created] = repo.events(new.id)
    assert created.type == EventType.TICKET_CREATED
    requested = repo.events(original_id)[-1]
    assert requested.type == "complaint.review_requested"
    assert requested.data == {"review_id": new.id, "reason": "I was not refunded the fee"}


def test_staff_may_ask_for_the_review_on_the_customers_behalf():
    ports = make_ports()
    original_id = concluded_complaint(ports)
    body = review(ports, original_id, FRESH)
    assert body["customer_id"] == "cust-1"


def test_the_review_is_refused_after_thirty_days_from_the_resolution():
    ports = make_ports()
    original_id = concluded_complaint(ports)
    clock_of(ports).advance(days=30)
    review(ports, original_id)  # exactly 30 days: still in time

    ports = make_ports()
    original_id = concluded_complaint(ports)
    clock_of(ports).advance(days=30, seconds=1)
    with pytest.raises(ReviewWindowClosedError):
        review(ports, original_id)
    assert repo_of(ports).tickets[original_id].reviewed_by is None


def test_one_review_per_complaint():
    ports = make_ports()
    original_id = concluded_complaint(ports)
    review(ports, original_id)
    with pytest.raises(ReviewExistsError):
        review(ports, original_id)
    with pytest.raises(ReviewExistsError):
        review(ports, original_id, FRESH)


def test_a_review_is_not_reviewed_again():
    ports = make_ports()
    first = review(ports, concluded_complaint(ports))["id"]
    act(ports, FRESH, first, "assign", {})
    act(ports, FRESH, first, "start", {})
    act(ports, FRESH, first, "resolve", {"resolution": "Upheld"})
    with pytest.raises(NotReviewableError):
        review(ports, first)


@pytest.mark.parametrize("status", ["new", "assigned", "in_progress", "waiting_on_customer"])
def test_an_open_complaint_has_no_review(status):
    ports = make_ports()
    ticket_id = opened(ports)
    repo = repo_of(ports)
    repo.tickets[ticket_id] = replace(repo.tickets[ticket_id], status=Status(status))
    with pytest.raises(NotReviewableError):
        review(ports, ticket_id)


def test_a_withdrawn_complaint_has_no_review():
    ports = make_ports()
    ticket_id = opened(ports)
    act(ports, OWNER, ticket_id, "cancel", {})
    with pytest.raises(NotReviewableError):
        review(ports, ticket_id)


def test_only_complaints_are_reviewed():
    ports = make_ports()
    ticket_id = opened(ports, replace(COMPLAINT, kind="consultation"))
    act(ports, HANDLER, ticket_id, "assign", {})
    act(ports, HANDLER, ticket_id, "start", {})
    act(ports, HANDLER, ticket_id, "resolve", {"resolution": "Answered"})
    with pytest.raises(NotReviewableError):
        review(ports, ticket_id)


def test_another_customer_gets_404_before_anything_else():
    ports = make_ports()
    original_id = concluded_complaint(ports)
    invalid = ValidationError([])
    with pytest.raises(NotFoundError):
        request_review(ports, STRANGER, original_id, "x", answer=Answer(render, invalid=invalid))
    with pytest.raises(NotFoundError):
        review(ports, "T-NOSUCH")


def test_auditors_may_not_ask_and_a_bad_body_is_400_after_the_role():
    ports = make_ports()
    original_id = concluded_complaint(ports)
    with pytest.raises(ForbiddenError):
        review(ports, original_id, AUDITOR)
    with pytest.raises(ValidationError):
        request_review(
            ports, OWNER, original_id, "", answer=Answer(render, invalid=ValidationError([]))
        )


def _key(body: str = "a") -> IdempotencyKey:
    return IdempotencyKey("customer:cust-1:review", "key-1", body)


def test_an_idempotent_retry_answers_the_first_response_and_writes_nothing():
    ports = make_ports()
    original_id = concluded_complaint(ports)
    first = request_review(ports, OWNER, original_id, "Why", answer=Answer(render, _key()))
    writes = repo_of(ports).writes
    again = request_review(ports, OWNER, original_id, "Why", answer=Answer(render, _key()))
    assert again == first
    assert repo_of(ports).writes == writes
    with pytest.raises(IdempotencyKeyReusedError):
        request_review(ports, OWNER, original_id, "Other", answer=Answer(render, _key("b")))


class RacingReviewRepository(InMemoryTicketRepository):
    """Another review lands between this request's read and its write."""

    def __init__(self) -> None:
        super().__init__()
        self.race: Any = None

    def commit_many(
        self, writes: list[TicketWrite], idempotency: IdempotencyRecord | None = None
    ) -> None:
        if self.race is not None:
            race, self.race = self.race, None
            race()
        super().commit_many(writes, idempotency)


def test_of_two_racing_reviews_one_wins_and_the_other_is_told_it_exists():
    repository = RacingReviewRepository()
    ports = make_ports(repository)
    original_id = concluded_complaint(ports)
    winner: dict[str, Any] = {}
    repository.race = lambda: winner.update(review(ports, original_id, FRESH))
    with pytest.raises(ReviewExistsError):
        review(ports, original_id)
    reviews = [t for t in repository.tickets.values() if t.review_of == original_id]
    assert [t.id for t in reviews] == [winner["id"]]
    assert repository.tickets[original_id].reviewed_by == winner["id"]


def test_a_review_opens_classified_and_may_be_resolved_as_such():
    ports = make_ports()
    review_id = reviewed(ports)
    act(ports, OTHER_SUPERVISOR, review_id, "assign", {})
    act(ports, OTHER_SUPERVISOR, review_id, "start", {})
    resolved = act(ports, OTHER_SUPERVISOR, review_id, "resolve", {"resolution": "Upheld"})
    assert resolved.status == Status.RESOLVED


def test_a_review_of_a_complaint_never_classified_must_be_classified_before_resolving():
    # A complaint concluded before classification existed has no complaint facts: its
    # review opens unclassified, and SPEC 13's 409 holds for it as for any complaint.
    ports = make_ports()
    original_id = concluded_complaint(ports)
    repository = repo_of(ports)
    repository.tickets[original_id] = replace(repository.tickets[original_id], complaint=None)
    review_id = review(ports, original_id)["id"]
    act(ports, OTHER_SUPERVISOR, review_id, "assign", {})
    act(ports, OTHER_SUPERVISOR, review_id, "start", {})
    with pytest.raises(ClassificationRequiredError):
        act(ports, OTHER_SUPERVISOR, review_id, "resolve", {"resolution": "Upheld"})
    act(ports, OTHER_SUPERVISOR, review_id, "classify", {"business": "card", "cause": "fees"})
    resolved = act(ports, OTHER_SUPERVISOR, review_id, "resolve", {"resolution": "Upheld"})
    assert resolved.status == Status.RESOLVED


# ----------------------------------------------------------------- recusal


def reviewed(ports: TicketPorts) -> str:
    return str(review(ports, concluded_complaint(ports))["id"])


def test_the_review_keeps_everyone_who_acted_on_the_original():
    ports = make_ports()
    review_id = reviewed(ports)
    assert repo_of(ports).tickets[review_id].recused == (
        "agent-handler",
        "agent-noter",
        "sup-1",
    )


def test_the_system_that_closed_the_original_still_closes_the_review():
    # The survey's expiry (or the sweep) closes tickets as the system: nobody to recuse.
    ports = make_ports()
    original = concluded_complaint(ports)
    act(ports, SYSTEM, original, "close", {})
    review_id = review(ports, original)["id"]
    assert "system" not in repo_of(ports).tickets[review_id].recused
    act(ports, OTHER_SUPERVISOR, review_id, "assign", {})
    act(ports, OTHER_SUPERVISOR, review_id, "start", {})
    act(ports, OTHER_SUPERVISOR, review_id, "resolve", {"resolution": "Refund confirmed"})

    closed = act(ports, SYSTEM, review_id, "close", {})

    assert closed.status == Status.CLOSED


def test_staff_once_assigned_to_the_original_are_recused_though_they_never_acted():
    # A supervisor assigns agent-x, then hands the complaint to the handler: agent-x
    # has an entry (assigned) on the original's timeline and may not take the review.
    ports = make_ports()
    ticket_id = opened(ports)
    act(ports, SUPERVISOR, ticket_id, "assign", {"assignee": "agent-x"})
    act(ports, SUPERVISOR, ticket_id, "assign", {"assignee": HANDLER.id})
    act(ports, HANDLER, ticket_id, "start", {})
    act(ports, HANDLER, ticket_id, "classify", {"business": "card", "cause": "fees"})
    act(ports, HANDLER, ticket_id, "resolve", {"resolution": "Refunded"})
    review_id = review(ports, ticket_id)["id"]

    assert "agent-x" in repo_of(ports).tickets[review_id].recused
    with pytest.raises(RecusalError):
        act(ports, Caller(Role.AGENT, "agent-x"), review_id, "assign", {})


def test_staff_escalated_away_from_the_original_are_recused():
    ports = make_ports()
    ticket_id = opened(ports)
    act(ports, SUPERVISOR, ticket_id, "assign", {"assignee": "agent-y"})
    act(ports, SUPERVISOR, ticket_id, "escalate", {"reason": "Tier 2"})  # agent-y never acted
    act(ports, OTHER_SUPERVISOR, ticket_id, "assign", {"assignee": HANDLER.id})
    act(ports, HANDLER, ticket_id, "start", {})
    act(ports, HANDLER, ticket_id, "classify", {"business": "card", "cause": "fees"})
    act(ports, HANDLER, ticket_id, "resolve", {"resolution": "Refunded"})

    recused = repo_of(ports).tickets[review(ports, ticket_id)["id"]].recused

    assert {"agent-y", HANDLER.id, SUPERVISOR.id, OTHER_SUPERVISOR.id} <= set(recused)


@pytest.mark.parametrize("staff", [HANDLER, NOTER, SUPERVISOR], ids=lambda c: c.id)
def test_who_acted_on_the_original_may_not_take_the_review(staff):
    ports = make_ports()
    review_id = reviewed(ports)
    with pytest.raises(RecusalError):
        act(ports, staff, review_id, "assign", {})
    with pytest.raises(RecusalError):
        act(ports, OTHER_SUPERVISOR, review_id, "assign", {"assignee": staff.id})
    assert repo_of(ports).tickets[review_id].assignee is None


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("start", {}),
        ("escalate", {"reason": "x"}),
        ("cancel", {}),
        ("extend", {"reason": "x"}),
        ("request_info", {"message": "x"}),
    ],
)
def test_who_acted_on_the_original_may_run_no_action_on_the_review(action, params):
    ports = make_ports()
    review_id = reviewed(ports)
    act(ports, OTHER_SUPERVISOR, review_id, "assign", {"assignee": FRESH.id})
    if action == "request_info":
        act(ports, FRESH, review_id, "start", {})
    with pytest.raises(RecusalError):
        act(ports, SUPERVISOR, review_id, action, params)


@pytest.mark.parametrize("internal", [False, True], ids=["comment", "note"])
def test_who_acted_on_the_original_may_not_comment_on_the_review(internal):
    ports = make_ports()
    review_id = reviewed(ports)
    with pytest.raises(RecusalError):
        comment(ports, NOTER, review_id, "I remember this one", internal, answer=Answer(_event))


def test_recusal_comes_before_a_bad_body():
    ports = make_ports()
    review_id = reviewed(ports)
    invalid = ValidationError([])
    with pytest.raises(RecusalError):
        comment(ports, NOTER, review_id, "", False, answer=Answer(_event, invalid=invalid))
    with pytest.raises(RecusalError):
        act(ports, HANDLER, review_id, "assign", {}, invalid=invalid)
    with pytest.raises(ValidationError):
        comment(ports, FRESH, review_id, "", False, answer=Answer(_event, invalid=invalid))


def test_someone_else_works_the_review_and_the_customer_still_comments():
    ports = make_ports()
    review_id = reviewed(ports)
    act(ports, FRESH, review_id, "assign", {})
    act(ports, FRESH, review_id, "start", {})
    comment(ports, OWNER, review_id, "Thank you", False, answer=Answer(_event))
    changed = act(ports, FRESH, review_id, "resolve", {"resolution": "Fee refunded"})
    assert changed.status == Status.RESOLVED


def test_a_recused_agent_claiming_the_review_queue_is_passed_over():
    ports = make_ports()
    review_id = reviewed(ports)
    assert claim(ports, HANDLER, "complaint-review") is None
    assert repo_of(ports).tickets[review_id].assignee is None
    claimed = claim(ports, FRESH, "complaint-review")
    assert claimed is not None and claimed.id == review_id


def test_recusal_is_a_403_named_recusal():
    assert issubclass(RecusalError, ForbiddenError)


def test_a_review_is_not_extended_keeps_its_30_days_after_a_suspension_and_needs_no_codes():
    ports = make_ports()
    review_id = reviewed(ports)
    act(ports, OTHER_SUPERVISOR, review_id, "assign", {})
    act(ports, OTHER_SUPERVISOR, review_id, "start", {})
    due = repo_of(ports).tickets[review_id].sla.resolution_due
    with pytest.raises(IllegalTransitionError):
        act(ports, OTHER_SUPERVISOR, review_id, "extend", {"reason": "More time"})
    act(
        ports,
        OTHER_SUPERVISOR,
        review_id,
        "suspend_clock",
        {"reason": "testing", "note": "Card scheme appraisal"},
    )
    clock_of(ports).advance(days=2)
    resumed = act(ports, OTHER_SUPERVISOR, review_id, "resume_clock", {})
    assert due is not None and resumed.sla.resolution_due == due + timedelta(days=2)
    done = act(ports, OTHER_SUPERVISOR, review_id, "resolve", {"resolution": "Upheld"})
    assert done.status == Status.RESOLVED
    # The decision on a review offers no further review: the plain resolved message.
    decided = repo_of(ports).events(review_id)[-1]
    assert template_for(decided) == "ticket.resolved"


def test_the_review_ticket_is_visible_to_the_owner_only_among_customers():
    ports = make_ports()
    review_id = reviewed(ports)
    with pytest.raises(NotFoundError):
        act(ports, STRANGER, review_id, "cancel", {})
    assert act(ports, OWNER, review_id, "cancel", {}).status == Status.CANCELLED
