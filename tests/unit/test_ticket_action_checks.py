"""An action or comment on a ticket through the service, with the in-memory fakes: the
order of its checks (SPEC 3: 404, then 403, then 400, then 409) and its one write."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import FieldError, ForbiddenError, NotFoundError, ValidationError
from chalicelib.service.tickets import Answer, act, comment
from tests.unit.ticket_support import (
    AUDITOR,
    HOLDER,
    OTHER_AGENT,
    OWNER,
    STRANGER,
    make_ports,
    render_event,
    repo_of,
    seed,
)


def invalid_body() -> ValidationError:
    return ValidationError([FieldError("resolution", "is too long")])


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
