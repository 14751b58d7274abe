"""The ticket lifecycle against SPEC section 5, decided from a table written here.

The expectation table below is transcribed from SPEC (lifecycle table and role
table) and the documented design decisions, never derived from `RULES`, so a
wrong rule in the code makes these tests fail.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.bootstrap import load_complaint_codes
from chalicelib.domain.complaints import Complaint
from chalicelib.domain.errors import ForbiddenError, IllegalTransitionError, ValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.lifecycle import ACTIONS, add_comment, apply_action
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Sla, Ticket, open_ticket
from tests.fakes import FixedClock, card_request

NOW = FixedClock().now
LATER = NOW + timedelta(hours=3)

CODES = load_complaint_codes()
OWNER = Caller(Role.CUSTOMER, "cust-1")
HOLDER = Caller(Role.AGENT, "agent-holder")  # the ticket's assignee (once it has one)
OTHER_AGENT = Caller(Role.AGENT, "agent-other")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")

# Caller kinds of the exhaustive test.
CALLERS = {
    "owner": OWNER,
    "assignee_agent": HOLDER,
    "other_agent": OTHER_AGENT,
    "supervisor": SUPERVISOR,
    "auditor": AUDITOR,
    "system": SYSTEM,
}

STATUSES = (
    "new",
    "assigned",
    "in_progress",
    "waiting_on_customer",
    "resolved",
    "closed",
    "cancelled",
)
OPEN = frozenset({"new", "assigned", "in_progress", "waiting_on_customer"})
AGENTS_AND_SUPERVISORS = frozenset({"assignee_agent", "other_agent", "supervisor"})
WORKERS = frozenset({"assignee_agent", "supervisor"})  # "assignee, supervisors"

# SPEC 5 lifecycle table: action -> (from statuses, to status or None = same, who).
EXPECTED_RULES: dict[str, tuple[frozenset[str], str | None, frozenset[str]]] = {
    "assign": (frozenset({"new", "assigned"}), "assigned", AGENTS_AND_SUPERVISORS),
    "start": (frozenset({"assigned"}), "in_progress", WORKERS),
    "request_info": (frozenset({"in_progress"}), "waiting_on_customer", WORKERS),
    "resume": (frozenset({"waiting_on_customer"}), "in_progress", WORKERS),
    "resolve": (frozenset({"in_progress"}), "resolved", WORKERS),
    # "owner, staff": staff who work tickets; auditors are read-only.
    "reopen": (frozenset({"resolved"}), "in_progress", AGENTS_AND_SUPERVISORS | {"owner"}),
    # "supervisors; the survey workflow" (which acts as `system`).
    "close": (frozenset({"resolved"}), "closed", frozenset({"supervisor", "system"})),
    "cancel": (OPEN, "cancelled", AGENTS_AND_SUPERVISORS | {"owner"}),
    "escalate": (OPEN, None, AGENTS_AND_SUPERVISORS),
    "extend": (OPEN, None, frozenset({"supervisor"})),
    "reschedule": (OPEN, None, AGENTS_AND_SUPERVISORS | {"owner"}),
    # SPEC 11 (applications): "in_progress", "assignee, supervisors".
    "review_document": (frozenset({"in_progress"}), None, WORKERS),
    "approve": (frozenset({"in_progress"}), "resolved", WORKERS),
    "reject": (frozenset({"in_progress"}), "resolved", WORKERS),
    # SPEC 13: "classify (agents+, any open complaint)"; suspend and resume: supervisors.
    "classify": (OPEN, None, AGENTS_AND_SUPERVISORS),
    "suspend_clock": (OPEN, None, frozenset({"supervisor"})),
    "resume_clock": (OPEN, None, frozenset({"supervisor"})),
    # SPEC 13: "merge {into} (agents+) on an open ticket"; the source closes.
    "merge": (OPEN, "closed", AGENTS_AND_SUPERVISORS),
}

# The event each action writes (SPEC 5 "Timeline entry"); the others move the status.
OWN_EVENT = {
    "assign": "ticket.assigned",
    "escalate": "ticket.escalated",
    "extend": "sla.extended",
    "reschedule": "appointment.rescheduled",
    "review_document": "document.reviewed",
    "classify": "complaint.classified",
    "suspend_clock": "complaint.clock_suspended",
    "resume_clock": "complaint.clock_resumed",
}
STATUS_CHANGED = "ticket.status_changed"

SLOT_START = "2026-12-01T10:00:00+08:00"


def make_ticket(
    status: str = "new",
    *,
    kind: str = "consultation",
    category: str = "card",
    assignee: str | None = None,
    **changes: Any,
) -> Ticket:
    request = card_request(kind=kind, category=category)
    ticket, _ = open_ticket(
        request, OWNER, ticket_id="T-1", reference="SD-00000001", event_id="E-0", now=NOW
    )
    if kind == "appointment":
        changes.setdefault(
            "appointment",
            {
                "branch_id": "b-1",
                "slot_start": "2026-11-30T10:00:00+08:00",
                "slot_end": "2026-11-30T10:30:00+08:00",
            },
        )
    return replace(ticket, status=Status(status), assignee=assignee, **changes)


def held_ticket(status: str, **changes: Any) -> Ticket:
    """A realistic ticket in `status`: from `assigned` on, HOLDER holds it."""
    return make_ticket(status, assignee=None if status == "new" else HOLDER.id, **changes)


class EventIds:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"E-{self.count}"


def run(
    ticket: Ticket, action: str, params: dict[str, Any], caller: Caller
) -> tuple[Ticket, list[Event]]:
    return apply_action(
        ticket, action, params, caller, now=LATER, new_event_id=EventIds(), codes=CODES
    )


def comment(
    ticket: Ticket, caller: Caller, *, internal: bool = False, body: str = "Hello"
) -> tuple[Ticket | None, list[Event]]:
    return add_comment(ticket, body, internal, caller, now=LATER, new_event_id=EventIds())


def valid_params(action: str, caller: Caller) -> dict[str, Any]:
    if action == "assign":
        if caller.role is Role.AGENT:
            return {"assignee": caller.id}
        if caller.role is Role.SUPERVISOR:
            return {"assignee": "agent-chosen"}
        return {}
    return {
        "request_info": {"message": "Please send your ID card photo"},
        "resolve": {"resolution": "Card unblocked"},
        "reopen": {"reason": "Still blocked"},
        "cancel": {"reason": "No longer needed"},
        "escalate": {"reason": "Needs tier 2"},
        "extend": {"reason": "Awaiting card network"},
        "reschedule": {"slot_start": SLOT_START},
        "review_document": {"document_id": "D-1", "verdict": "accepted", "reason": "Clear"},
        "reject": {"reason": "Income too low"},
        "classify": {"business": "card", "cause": "fees"},
        "suspend_clock": {"reason": "external_appraisal", "note": "Card scheme appraisal"},
        "merge": {"into": "T-2"},
    }.get(action, {})


COMPLAINT_ACTIONS = ("extend", "classify", "suspend_clock", "resume_clock")


def kind_for(action: str) -> str:
    if action in COMPLAINT_ACTIONS:
        return "complaint"
    return {
        "reschedule": "appointment",
        "approve": "application",
        "reject": "application",
        "review_document": "application",
    }.get(action, "consultation")


def state_for(action: str) -> dict[str, Any]:
    """What the ticket needs besides its status for the action to be possible."""
    return {"complaint": Complaint(suspended_at=NOW)} if action == "resume_clock" else {}


def expected_outcome(action: str, status: str, caller_kind: str, params_valid: bool) -> str:
    """SPEC 3 order: role / not the assignee (403), then parameters (400), then status (409)."""
    sources, _, who = EXPECTED_RULES[action]
    if caller_kind == "assignee_agent" and status == "new":
        caller_kind = "other_agent"  # a new ticket has no assignee yet
    if caller_kind not in who:
        return "forbidden"
    if not params_valid:
        return "invalid"
    if status not in sources:
        return "illegal"
    if action == "assign" and status not in ("new", "assigned"):
        return "illegal"
    return "ok"


def expected_status(action: str, status: str) -> str:
    target = EXPECTED_RULES[action][1]
    return target or status


def expected_event_types(action: str, status: str) -> list[str]:
    """The action's own event, then a status change when an action with its own event moved it.

    Design decision: customers never see `ticket.assigned` / `ticket.escalated`, so
    the status move those actions make is written as a `ticket.status_changed` too.
    """
    own = OWN_EVENT.get(action, STATUS_CHANGED)
    moved = own != STATUS_CHANGED and expected_status(action, status) != status
    return [own, STATUS_CHANGED] if moved else [own]


OUTCOME_ERRORS: dict[str, type[Exception]] = {
    "forbidden": ForbiddenError,
    "invalid": ValidationError,
    "illegal": IllegalTransitionError,
}


def test_the_table_here_covers_every_action_the_code_knows():
    assert set(ACTIONS) == set(EXPECTED_RULES)


@pytest.mark.parametrize("params_valid", [True, False], ids=["valid", "unknown-param"])
@pytest.mark.parametrize("caller_kind", list(CALLERS))
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(EXPECTED_RULES))
def test_every_action_from_every_status_by_every_caller(action, status, caller_kind, params_valid):
    caller = CALLERS[caller_kind]
    ticket = held_ticket(status, kind=kind_for(action), **state_for(action))
    params = valid_params(action, caller)
    if not params_valid:
        params = {**params, "priority": "urgent"}
    outcome = expected_outcome(action, status, caller_kind, params_valid)

    if outcome != "ok":
        with pytest.raises(OUTCOME_ERRORS[outcome]) as raised:
            run(ticket, action, params, caller)
        assert type(raised.value) is OUTCOME_ERRORS[outcome]
        if isinstance(raised.value, ValidationError):
            assert "priority" in [error.path for error in raised.value.errors]
        return

    changed, events = run(ticket, action, params, caller)
    assert changed.status == expected_status(action, status)
    assert changed.version == ticket.version + 1
    assert changed.updated_at == LATER
    assert [event.type for event in events] == expected_event_types(action, status)
    assert events[0].data["action"] == action
    if len(events) == 2:
        assert events[1].data == {"action": action, "from": status, "to": changed.status}
    assert len({event.id for event in events}) == len(events)
    for event in events:
        assert (event.ticket_id, event.actor, event.at) == (ticket.id, caller, LATER)


@pytest.mark.parametrize("status", ["in_progress", "waiting_on_customer"])
@pytest.mark.parametrize("caller_kind", list(CALLERS))
def test_an_escalated_unassigned_ticket_can_be_assigned_and_keeps_its_status(status, caller_kind):
    caller = CALLERS[caller_kind]
    ticket = make_ticket(status, assignee=None, tier=2, queue="tier2")
    if caller_kind not in AGENTS_AND_SUPERVISORS:
        with pytest.raises(ForbiddenError):
            run(ticket, "assign", valid_params("assign", caller), caller)
        return
    changed, [event] = run(ticket, "assign", valid_params("assign", caller), caller)
    assert changed.status == status
    assert changed.assignee == ("agent-chosen" if caller is SUPERVISOR else caller.id)
    assert event.type == "ticket.assigned"


# ---------------------------------------------------------------- parameters


REQUIRED = [
    ("request_info", "in_progress", "message"),
    ("resolve", "in_progress", "resolution"),
    ("escalate", "in_progress", "reason"),
    ("extend", "in_progress", "reason"),
    ("reschedule", "in_progress", "slot_start"),
    ("suspend_clock", "in_progress", "reason"),
    ("suspend_clock", "in_progress", "note"),  # SPEC 13: {reason, note}
]


@pytest.mark.parametrize("blank", [None, "", "   "], ids=["missing", "empty", "spaces"])
@pytest.mark.parametrize(("action", "status", "field"), REQUIRED)
def test_a_required_parameter_missing_or_blank_is_a_validation_error_naming_it(
    action, status, field, blank
):
    ticket = held_ticket(status, kind=kind_for(action))
    params = dict(valid_params(action, SUPERVISOR))
    params.pop(field)
    if blank is not None:
        params[field] = blank
    with pytest.raises(ValidationError) as raised:
        run(ticket, action, params, SUPERVISOR)
    assert [error.path for error in raised.value.errors] == [field]


@pytest.mark.parametrize(("action", "status"), [("cancel", "new"), ("reopen", "resolved")])
def test_reason_is_optional_for_cancel_and_reopen(action, status):
    changed, [event] = run(held_ticket(status), action, {}, OWNER)
    assert changed.status == EXPECTED_RULES[action][1]
    assert "reason" not in event.data


@pytest.mark.parametrize(
    ("action", "status", "params", "unknown"),
    [
        ("start", "assigned", {"message": "hi"}, "message"),
        ("close", "resolved", {"reason": "done"}, "reason"),
        ("resolve", "in_progress", {"resolution": "ok", "assignee": "a"}, "assignee"),
        ("assign", "new", {"reason": "mine"}, "reason"),
    ],
)
def test_a_parameter_the_action_does_not_take_is_a_validation_error(
    action, status, params, unknown
):
    with pytest.raises(ValidationError) as raised:
        run(held_ticket(status), action, params, SUPERVISOR)
    assert [error.path for error in raised.value.errors] == [unknown]


def test_an_unknown_action_is_a_validation_error_on_action():
    with pytest.raises(ValidationError) as raised:
        run(held_ticket("new"), "delete", {}, SUPERVISOR)
    assert [error.path for error in raised.value.errors] == ["action"]


def test_the_role_check_comes_before_the_parameters_and_the_status():
    # A customer may not resolve: 403, although params are missing and the status is wrong.
    with pytest.raises(ForbiddenError):
        run(held_ticket("closed"), "resolve", {}, OWNER)


def test_the_parameters_are_checked_before_the_status():
    with pytest.raises(ValidationError):
        run(held_ticket("closed"), "resolve", {}, SUPERVISOR)


def test_an_agent_who_is_not_the_assignee_may_not_work_the_ticket():
    with pytest.raises(ForbiddenError, match="assignee"):
        run(held_ticket("assigned"), "start", {}, OTHER_AGENT)


def test_another_customer_is_not_the_owner():
    stranger = Caller(Role.CUSTOMER, "cust-2")
    with pytest.raises(ForbiddenError):
        run(held_ticket("new"), "cancel", {}, stranger)


# ---------------------------------------------------------------- assign


@pytest.mark.parametrize("status", ["new", "assigned"])
def test_agents_may_assign_only_to_themselves(status):
    with pytest.raises(ForbiddenError):
        run(held_ticket(status), "assign", {"assignee": "agent-friend"}, OTHER_AGENT)


@pytest.mark.parametrize("params", [{}, {"assignee": "agent-other"}])
def test_an_agent_assigning_without_naming_anyone_or_naming_self_gets_the_ticket(params):
    changed, [assigned, moved] = run(held_ticket("new"), "assign", params, OTHER_AGENT)
    assert (changed.status, changed.assignee) == ("assigned", OTHER_AGENT.id)
    assert (assigned.type, moved.type) == ("ticket.assigned", "ticket.status_changed")
    assert assigned.data["assignee"] == OTHER_AGENT.id


def test_an_agent_may_take_over_an_assigned_ticket_for_themselves():
    changed, [event] = run(held_ticket("assigned"), "assign", {}, OTHER_AGENT)
    assert changed.assignee == OTHER_AGENT.id
    assert event.data["assignee"] == OTHER_AGENT.id
    assert event.data["previous"] == HOLDER.id


def test_supervisors_may_assign_to_anyone():
    changed, [event] = run(held_ticket("assigned"), "assign", {"assignee": "agent-x"}, SUPERVISOR)
    assert (changed.status, changed.assignee) == ("assigned", "agent-x")
    assert event.data["assignee"] == "agent-x"


def test_assign_from_new_records_the_status_change():
    changed, events = run(held_ticket("new"), "assign", {}, OTHER_AGENT)
    assert changed.version == 2  # two events, one change to the ticket
    assert [(event.id, event.type) for event in events] == [
        ("E-1", "ticket.assigned"),
        ("E-2", "ticket.status_changed"),
    ]
    assigned, moved = events
    assert assigned.data == {
        "action": "assign",
        "assignee": OTHER_AGENT.id,
        "previous": None,
        "from": "new",
        "to": "assigned",
    }
    assert moved.data == {"action": "assign", "from": "new", "to": "assigned"}
    for event in events:
        assert (event.ticket_id, event.actor, event.at) == ("T-1", OTHER_AGENT, LATER)


@pytest.mark.parametrize("caller", [OTHER_AGENT, SUPERVISOR])
def test_assign_that_keeps_the_status_writes_only_the_assignment(caller):
    params = {} if caller is OTHER_AGENT else {"assignee": "agent-x"}
    changed, events = run(held_ticket("assigned"), "assign", params, caller)
    assert changed.status == "assigned"
    assert [event.type for event in events] == ["ticket.assigned"]
    assert "from" not in events[0].data


@pytest.mark.parametrize("status", ["in_progress", "waiting_on_customer"])
def test_a_held_ticket_past_assigned_cannot_be_reassigned(status):
    with pytest.raises(IllegalTransitionError) as raised:
        run(held_ticket(status), "assign", {"assignee": "agent-x"}, SUPERVISOR)
    assert raised.value.status == status


# ---------------------------------------------------------------- versions and events


@pytest.mark.parametrize(
    ("action", "status", "caller", "event_ids"),
    [
        ("assign", "new", OTHER_AGENT, ["E-1", "E-2"]),  # ticket.assigned + status change
        ("assign", "assigned", SUPERVISOR, ["E-1"]),
        ("start", "assigned", HOLDER, ["E-1"]),
        ("request_info", "in_progress", HOLDER, ["E-1"]),
        ("resume", "waiting_on_customer", HOLDER, ["E-1"]),
        ("resolve", "in_progress", HOLDER, ["E-1"]),
        ("reopen", "resolved", OWNER, ["E-1"]),
        ("close", "resolved", SUPERVISOR, ["E-1"]),
        ("cancel", "waiting_on_customer", OWNER, ["E-1"]),
        ("escalate", "assigned", HOLDER, ["E-1"]),  # SPEC: the status stays
        ("escalate", "in_progress", HOLDER, ["E-1"]),
        ("extend", "assigned", SUPERVISOR, ["E-1"]),
        ("reschedule", "new", OWNER, ["E-1"]),
        ("classify", "waiting_on_customer", OTHER_AGENT, ["E-1"]),
        ("suspend_clock", "in_progress", SUPERVISOR, ["E-1"]),
        ("resume_clock", "in_progress", SUPERVISOR, ["E-1"]),
    ],
)
def test_every_action_raises_the_version_by_exactly_one_and_leaves_the_input_alone(
    action, status, caller, event_ids
):
    ticket = replace(held_ticket(status, kind=kind_for(action), **state_for(action)), version=7)
    changed, events = run(ticket, action, valid_params(action, caller), caller)
    assert changed.version == 8
    assert ticket.version == 7
    assert ticket.status == status
    assert [event.id for event in events] == event_ids
    assert [event.data["action"] for event in events] == [action] * len(event_ids)


@pytest.mark.parametrize(
    ("action", "status", "caller", "target"),
    [
        ("start", "assigned", HOLDER, "in_progress"),
        ("request_info", "in_progress", HOLDER, "waiting_on_customer"),
        ("resume", "waiting_on_customer", SUPERVISOR, "in_progress"),
        ("resolve", "in_progress", SUPERVISOR, "resolved"),
        ("reopen", "resolved", OWNER, "in_progress"),
        ("close", "resolved", SYSTEM, "closed"),
        ("cancel", "assigned", OTHER_AGENT, "cancelled"),
    ],
)
def test_status_moves_write_status_changed_with_from_and_to(action, status, caller, target):
    _, [event] = run(held_ticket(status), action, valid_params(action, caller), caller)
    assert event.type == "ticket.status_changed"
    assert (event.data["from"], event.data["to"]) == (status, target)


def test_request_info_and_resolve_carry_their_text_for_the_customer():
    _, [asked] = run(held_ticket("in_progress"), "request_info", {"message": "ID?"}, HOLDER)
    _, [solved] = run(held_ticket("in_progress"), "resolve", {"resolution": "Done"}, HOLDER)
    assert asked.data["message"] == "ID?"
    assert solved.data["resolution"] == "Done"


def test_cancel_and_reopen_carry_the_reason_when_given():
    _, [cancelled] = run(held_ticket("new"), "cancel", {"reason": "Sorted"}, OWNER)
    _, [reopened] = run(held_ticket("resolved"), "reopen", {"reason": "Back"}, OWNER)
    assert cancelled.data["reason"] == "Sorted"
    assert reopened.data["reason"] == "Back"


def test_resolving_counts_resolutions():
    ticket = replace(held_ticket("in_progress"), resolutions=1)
    changed, [event] = run(ticket, "resolve", {"resolution": "Again"}, HOLDER)
    assert changed.resolutions == 2
    assert event.data["resolution_count"] == 2


# ---------------------------------------------------------------- escalate


@pytest.mark.parametrize(
    ("status", "after"),
    [
        ("new", "new"),
        ("assigned", "assigned"),
        ("in_progress", "in_progress"),
        ("waiting_on_customer", "waiting_on_customer"),
    ],
)
def test_escalate_raises_the_tier_moves_queue_and_clears_the_assignee(status, after):
    ticket = held_ticket(status)
    changed, events = run(ticket, "escalate", {"reason": "Hard"}, SUPERVISOR)
    assert (changed.tier, changed.queue, changed.assignee, changed.status) == (
        2,
        "tier2",
        None,
        after,
    )
    escalated, *moved = events
    assert escalated.type == "ticket.escalated"
    assert escalated.data == {
        "action": "escalate",
        "reason": "Hard",
        "tier": 2,
        "queue": "tier2",
        "previous_assignee": ticket.assignee,
    }
    if after == status:
        assert moved == []
    else:
        [status_changed] = moved
        assert status_changed.type == "ticket.status_changed"
        assert status_changed.data == {"action": "escalate", "from": status, "to": after}
        assert status_changed.id != escalated.id
        assert (status_changed.actor, status_changed.at) == (SUPERVISOR, LATER)


def test_escalate_from_tier_two_goes_to_tier_three():
    ticket = held_ticket("in_progress", tier=2, queue="tier2")
    changed, [event] = run(ticket, "escalate", {"reason": "Harder"}, SUPERVISOR)
    assert (changed.tier, changed.queue) == (3, "tier3")
    assert (event.data["tier"], event.data["queue"]) == (3, "tier3")


@pytest.mark.parametrize("status", sorted(OPEN))
def test_escalate_at_tier_three_is_an_illegal_transition(status):
    ticket = held_ticket(status, tier=3, queue="tier3")
    with pytest.raises(IllegalTransitionError):
        run(ticket, "escalate", {"reason": "Hardest"}, SUPERVISOR)


@pytest.mark.parametrize(
    ("before", "after"),
    [("low", "high"), ("normal", "high"), ("high", "high"), ("urgent", "urgent")],
)
def test_escalate_makes_priority_at_least_high_and_never_lowers_urgent(before, after):
    ticket = held_ticket("in_progress", priority=before)
    changed, _ = run(ticket, "escalate", {"reason": "Hard"}, HOLDER)
    assert changed.priority == after


# ---------------------------------------------------------------- extend / reschedule


def test_the_first_extend_makes_the_regulatory_deadline_30_days_from_receipt():
    # The SLA module starts the clock; here the complaint simply has its deadline.
    deadline = datetime(2026, 12, 12, 2, 30, tzinfo=UTC)
    ticket = held_ticket("in_progress", kind="complaint")
    ticket = replace(ticket, sla=replace(ticket.sla, resolution_due=deadline))
    changed, [event] = run(ticket, "extend", {"reason": "Card network"}, SUPERVISOR)
    assert changed.sla.resolution_due == ticket.received_at + timedelta(days=30)
    assert event.type == "sla.extended"
    assert event.data["reason"] == "Card network"
    assert event.data["resolution_due"] == changed.sla.resolution_due.isoformat()


def test_a_third_extend_is_refused():
    ticket = held_ticket("in_progress", kind="complaint", complaint=Complaint(extensions=2))
    with pytest.raises(IllegalTransitionError, match="already extended 2 times"):
        run(ticket, "extend", {"reason": "Thrice"}, SUPERVISOR)


@pytest.mark.parametrize("action", COMPLAINT_ACTIONS)
@pytest.mark.parametrize("kind", ["consultation", "application", "appointment"])
def test_complaint_actions_are_only_for_complaints(kind, action):
    ticket = held_ticket("in_progress", kind=kind, **state_for(action))
    with pytest.raises(IllegalTransitionError):
        run(ticket, action, valid_params(action, SUPERVISOR), SUPERVISOR)


def test_reschedule_records_the_new_slot():
    ticket = held_ticket("new", kind="appointment")
    changed, [event] = run(ticket, "reschedule", {"slot_start": SLOT_START}, OWNER)
    assert changed.appointment is not None
    assert changed.appointment["slot_start"] == SLOT_START
    assert changed.appointment["branch_id"] == "b-1"
    assert event.type == "appointment.rescheduled"
    assert changed.status == "new"


@pytest.mark.parametrize("kind", ["consultation", "application", "complaint"])
def test_reschedule_is_only_for_appointments(kind):
    with pytest.raises(IllegalTransitionError):
        run(held_ticket("new", kind=kind), "reschedule", {"slot_start": SLOT_START}, OWNER)


# ---------------------------------------------------------------- SLA effects


def test_request_info_pauses_the_clock_and_is_the_first_response():
    changed, _ = run(held_ticket("in_progress"), "request_info", {"message": "ID?"}, HOLDER)
    assert changed.sla.paused is True
    assert changed.sla.first_responded_at == LATER


def test_request_info_keeps_an_earlier_first_response():
    earlier = NOW + timedelta(minutes=5)
    ticket = held_ticket("in_progress", sla=Sla(first_responded_at=earlier))
    changed, _ = run(ticket, "request_info", {"message": "ID?"}, HOLDER)
    assert changed.sla.first_responded_at == earlier


def test_resume_restarts_the_clock():
    ticket = held_ticket("waiting_on_customer", sla=Sla(paused=True))
    changed, _ = run(ticket, "resume", {}, HOLDER)
    assert changed.sla.paused is False


# ---------------------------------------------------------------- comments


def test_a_customer_reply_while_waiting_puts_the_ticket_back_in_progress():
    ticket = held_ticket("waiting_on_customer", sla=Sla(paused=True, first_responded_at=NOW))
    changed, events = comment(ticket, OWNER, body="Here it is")
    assert changed is not None
    assert (changed.status, changed.sla.paused, changed.version) == ("in_progress", False, 2)
    assert [event.type for event in events] == ["comment.added", "ticket.status_changed"]
    assert events[0].data == {"body": "Here it is", "internal": False}
    assert (events[1].data["from"], events[1].data["to"]) == ("waiting_on_customer", "in_progress")
    assert len({event.id for event in events}) == 2


@pytest.mark.parametrize("status", ["new", "assigned", "in_progress", "resolved"])
def test_a_customer_comment_otherwise_changes_nothing_but_the_timeline(status):
    changed, events = comment(held_ticket(status), OWNER)
    assert changed is None
    assert [event.type for event in events] == ["comment.added"]


@pytest.mark.parametrize("staff", [HOLDER, OTHER_AGENT, SUPERVISOR])
def test_the_first_public_staff_comment_is_the_first_response(staff):
    changed, events = comment(held_ticket("in_progress"), staff)
    assert changed is not None
    assert changed.sla.first_responded_at == LATER
    assert changed.version == 2
    assert changed.status == "in_progress"
    assert [event.type for event in events] == ["comment.added"]


def test_a_later_staff_comment_changes_nothing_but_the_timeline():
    ticket = held_ticket("in_progress", sla=Sla(first_responded_at=NOW))
    changed, _ = comment(ticket, HOLDER)
    assert changed is None


def test_an_internal_note_is_not_a_first_response():
    changed, [event] = comment(held_ticket("in_progress"), HOLDER, internal=True)
    assert changed is None
    assert event.data["internal"] is True


def test_a_customer_may_not_write_an_internal_note():
    with pytest.raises(ValidationError) as raised:
        comment(held_ticket("in_progress"), OWNER, internal=True)
    assert [error.path for error in raised.value.errors] == ["internal"]


def test_a_customers_internal_note_on_a_closed_ticket_is_400_before_409():
    with pytest.raises(ValidationError):
        comment(held_ticket("closed"), OWNER, internal=True)


@pytest.mark.parametrize(
    ("status", "caller"),
    list(itertools.product(["closed", "cancelled"], [OWNER, HOLDER, SUPERVISOR])),
)
def test_no_comment_on_a_closed_or_cancelled_ticket(status, caller):
    with pytest.raises(IllegalTransitionError) as raised:
        comment(held_ticket(status), caller)
    assert raised.value.status == status


@pytest.mark.parametrize("caller", [AUDITOR, SYSTEM, Caller(Role.CUSTOMER, "cust-2")])
def test_auditors_system_and_strangers_may_not_comment(caller):
    with pytest.raises(ForbiddenError):
        comment(held_ticket("in_progress"), caller)
