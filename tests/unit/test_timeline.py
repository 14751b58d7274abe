"""Timeline visibility and actor masking (SPEC section 5, "Timeline entry")."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.events import CUSTOMER_VISIBLE_TYPES, Event, EventType
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.lifecycle import add_comment, apply_action
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket
from chalicelib.domain.timeline import event_view, visible_events
from chalicelib.service.ports import StartKey
from chalicelib.service.tickets import TicketPorts, timeline
from tests.fakes import FixedClock, InMemoryTicketRepository, SequentialIds

NOW = FixedClock().now
OWNER = Caller(Role.CUSTOMER, "cust-1")
STRANGER = Caller(Role.CUSTOMER, "cust-2")
AGENT = Caller(Role.AGENT, "agent-7f3a")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-91bd")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
STAFF = [AGENT, SUPERVISOR, AUDITOR]

# SPEC 5: what a customer sees on their own timeline (public comments only).
CUSTOMER_SEES = {
    "ticket.created",
    "ticket.status_changed",
    "comment.added",
    "notification.sent",
    "survey.invited",
    "survey.reminded",
    "survey.answered",
    "survey.expired",
    "appointment.booked",
    "appointment.rescheduled",
    "appointment.reminded",
}
STAFF_ONLY = {
    "ticket.assigned",
    "ticket.escalated",
    "sla.breached",
    "sla.extended",
    "notification.skipped",
    "notification.failed",
    "notification.unknown",
    "notification.opted_out",
}


def event(
    type_: str,
    actor: Caller = SYSTEM,
    number: int = 1,
    at: datetime = NOW,
    **data: Any,
) -> Event:
    return Event(f"E-{number:026d}", "T-1", EventType(type_), at, actor, data)


@pytest.mark.parametrize("type_", sorted(CUSTOMER_SEES - {"comment.added"}))
def test_customers_see_the_public_types(type_):
    shown = visible_events([event(type_)], OWNER)
    assert [e.type for e in shown] == [type_]


@pytest.mark.parametrize("type_", sorted(STAFF_ONLY))
def test_customers_do_not_see_staff_only_types(type_):
    assert visible_events([event(type_)], OWNER) == []


@pytest.mark.parametrize("type_", sorted(CUSTOMER_SEES | STAFF_ONLY))
@pytest.mark.parametrize("viewer", STAFF + [SYSTEM])
def test_staff_see_everything(viewer, type_):
    assert len(visible_events([event(type_)], viewer)) == 1


def test_customers_see_public_comments_but_never_internal_notes():
    public = event("comment.added", AGENT, 1, body="We are on it", internal=False)
    note = event("comment.added", AGENT, 2, body="Customer seems upset", internal=True)
    assert visible_events([public, note], OWNER) == [public]
    for viewer in STAFF:
        assert visible_events([public, note], viewer) == [public, note]


def test_visible_events_keep_their_order():
    events = [
        event("ticket.created", OWNER, 1),
        event("ticket.assigned", AGENT, 2),
        event("ticket.status_changed", AGENT, 3),
        event("notification.sent", SYSTEM, 4),
    ]
    assert [e.id for e in visible_events(events, OWNER)] == [
        events[0].id,
        events[2].id,
        events[3].id,
    ]


@pytest.mark.parametrize("staff_actor", [AGENT, SUPERVISOR, SYSTEM])
def test_customers_see_staff_actors_by_role_only(staff_actor):
    view = event_view(event("ticket.status_changed", staff_actor), OWNER)
    assert view["actor"] == {"role": staff_actor.role.value}


def test_customers_see_their_own_id_on_their_own_entries():
    view = event_view(event("comment.added", OWNER, body="Hi", internal=False), OWNER)
    assert view["actor"] == {"role": "customer", "id": OWNER.id}


@pytest.mark.parametrize("viewer", STAFF)
@pytest.mark.parametrize("actor", [OWNER, AGENT, SUPERVISOR, SYSTEM])
def test_staff_see_every_actor_with_their_id(viewer, actor):
    view = event_view(event("ticket.status_changed", actor), viewer)
    assert view["actor"] == {"role": actor.role.value, "id": actor.id}


def test_an_entry_has_the_spec_fields_and_an_rfc3339_time():
    at = NOW + timedelta(seconds=5, microseconds=123)
    view = event_view(event("ticket.status_changed", AGENT, 4, at, **{"from": "a"}), AGENT)
    assert set(view) == {"id", "type", "at", "actor", "data"}
    assert view["id"] == f"E-{4:026d}"
    assert view["type"] == "ticket.status_changed"
    assert view["data"] == {"from": "a"}
    assert view["at"] == "2026-11-27T02:30:05+00:00"
    assert datetime.fromisoformat(view["at"]) == at.replace(microsecond=0)


def test_status_changes_show_customers_the_request_info_message_and_the_resolution():
    asked = event("ticket.status_changed", AGENT, message="Send your ID", to="waiting_on_customer")
    solved = event("ticket.status_changed", AGENT, resolution="Card unblocked", to="resolved")
    assert event_view(asked, OWNER)["data"]["message"] == "Send your ID"
    assert event_view(solved, OWNER)["data"]["resolution"] == "Card unblocked"


def test_a_staff_note_on_an_approval_is_shown_to_staff_only():
    approved = event(
        "ticket.status_changed",
        SUPERVISOR,
        action="approve",
        outcome="approved",
        note="Internal: risk desk waived the DTI check",
        to="resolved",
    )
    assert "note" not in event_view(approved, OWNER)["data"]
    assert event_view(approved, OWNER)["data"]["outcome"] == "approved"
    assert event_view(approved, SUPERVISOR)["data"]["note"].startswith("Internal")


# ------------------------------------------------- a whole ticket life, as the customer sees it


def _life() -> tuple[Ticket, list[Event]]:
    """A ticket worked through the lifecycle by staff, with an internal note along the way."""
    request = TicketRequest("mobile", "consultation", "card", "Card blocked", "", None)
    ticket, created = open_ticket(
        request, OWNER, ticket_id="T-1", reference="SD-00000001", event_id="E-00", now=NOW
    )
    numbers = iter(range(1, 100))

    def ids() -> str:
        return f"E-{next(numbers):02d}"

    events = [created]
    steps: list[tuple[str, dict[str, Any], Caller]] = [
        ("assign", {}, AGENT),
        ("start", {}, AGENT),
        ("request_info", {"message": "Send your ID"}, AGENT),
    ]
    for action, params, caller in steps:
        ticket, new = apply_action(ticket, action, params, caller, now=NOW, new_event_id=ids)
        events += new
    changed, new = add_comment(ticket, "Here it is", False, OWNER, now=NOW, new_event_id=ids)
    assert changed is not None
    ticket, events = changed, events + new
    _, new = add_comment(ticket, "Check fraud log", True, AGENT, now=NOW, new_event_id=ids)
    events += new
    ticket, new = apply_action(
        ticket, "escalate", {"reason": "Needs card ops"}, AGENT, now=NOW, new_event_id=ids
    )
    events += new
    ticket, new = apply_action(
        ticket, "assign", {"assignee": "agent-ops"}, SUPERVISOR, now=NOW, new_event_id=ids
    )
    events += new
    ticket, new = apply_action(
        ticket, "resolve", {"resolution": "Unblocked"}, SUPERVISOR, now=NOW, new_event_id=ids
    )
    return ticket, events + new


def _after_the_life(ticket: Ticket) -> list[Event]:
    """The customer-visible entries the stream, the notifier and the survey add, with the
    data their producers write (`agent`: who resolved the ticket, for the reports)."""
    survey = f"{ticket.id}-r1"
    slot = {"branch_id": "BR-1", "slot_start": "2026-12-01T02:00:00Z", "slot_time": "10:00"}
    after: list[tuple[str, Caller, dict[str, Any]]] = [
        (
            "notification.sent",
            SYSTEM,
            {
                "channel": "sms",
                "template": "resolved",
                "to": "+86 138****8000",
                "source_event": "E-01",
                "provider_message_id": "m-1",
            },
        ),
        ("survey.invited", SYSTEM, {"survey_id": survey, "round": 1}),
        ("survey.reminded", SYSTEM, {"survey_id": survey, "round": 2}),
        (
            "survey.answered",
            OWNER,
            {"survey_id": survey, "score": 2, "agent": ticket.assignee, "comment": "Slow"},
        ),
        ("survey.expired", SYSTEM, {"survey_id": survey}),
        ("survey.skipped", SYSTEM, {"reason": "cooldown"}),
        ("appointment.booked", AGENT, slot),
        (
            "appointment.rescheduled",
            SUPERVISOR,
            {**slot, "action": "reschedule", "previous_slot_start": "2026-12-01T01:30:00Z"},
        ),
        ("appointment.reminded", SYSTEM, slot),
        ("document.added", OWNER, {"document_id": "D-1", "type": "id-card", "filename": "id.pdf"}),
        (
            "document.received",
            SYSTEM,
            {"document_id": "D-1", "type": "id-card", "status": "available"},
        ),
        (
            "document.reviewed",
            AGENT,
            {
                "action": "review_document",
                "document_id": "D-1",
                "type": "id-card",
                "verdict": "rejected",
                "reason": "Blurred",
            },
        ),
    ]
    return [
        Event(f"E-9{number}", ticket.id, EventType(type_), NOW, actor, data)
        for number, (type_, actor, data) in enumerate(after)
    ]


def test_a_customers_timeline_never_names_a_staff_member():
    ticket, events = _life()
    events += _after_the_life(ticket)
    assert {e.type for e in events} >= CUSTOMER_VISIBLE_TYPES  # every type a customer sees
    shown = [event_view(e, OWNER) for e in visible_events(events, OWNER)]
    text = json.dumps(shown)
    for staff_id in (AGENT.id, SUPERVISOR.id, "agent-ops"):
        assert staff_id not in text
    assert "agent" not in next(v for v in shown if v["type"] == "survey.answered")["data"]
    assert "Check fraud log" not in text
    # Assigning from new also writes a status change, so the customer sees that move;
    # the escalation and the re-assignment keep the status and stay hidden.
    assert [(v["type"], v["data"].get("from"), v["data"].get("to")) for v in shown[:7]] == [
        ("ticket.created", None, None),
        ("ticket.status_changed", "new", "assigned"),
        ("ticket.status_changed", "assigned", "in_progress"),
        ("ticket.status_changed", "in_progress", "waiting_on_customer"),
        ("comment.added", None, None),
        ("ticket.status_changed", "waiting_on_customer", "in_progress"),
        ("ticket.status_changed", "in_progress", "resolved"),
    ]
    assert shown[1]["data"] == {"action": "assign", "from": "new", "to": "assigned"}
    assert shown[1]["actor"] == {"role": "agent"}


def test_staff_see_the_whole_life_with_ids():
    _, events = _life()
    shown = [event_view(e, AUDITOR) for e in visible_events(events, AUDITOR)]
    assert len(shown) == len(events)
    text = json.dumps(shown)
    assert AGENT.id in text
    assert "Check fraud log" in text
    assert "ticket.escalated" in [v["type"] for v in shown]


# ------------------------------------------------- the timeline use case


def _ports_with_timeline() -> tuple[TicketPorts, Ticket, list[Event]]:
    repository = InMemoryTicketRepository()
    ports = TicketPorts(repository, SequentialIds(), FixedClock())
    request = TicketRequest("mobile", "consultation", "card", "Card blocked", "", None)
    ticket, created = open_ticket(
        request, OWNER, ticket_id="T-1", reference="SD-00000001", event_id="E-00", now=NOW
    )
    events = [
        created,
        event("ticket.assigned", AGENT, 1, assignee=AGENT.id),
        event("comment.added", AGENT, 2, body="note", internal=True),
        event("comment.added", AGENT, 3, body="public", internal=False),
        event("sla.breached", SYSTEM, 4, metric="first_response"),
        event("ticket.status_changed", AGENT, 5, to="in_progress"),
        event("notification.skipped", SYSTEM, 6, reason="opted_out"),
        event("notification.sent", SYSTEM, 7, channel="sms"),
    ]
    events = [replace(e, ticket_id=ticket.id) for e in events]
    repository.create(ticket, events)
    return ports, ticket, events


def _all_pages(ports: TicketPorts, caller: Caller, ticket_id: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    key: StartKey | None = None
    while True:
        page = timeline(ports, caller, ticket_id, limit, key)
        assert len(page.items) <= limit
        pages.append([e.id for e in page.items])
        key = page.next_key
        if key is None:
            return pages
        assert len(pages) < 20, "the timeline does not end"


def test_a_customer_pages_through_public_entries_only_without_gaps_or_repeats():
    ports, ticket, events = _ports_with_timeline()
    pages = _all_pages(ports, OWNER, ticket.id, 2)
    public = [events[i].id for i in (0, 3, 5, 7)]
    assert pages[0] == public[:2]  # full pages although hidden entries sit in between
    assert [i for page in pages for i in page] == public


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_staff_page_through_everything_oldest_first(limit):
    ports, ticket, events = _ports_with_timeline()
    pages = _all_pages(ports, AGENT, ticket.id, limit)
    assert [i for page in pages for i in page] == [e.id for e in events]


def test_another_customers_timeline_is_not_found():
    ports, ticket, _ = _ports_with_timeline()
    with pytest.raises(NotFoundError):
        timeline(ports, STRANGER, ticket.id, 20, None)


def test_customers_see_why_no_survey_came():
    """SPEC 5: customers see `survey.*`, so also `survey.skipped` and its reason."""
    ticket, events = _life()
    events += _after_the_life(ticket)
    shown = [event_view(e, OWNER) for e in visible_events(events, OWNER)]
    skipped = [entry for entry in shown if entry["type"] == "survey.skipped"]
    assert [entry["data"] for entry in skipped] == [{"reason": "cooldown"}]
