"""Event payloads: what the writers store (key for key, in order) and how it reads back.

The stored `data` map is what the stream carries and the timeline shows as JSON,
so its keys and their order are part of the contract: the expected JSON below
is what the writers produced before payloads were typed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.bootstrap import load_complaint_codes
from chalicelib.domain.complaints import Complaint, Conclusion, ExtensionRequest
from chalicelib.domain.events import (
    PAYLOADS,
    AppointmentBooked,
    AppointmentReminded,
    AppointmentRescheduled,
    AppointmentSlot,
    CommentAdded,
    Event,
    EventType,
    NotificationFailed,
    NotificationSent,
    NotificationSkipped,
    NotificationUnknown,
    Payload,
    SlaBreached,
    StatusChanged,
    SurveyAnswered,
    SurveyEvent,
    SurveyExpired,
    SurveyInvited,
    SurveyReminded,
    SurveySkipped,
    TicketCreated,
    payload_of,
)
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.lifecycle import add_comment, apply_action
from chalicelib.domain.privacy import anonymization_event
from chalicelib.domain.sla import record_breaches
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.ticket import Sla, Ticket, TicketRequest, open_ticket
from tests.fakes import FixedClock

NOW = FixedClock().now
OWNER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
BRANCH_NAME = {"zh-CN": "中关村支行", "en-US": "Zhongguancun"}
SLOT: dict[str, Any] = {
    "branch_id": "b-1",
    "slot_start": "2026-12-01T02:00:00+00:00",
    "slot_end": "2026-12-01T02:30:00+00:00",
    "slot_time": "2026-12-01 10:00",
    "timezone": "Asia/Shanghai",
    "branch_name": BRANCH_NAME,
}


def _ticket(status: Status = Status.NEW, *, kind: str = "complaint", **changes: Any) -> Ticket:
    request = TicketRequest("web", kind, "card", "Card blocked", "", None)
    ticket, _ = open_ticket(
        request, OWNER, ticket_id="T-1", reference="SD-00000001", event_id="E-0", now=NOW
    )
    return replace(ticket, status=status, **changes)


def _ids() -> Any:
    numbers = iter(range(1, 100))
    return lambda: f"E-{next(numbers)}"


def _act(ticket: Ticket, action: str, caller: Caller, **params: Any) -> list[Event]:
    _, events = apply_action(
        ticket, action, params, caller, now=NOW, new_event_id=_ids(), codes=CODES
    )
    return events


def _stored(events: list[Event]) -> list[tuple[str, str]]:
    """What each event stores: its type and its data as the timeline's JSON shows it."""
    return [(str(event.type), json.dumps(event.data, ensure_ascii=False)) for event in events]


# --- what the domain writes -----------------------------------------------------------------

HELD = {"assignee": AGENT.id}
CODES = load_complaint_codes()
CLASSIFIED = Complaint(business="card", cause="fees")
ASKED = ExtensionRequest(NOW, "sup-2")
CONCLUDED = Conclusion("2026-11-20", "within_15_days", "card", "fees")
DUE = NOW + timedelta(days=15)

WRITERS: dict[str, tuple[Any, list[tuple[str, str]]]] = {
    "open": (
        lambda: [
            open_ticket(
                TicketRequest("web", "complaint", "card", "s", "", None),
                OWNER,
                ticket_id="T-1",
                reference="R",
                event_id="E-0",
                now=NOW,
            )[1]
        ],
        [("ticket.created", '{"channel": "web", "kind": "complaint", "queue": "complaints"}')],
    ),
    "assign from new": (
        lambda: _act(_ticket(), "assign", AGENT),
        [
            (
                "ticket.assigned",
                '{"action": "assign", "assignee": "agent-1", "previous": null, '
                '"from": "new", "to": "assigned"}',
            ),
            ("ticket.status_changed", '{"action": "assign", "from": "new", "to": "assigned"}'),
        ],
    ),
    "assign while in progress": (
        lambda: _act(_ticket(Status.IN_PROGRESS), "assign", SUPERVISOR, assignee="agent-2"),
        [
            (
                "ticket.assigned",
                '{"action": "assign", "assignee": "agent-2", "previous": null}',
            )
        ],
    ),
    "start": (
        lambda: _act(_ticket(Status.ASSIGNED, **HELD), "start", AGENT),
        [("ticket.status_changed", '{"action": "start", "from": "assigned", "to": "in_progress"}')],
    ),
    "request_info": (
        lambda: _act(_ticket(Status.IN_PROGRESS, **HELD), "request_info", AGENT, message="ID?"),
        [
            (
                "ticket.status_changed",
                '{"action": "request_info", "message": "ID?", '
                '"from": "in_progress", "to": "waiting_on_customer"}',
            )
        ],
    ),
    "resolve": (
        lambda: _act(
            _ticket(Status.IN_PROGRESS, kind="consultation", **HELD),
            "resolve",
            AGENT,
            resolution="Done",
        ),
        [
            (
                "ticket.status_changed",
                '{"action": "resolve", "resolution": "Done", "resolution_count": 1, '
                '"from": "in_progress", "to": "resolved"}',
            )
        ],
    ),
    "reopen with a reason": (
        lambda: _act(_ticket(Status.RESOLVED, resolutions=2), "reopen", OWNER, reason="Not yet"),
        [
            (
                "ticket.status_changed",
                '{"action": "reopen", "resolution_count": 2, "reason": "Not yet", '
                '"from": "resolved", "to": "in_progress", '
                f'"resolution_due": "{DUE.isoformat()}"}}',  # a complaint's fresh clock
            )
        ],
    ),
    "reopen without": (
        lambda: _act(_ticket(Status.RESOLVED, resolutions=1), "reopen", OWNER),
        [
            (
                "ticket.status_changed",
                '{"action": "reopen", "resolution_count": 1, '
                '"from": "resolved", "to": "in_progress", '
                f'"resolution_due": "{DUE.isoformat()}"}}',
            )
        ],
    ),
    "cancel": (
        lambda: _act(_ticket(), "cancel", OWNER, reason="Sorted"),
        [
            (
                "ticket.status_changed",
                '{"action": "cancel", "reason": "Sorted", "from": "new", "to": "cancelled", '
                '"total_suspended_seconds": 0}',
            )
        ],
    ),
    "close": (
        lambda: _act(_ticket(Status.RESOLVED), "close", SYSTEM),
        [("ticket.status_changed", '{"action": "close", "from": "resolved", "to": "closed"}')],
    ),
    "escalate": (
        lambda: _act(_ticket(Status.IN_PROGRESS, **HELD), "escalate", AGENT, reason="Hard"),
        [
            (
                "ticket.escalated",
                '{"action": "escalate", "reason": "Hard", "tier": 2, "queue": "tier2", '
                '"previous_assignee": "agent-1"}',
            )
        ],
    ),
    "resolve a complaint (the decision: a review may follow)": (
        lambda: _act(
            _ticket(Status.IN_PROGRESS, complaint=CLASSIFIED, **HELD),
            "resolve",
            AGENT,
            resolution="Done",
        ),
        [
            (
                "ticket.status_changed",
                '{"action": "resolve", "resolution": "Done", "resolution_count": 1, '
                '"review_within_days": 30, "from": "in_progress", "to": "resolved", '
                '"total_suspended_seconds": 0}',
            )
        ],
    ),
    "extend": (
        lambda: _act(_ticket(sla=Sla(resolution_due=DUE)), "extend", SUPERVISOR, reason="Law"),
        [
            (
                "sla.extended",
                '{"action": "extend", "reason": "Law", '
                f'"resolution_due": "{(NOW + timedelta(days=30)).isoformat()}", '
                '"extensions": 1, "due_date": "2026-12-27"}',
            )
        ],
    ),
    "extend a second time: asked": (
        lambda: _act(_ticket(complaint=Complaint(extensions=1)), "extend", SUPERVISOR, reason="X"),
        [("complaint.extension_requested", '{"action": "extend", "reason": "X"}')],
    ),
    "extend a second time: approved": (
        lambda: _act(
            _ticket(complaint=Complaint(extensions=1, extension_requested=ASKED)),
            "extend",
            SUPERVISOR,
            reason="Agreed",
        ),
        [
            (
                "sla.extended",
                '{"action": "extend", "reason": "Agreed", '
                f'"resolution_due": "{(NOW + timedelta(days=60)).isoformat()}", '
                '"extensions": 2, "due_date": "2027-01-26", "requested_by": "sup-2"}',
            )
        ],
    ),
    "classify": (
        lambda: _act(_ticket(), "classify", AGENT, business="card", cause="fees"),
        [
            (
                "complaint.classified",
                '{"action": "classify", "business": "card", "cause": "fees", '
                '"previous_business": null, "previous_cause": null}',
            )
        ],
    ),
    "classify a reopened complaint (its conclusion named for the report)": (
        lambda: _act(
            _ticket(complaint=replace(CLASSIFIED, concluded=CONCLUDED)),
            "classify",
            AGENT,
            business="payment",
            cause="systems",
        ),
        [
            (
                "complaint.classified",
                '{"action": "classify", "business": "payment", "cause": "systems", '
                '"previous_business": "card", "previous_cause": "fees", '
                '"concluded_on": "2026-11-20", "concluded_as": "within_15_days"}',
            )
        ],
    ),
    "extend a reopened complaint's fresh clock": (
        lambda: _act(
            _ticket(complaint=Complaint(clock_started_at=NOW), sla=Sla(resolution_due=DUE)),
            "extend",
            SUPERVISOR,
            reason="Law",
        ),
        [
            (
                "sla.extended",
                '{"action": "extend", "reason": "Law", '
                f'"resolution_due": "{(NOW + timedelta(days=30)).isoformat()}", '
                '"extensions": 1, "due_date": "2026-12-27", "reopened": true}',
            )
        ],
    ),
    "suspend_clock": (
        lambda: _act(_ticket(), "suspend_clock", SUPERVISOR, reason="testing", note="Lab"),
        [
            (
                "complaint.clock_suspended",
                '{"action": "suspend_clock", "reason": "testing", "note": "Lab"}',
            )
        ],
    ),
    "resume_clock": (
        lambda: _act(
            _ticket(complaint=Complaint(suspended_at=NOW - timedelta(days=2))),
            "resume_clock",
            SUPERVISOR,
        ),
        [
            (
                "complaint.clock_resumed",
                '{"action": "resume_clock", "suspended_seconds": 172800, '
                f'"resolution_due": "{(NOW + timedelta(days=17)).isoformat()}", '
                '"due_date": "2026-12-14"}',
            )
        ],
    ),
    "reschedule (before the service adds the slot)": (
        lambda: _act(
            _ticket(kind="appointment", appointment={"branch_id": "b-1", "slot_start": "x"}),
            "reschedule",
            OWNER,
            slot_start="2026-12-02T10:00:00+08:00",
        ),
        [("appointment.rescheduled", '{"action": "reschedule"}')],
    ),
    "a reply while waiting": (
        lambda: add_comment(
            _ticket(Status.WAITING_ON_CUSTOMER), "Here", False, OWNER, now=NOW, new_event_id=_ids()
        )[1],
        [
            ("comment.added", '{"body": "Here", "internal": false}'),
            (
                "ticket.status_changed",
                '{"action": "comment", "from": "waiting_on_customer", "to": "in_progress"}',
            ),
        ],
    ),
    "a breach that escalates": (
        lambda: record_breaches(
            _ticket(Status.IN_PROGRESS, sla=Sla(resolution_due=DUE), **HELD),
            ["resolution"],
            NOW,
            _ids(),
        )[1],
        [
            (
                "sla.breached",
                f'{{"metric": "resolution", "due": "{DUE.isoformat()}", "tier": 1}}',
            ),
            (
                "ticket.escalated",
                '{"action": "escalate", "reason": "sla breached: resolution", "tier": 2, '
                '"queue": "tier2", "previous_assignee": "agent-1"}',
            ),
        ],
    ),
    "anonymization": (
        lambda: [anonymization_event(_ticket(Status.CLOSED), "E-9", AGENT, NOW)],
        [("ticket.anonymized", '{"action": "erase"}')],
    ),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_the_domain_writes_each_event_data_key_for_key_in_order(writer: str) -> None:
    write, expected = WRITERS[writer]
    assert _stored(write()) == expected


# --- reading back -----------------------------------------------------------------------------

# One stored `data` per type, as its writer lays it out (services included).
STORED: dict[EventType, str] = {
    EventType.TICKET_CREATED: '{"channel": "web", "kind": "complaint", '
    '"queue": "service-recovery", "parent_id": "T-0", "score": 1}',
    EventType.STATUS_CHANGED: '{"action": "resolve", "resolution": "Done", "resolution_count": 1, '
    '"from": "in_progress", "to": "resolved"}',
    EventType.ASSIGNED: '{"action": "assign", "assignee": "agent-1", "previous": null, '
    '"from": "new", "to": "assigned"}',
    EventType.ESCALATED: '{"action": "escalate", "reason": "Hard", "tier": 2, "queue": "tier2", '
    '"previous_assignee": null}',
    EventType.ANONYMIZED: '{"action": "erase"}',
    EventType.COMMENT_ADDED: '{"body": "Hi", "internal": true}',
    EventType.SLA_BREACHED: '{"metric": "first_response", "due": null, "tier": 3}',
    EventType.SLA_EXTENDED: '{"action": "extend", "reason": "Law", "resolution_due": null}',
    EventType.COMPLAINT_CLASSIFIED: '{"action": "classify", "business": "card", '
    '"cause": "fees", "previous_business": null, "previous_cause": null}',
    EventType.EXTENSION_REQUESTED: '{"action": "extend", "reason": "Complex"}',
    EventType.CLOCK_SUSPENDED: '{"action": "suspend_clock", "reason": "testing"}',
    EventType.CLOCK_RESUMED: '{"action": "resume_clock", "suspended_seconds": 60, '
    '"resolution_due": null}',
    EventType.NOTIFICATION_SENT: '{"source_event": "E-1", "channel": "sms", '
    '"template": "ticket.created", "to": "+86 138****8000", "provider_message_id": "m-1"}',
    EventType.NOTIFICATION_SKIPPED: '{"source_event": "E-1", "template": "ticket.created", '
    '"reason": "opted_out"}',
    EventType.NOTIFICATION_FAILED: '{"source_event": "E-1", "channel": "email", '
    '"template": "ticket.resolved", "reason": "throttled"}',
    EventType.NOTIFICATION_UNKNOWN: '{"source_event": "E-1", "template": "ticket.created"}',
    EventType.NOTIFICATION_OPTED_OUT: '{"channel": "sms"}',
    EventType.SURVEY_INVITED: '{"survey_id": "T-1-r1", "round": 1}',
    EventType.SURVEY_REMINDED: '{"survey_id": "T-1-r1", "round": 2}',
    EventType.SURVEY_ANSWERED: '{"survey_id": "T-1-r1", "score": 2, "agent": "agent-1", '
    '"comment": "Slow"}',
    EventType.SURVEY_EXPIRED: '{"survey_id": "T-1-r1"}',
    EventType.SURVEY_SKIPPED: '{"reason": "cooldown"}',
    EventType.APPOINTMENT_BOOKED: json.dumps(SLOT, ensure_ascii=False),
    EventType.APPOINTMENT_REMINDED: json.dumps(SLOT, ensure_ascii=False),
    EventType.APPOINTMENT_RESCHEDULED: json.dumps(
        {"action": "reschedule", **SLOT, "previous_slot_start": "2026-11-30T02:00:00+00:00"},
        ensure_ascii=False,
    ),
    EventType.APPROVAL_REQUESTED: '{"action": "approve", "note": "Checked"}',
    EventType.DOCUMENT_ADDED: '{"document_id": "D-1", "type": "id-card", "filename": "id.pdf"}',
    EventType.DOCUMENT_RECEIVED: '{"document_id": "D-1", "type": "id-card", '
    '"status": "rejected_file", "problem": "checksum"}',
    EventType.DOCUMENT_REVIEWED: '{"document_id": "D-1", "type": "id-card", '
    '"action": "review_document", "verdict": "rejected", "reason": "Blurred", '
    '"type_name": {"zh-CN": "身份证", "en-US": "ID card"}}',
    EventType.DOCUMENT_INFECTED: '{"document_id": "D-1", "type": "id-card"}',
    EventType.REVIEW_REQUESTED: '{"review_id": "T-2", "reason": "Not convinced"}',
    EventType.MERGED: '{"from": "T-1", "from_reference": "SD-00000001"}',
}


def test_every_event_type_has_one_payload_class() -> None:
    assert set(PAYLOADS) == set(EventType) == set(STORED)
    assert all(payload.TYPE is event_type for event_type, payload in PAYLOADS.items())


@pytest.mark.parametrize("event_type", list(STORED))
def test_stored_data_reads_into_its_payload_and_writes_back_byte_for_byte(
    event_type: EventType,
) -> None:
    payload = payload_of(event_type, json.loads(STORED[event_type]))
    assert type(payload) is PAYLOADS[event_type]
    assert json.dumps(payload.to_data(), ensure_ascii=False) == STORED[event_type]
    event = Event.of("E-1", "T-1", NOW, SYSTEM, payload)
    assert (event.type, event.payload()) == (event_type, payload)


def test_statuses_and_actions_read_back_as_enums_and_the_systems_own_names_as_text() -> None:
    moved = payload_of(EventType.STATUS_CHANGED, json.loads(STORED[EventType.STATUS_CHANGED]))
    assert isinstance(moved, StatusChanged)
    assert (moved.action, moved.from_status, moved.to_status) == (
        Action.RESOLVE,
        Status.IN_PROGRESS,
        Status.RESOLVED,
    )
    assert type(moved.action) is Action and type(moved.to_status) is Status
    replied = StatusChanged.from_data({"action": "comment", "from": "waiting_on_customer"})
    assert (replied.action, replied.to_status) == ("comment", None)


def test_a_key_the_data_lacks_reads_as_the_fields_default_and_unknown_keys_are_ignored() -> None:
    # As forgiving as the `.get(key, default)` reads it replaces.
    assert payload_of(EventType.SURVEY_ANSWERED, {"extra": 1}) == SurveyAnswered(
        survey_id="", score=0, agent="", comment=None
    )
    assert CommentAdded.from_data({"body": "unstated"}).internal is None
    assert SurveyInvited.from_data({"survey_id": "S"}).round == 1


def test_payload_as_reads_only_events_of_that_type_or_family() -> None:
    answered = Event.of("E-1", "T-1", NOW, OWNER, SurveyAnswered(survey_id="S", score=5))
    skipped = Event.of("E-2", "T-1", NOW, SYSTEM, SurveySkipped(reason="cooldown"))
    assert answered.payload_as(SurveyAnswered) == SurveyAnswered(survey_id="S", score=5)
    assert answered.payload_as(StatusChanged) is None
    family = [event.payload_as(SurveyEvent) for event in (answered, skipped)]
    assert family == [SurveyAnswered(survey_id="S", score=5), None]


@pytest.mark.parametrize(
    "payload",
    [
        TicketCreated(channel="web", kind="complaint", queue="complaints"),
        SlaBreached(metric="resolution", due=None, tier=1),
        NotificationSent(source_event="E-1", channel="sms", template="t", to="x"),
        NotificationSkipped(source_event="E-1", template="t", reason="no_contact"),
        NotificationFailed(source_event="E-1", channel="sms", template="t", reason="r"),
        NotificationUnknown(source_event="E-1", template="t"),
        SurveyReminded(survey_id="S", round=2),
        SurveyExpired(survey_id="S"),
        AppointmentBooked(**SLOT),
        AppointmentReminded(**SLOT),
        AppointmentRescheduled(**SLOT, previous_slot_start="p"),
    ],
    ids=lambda payload: type(payload).__name__,
)
def test_the_wire_form_holds_plain_json_values_only(payload: Payload) -> None:
    data = payload.to_data()
    assert json.loads(json.dumps(data)) == data
    assert not any(type(value) in (Action, Status, EventType) for value in data.values())
    assert type(payload).from_data(data) == payload


def test_appointment_payloads_share_the_slot_fields() -> None:
    booked = AppointmentBooked(**SLOT)
    assert isinstance(booked, AppointmentSlot)
    assert AppointmentRescheduled(**SLOT).to_data() == {"action": "reschedule", **SLOT}
