"""Service applications (SPEC 11): the catalogue, opening, the checklist, review and decision."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.domain.applications import (
    ApprovalPendingError,
    CatalogueError,
    ChecklistIncompleteError,
    FourEyesError,
    application_view,
    parse_catalogue,
    resolve_request,
    with_documents,
)
from chalicelib.domain.documents import Document, DocumentStatus
from chalicelib.domain.errors import ForbiddenError, IllegalTransitionError, ValidationError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.lifecycle import apply_action
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, TicketRequest, open_ticket, ticket_view
from tests.fakes import FixedClock

NOW = FixedClock().now
LATER = NOW + timedelta(hours=1)
CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
PRIVATE = Caller(Role.CUSTOMER, "cust-1", segment="private")
AGENT = Caller(Role.AGENT, "agent-1")
OTHER_AGENT = Caller(Role.AGENT, "agent-2")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
SECOND_SUPERVISOR = Caller(Role.SUPERVISOR, "sup-2")
CATALOGUE = bootstrap.load_application_catalogue()
SCHEMA = json.loads(bootstrap.APPLICATION_TYPES_SCHEMA.read_text(encoding="utf-8"))
CATALOGUE_TEXT = bootstrap.APPLICATION_TYPES_FILE.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the catalogue

SPEC_TYPES = {
    # id: (category, risk, approval, required documents)
    "address-change": ("account", "low", "single", ["id-card"]),
    "card-limit-increase": ("card", "medium", "single", ["id-card", "income-proof"]),
    "account-closure": ("account", "high", "dual", ["id-card"]),
}


@pytest.mark.parametrize("type_id", list(SPEC_TYPES))
def test_the_shipped_catalogue_has_the_spec_types_with_exactly_their_rules(type_id):
    app_type = CATALOGUE.get(type_id)
    assert app_type is not None
    category, risk, approval, required = SPEC_TYPES[type_id]
    assert (app_type.category, app_type.risk, app_type.approval) == (category, risk, approval)
    assert [doc.type for doc in app_type.documents if doc.required] == required


def test_the_catalogue_has_more_types_a_bank_would_have():
    ids = {app_type.id for app_type in CATALOGUE}
    assert {"deposit-certificate", "statement-request", "lost-card-replacement"} <= ids
    assert "loan-prepayment" in ids


@pytest.mark.parametrize(
    ("type_id", "form", "ok"),
    [
        ("address-change", {"new_address": "1 Bund Road, Shanghai"}, True),
        ("address-change", {"new_address": ""}, False),
        ("address-change", {"new_address": "x" * 201}, False),
        ("address-change", {}, False),
        ("card-limit-increase", {"card_last4": "1234", "requested_limit": 1000}, True),
        ("card-limit-increase", {"card_last4": "1234", "requested_limit": 1000000}, True),
        ("card-limit-increase", {"card_last4": "1234", "requested_limit": 999}, False),
        ("card-limit-increase", {"card_last4": "1234", "requested_limit": 1000001}, False),
        ("card-limit-increase", {"card_last4": "123", "requested_limit": 5000}, False),
        ("card-limit-increase", {"card_last4": "1234\n", "requested_limit": 5000}, False),
        ("card-limit-increase", {"card_last4": "1234", "requested_limit": "5000"}, False),
        ("card-limit-increase", {"card_last4": "1234"}, False),
        ("account-closure", {"account_last4": "9876"}, True),
        ("account-closure", {"account_last4": "98x6"}, False),
    ],
)
def test_the_spec_forms_follow_their_rules(type_id, form, ok):
    app_type = CATALOGUE.get(type_id)
    assert app_type is not None
    assert (CATALOGUE.form_errors(app_type, form) == []) is ok


def _catalogue_with(change: Any) -> str:
    document = json.loads(CATALOGUE_TEXT)
    change(document["types"])
    return json.dumps(document)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda types: types[1].update(risk="extreme"), "types[1] (id 'card-limit-increase')"),
        (lambda types: types[2].update(approval="triple"), "types[2] (id 'account-closure')"),
        (lambda types: types[0].pop("form"), "types[0] (id 'address-change')"),
        (
            lambda types: types[0]["form"]["properties"].update(x={"type": "strnig"}),
            "types[0] (id 'address-change')",
        ),
        (lambda types: types.append(dict(types[0])), "types[7] (id 'address-change')"),
        (lambda types: types[3]["documents"].append(types[3]["documents"][0]), "types[3]"),
    ],
    ids=["risk", "approval", "no-form", "form-not-a-schema", "duplicate-id", "duplicate-doc"],
)
def test_a_bad_catalogue_entry_stops_start_up_naming_it(change, named):
    with pytest.raises(CatalogueError, match=re.escape(named)):
        parse_catalogue(_catalogue_with(change), SCHEMA, "application-types.json")


def test_a_catalogue_that_is_not_json_is_refused():
    with pytest.raises(CatalogueError, match="not JSON"):
        parse_catalogue("{", SCHEMA, "application-types.json")


# ---------------------------------------------------------------- opening


def _request(
    type_id: str | None = "card-limit-increase",
    form: dict[str, Any] | None = None,
    *,
    category: str | None = None,
    kind: str = "application",
    priority: str | None = None,
    customer_id: str | None = None,
) -> TicketRequest:
    application = None
    if type_id is not None:
        application = {"type": type_id, "form": form or _FORMS[type_id]}
    app_type, checked_form, category = resolve_request(CATALOGUE, kind, category, application)
    return TicketRequest(
        channel="mobile",
        kind=kind,
        category=category,
        subject="Please",
        description="",
        contact={"phone": "+8613812348000"},
        priority=priority,
        customer_id=customer_id,
        application_type=app_type,
        form=checked_form,
    )


_FORMS: dict[str, dict[str, Any]] = {
    "card-limit-increase": {"card_last4": "1234", "requested_limit": 50000},
    "account-closure": {"account_last4": "9876"},
    "address-change": {"new_address": "1 Bund Road"},
}


def _open(request: TicketRequest, caller: Caller = CUSTOMER) -> Ticket:
    ticket, _ = open_ticket(
        request, caller, ticket_id="T-1", reference="SD-00000001", event_id="E-0", now=NOW
    )
    return ticket


def test_an_application_takes_its_category_from_the_type_and_carries_its_checklist():
    ticket = _open(_request())
    assert ticket.category == "card"
    assert ticket.queue == "cards"
    assert ticket.application is not None
    view = ticket_view(ticket, CUSTOMER)["application"]
    assert view == {
        "type": "card-limit-increase",
        "risk": "medium",
        "approval": "single",
        "form": {"card_last4": "1234", "requested_limit": 50000},
        "checklist": [
            {"type": "id-card", "required": True, "status": "missing", "document_id": None},
            {"type": "income-proof", "required": True, "status": "missing", "document_id": None},
        ],
        "pending_approval": False,
        "decision": None,
    }
    assert ticket_view(ticket, AGENT)["application"]["pending_approval"] is None


@pytest.mark.parametrize(
    ("kind", "category", "application", "paths"),
    [
        ("application", None, {"type": "mortgage-holiday", "form": {}}, ["application.type"]),
        (
            "application",
            None,
            {"type": "card-limit-increase", "form": {"card_last4": "12", "x": 1}},
            [
                "application.form",
                "application.form.card_last4",
                "application.form.requested_limit",
                "application.form.x",
            ],
        ),
        (
            "application",
            "loan",
            {"type": "card-limit-increase", "form": _FORMS["card-limit-increase"]},
            ["category"],
        ),
        ("consultation", "card", {"type": "card-limit-increase", "form": {}}, ["application"]),
        ("application", None, None, ["category"]),
    ],
    ids=["unknown-type", "form-off-schema", "other-category", "other-kind", "general-no-category"],
)
def test_bad_application_requests_name_each_field(kind, category, application, paths):
    with pytest.raises(ValidationError) as raised:
        resolve_request(CATALOGUE, kind, category, application)
    found = sorted({error.path for error in raised.value.errors})
    assert set(found) - {"application.form"} == set(paths) - {"application.form"}


def test_the_same_category_may_be_sent():
    assert (
        resolve_request(
            CATALOGUE,
            "application",
            "card",
            {"type": "card-limit-increase", "form": _FORMS["card-limit-increase"]},
        )[2]
        == "card"
    )


def test_high_risk_starts_at_tier_2_with_priority_high():
    ticket = _open(_request("account-closure"))
    assert (ticket.tier, ticket.queue, ticket.priority) == (2, "tier2", "high")


@pytest.mark.parametrize(
    ("type_id", "expected"), [("card-limit-increase", "high"), ("account-closure", "urgent")]
)
def test_a_private_customer_gets_one_priority_step_up_never_above_urgent(type_id, expected):
    assert _open(_request(type_id), PRIVATE).priority == expected


def test_a_private_segment_at_urgent_stays_urgent():
    from chalicelib.domain.applications import new_application, sorted_work

    application = new_application(CATALOGUE.get("account-closure"), {})
    assert sorted_work("urgent", 1, application, "private") == ("urgent", 2)


def test_staff_opened_applications_take_no_segment():
    staff = Caller(Role.AGENT, "agent-1", segment="private")
    ticket = _open(_request(customer_id="cust-1"), staff)
    assert ticket.priority == "normal"


def test_a_general_application_keeps_working_with_no_checklist_and_single_approval():
    ticket = _open(_request(None, category="loan"))
    assert (ticket.category, ticket.queue, ticket.priority, ticket.tier) == (
        "loan",
        "lending",
        "normal",
        1,
    )
    assert ticket.application is not None
    assert (ticket.application.type, ticket.application.approval) == (None, "single")
    assert ticket.application.checklist == ()


def test_other_kinds_have_no_application():
    ticket = _open(_request(None, kind="consultation", category="card"))
    assert ticket.application is None
    assert "application" not in ticket_view(ticket)


# ---------------------------------------------------------------- the checklist


def _doc(doc_id: str, doc_type: str, status: DocumentStatus, minutes: int = 0) -> Document:
    return Document(
        id=doc_id,
        ticket_id="T-1",
        customer_id="cust-1",
        type=doc_type,
        filename="a.pdf",
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
        status=status,
        object_key="k",
        created_at=NOW + timedelta(minutes=minutes),
        updated_at=NOW,
    )


def test_a_checklist_entry_follows_the_newest_usable_document_of_its_type():
    application = _open(_request()).application
    assert application is not None
    docs = [
        _doc("D-1", "id-card", DocumentStatus.REJECTED, 0),
        _doc("D-2", "id-card", DocumentStatus.AVAILABLE, 1),
        _doc("D-3", "id-card", DocumentStatus.INFECTED, 2),
        _doc("D-4", "id-card", DocumentStatus.PENDING_UPLOAD, 3),
        _doc("D-5", "income-proof", DocumentStatus.REJECTED_FILE, 0),
        _doc("D-6", "other", DocumentStatus.ACCEPTED, 0),
    ]
    entries = with_documents(application, docs).checklist
    assert [(e.type, e.status, e.document_id) for e in entries] == [
        ("id-card", "uploaded", "D-2"),
        ("income-proof", "missing", None),
    ]
    accepted = with_documents(
        application, [*docs, _doc("D-7", "income-proof", DocumentStatus.ACCEPTED, 5)]
    )
    assert accepted.checklist[1].status == "accepted"


# ---------------------------------------------------------------- review and decision


def _in_progress(
    type_id: str | None = "card-limit-increase", *, accepted: bool = True, **changes: Any
) -> Ticket:
    request = _request(type_id, category="loan" if type_id is None else None)
    changes.setdefault("assignee", AGENT.id)
    ticket = replace(_open(request), status=Status.IN_PROGRESS, **changes)
    if accepted and ticket.application is not None:
        docs = [
            _doc(f"D-{n}", entry.type, DocumentStatus.ACCEPTED)
            for n, entry in enumerate(ticket.application.checklist)
        ]
        ticket = replace(ticket, application=with_documents(ticket.application, docs))
    return ticket


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"E-{self.n}"


def act(
    ticket: Ticket, action: str, params: dict[str, Any], caller: Caller
) -> tuple[Ticket, list[Any]]:
    return apply_action(ticket, action, params, caller, now=LATER, new_event_id=Ids())


def test_a_single_approval_resolves_with_the_decision():
    changed, [event] = act(_in_progress(), "approve", {"note": "Income checks out"}, AGENT)
    assert changed.status == "resolved"
    assert changed.resolutions == 1
    assert changed.application is not None and changed.application.decision is not None
    assert (changed.application.decision.outcome, changed.application.decision.maker) == (
        "approved",
        AGENT.id,
    )
    assert event.type == "ticket.status_changed"
    assert event.data == {
        "action": "approve",
        "resolution_count": 1,
        "from": "in_progress",
        "to": "resolved",
        "outcome": "approved",
        "note": "Income checks out",
    }
    view = ticket_view(changed, CUSTOMER)["application"]["decision"]
    assert set(view) == {"outcome", "reason", "at"}


def test_approve_with_a_required_document_not_accepted_is_checklist_incomplete():
    ticket = _in_progress(accepted=False)
    with pytest.raises(ChecklistIncompleteError):
        act(ticket, "approve", {}, AGENT)


def test_a_general_application_approves_without_a_checklist():
    changed, _ = act(_in_progress(None), "approve", {}, AGENT)
    assert changed.status == "resolved"


def test_reject_resolves_with_the_reason():
    changed, [event] = act(
        _in_progress(accepted=False), "reject", {"reason": "Income too low"}, AGENT
    )
    assert changed.status == "resolved"
    assert changed.application is not None and changed.application.decision is not None
    assert changed.application.decision.reason == "Income too low"
    assert (event.data["action"], event.data["outcome"], event.data["reason"]) == (
        "reject",
        "rejected",
        "Income too low",
    )


def test_dual_approval_needs_a_second_supervisor():
    ticket = _in_progress("account-closure", assignee=SUPERVISOR.id)
    pending, [requested] = act(ticket, "approve", {}, SUPERVISOR)
    assert pending.status == "in_progress"
    assert pending.version == ticket.version + 1
    assert requested.type == "application.approval_requested"
    assert pending.application is not None and pending.application.pending_approval is not None
    assert application_view(pending.application, for_customer=True)["pending_approval"] is True
    staff_view = application_view(pending.application, for_customer=False)["pending_approval"]
    assert staff_view["by"] == SUPERVISOR.id

    with pytest.raises(FourEyesError):
        act(pending, "approve", {}, SUPERVISOR)  # the maker again
    with pytest.raises(FourEyesError):
        act(replace(pending, assignee=AGENT.id), "approve", {}, AGENT)  # an agent as checker
    with pytest.raises(ApprovalPendingError):
        act(
            pending,
            "review_document",
            {"document_id": "D-1", "verdict": "accepted", "reason": "ok"},
            SECOND_SUPERVISOR,
        )

    decided, [event] = act(pending, "approve", {}, SECOND_SUPERVISOR)
    assert decided.status == "resolved"
    assert decided.application is not None and decided.application.decision is not None
    decision = decided.application.decision
    assert (decision.maker, decision.checker) == (SUPERVISOR.id, SECOND_SUPERVISOR.id)
    assert decided.application.pending_approval is None
    assert application_view(decided.application, for_customer=True)["pending_approval"] is False
    assert event.data["outcome"] == "approved"


def test_the_checker_may_reject_a_pending_approval_but_the_maker_may_not():
    ticket = _in_progress("account-closure", assignee=AGENT.id)
    pending, _ = act(ticket, "approve", {}, AGENT)
    with pytest.raises(FourEyesError):
        act(pending, "reject", {"reason": "changed my mind"}, AGENT)
    decided, _ = act(pending, "reject", {"reason": "Open loan on the account"}, SUPERVISOR)
    assert decided.application is not None and decided.application.decision is not None
    assert (decided.application.decision.maker, decided.application.decision.checker) == (
        AGENT.id,
        SUPERVISOR.id,
    )


@pytest.mark.parametrize(
    ("type_id", "caller"),
    [("account-closure", AGENT), ("card-limit-increase", AGENT), ("address-change", SUPERVISOR)],
)
def test_a_catalogue_application_is_never_plainly_resolved(type_id: str, caller: Caller):
    # `resolve` would end it with no decision, no checklist and, for a dual approval, no
    # checker: an application ends by approve or reject only.
    ticket = _in_progress(type_id, assignee=caller.id, accepted=False)
    with pytest.raises(IllegalTransitionError) as raised:
        act(ticket, "resolve", {"resolution": "Done"}, caller)
    assert "approve or reject" in str(raised.value)
    pending, _ = act(_in_progress("account-closure"), "approve", {}, AGENT)  # the maker
    with pytest.raises(IllegalTransitionError):
        act(pending, "resolve", {"resolution": "Closed it myself"}, AGENT)


def test_a_general_application_may_still_be_plainly_resolved():
    # SPEC 11: the general application (no type) is kept for existing clients, and
    # SPEC 5's `resolve` ends any in_progress ticket; it has no checklist and no checker.
    changed, [event] = act(_in_progress(None), "resolve", {"resolution": "Done"}, AGENT)
    assert changed.status == Status.RESOLVED
    assert event.data["resolution"] == "Done"


@pytest.mark.parametrize("action", ["approve", "reject", "review_document"])
@pytest.mark.parametrize("kind", ["consultation", "complaint"])
def test_application_actions_on_another_kind_are_illegal_transitions(action, kind):
    ticket = replace(
        _open(_request(None, kind=kind, category="card")),
        status=Status.IN_PROGRESS,
        assignee=AGENT.id,
    )
    params = {
        "approve": {},
        "reject": {"reason": "x"},
        "review_document": {"document_id": "D-1", "verdict": "accepted", "reason": "x"},
    }[action]
    with pytest.raises(IllegalTransitionError):
        act(ticket, action, params, AGENT)


def test_review_document_takes_a_verdict_of_accepted_or_rejected():
    with pytest.raises(ValidationError) as raised:
        act(
            _in_progress(),
            "review_document",
            {"document_id": "D-1", "verdict": "maybe", "reason": "x"},
            AGENT,
        )
    assert [error.path for error in raised.value.errors] == ["verdict"]


def test_review_document_records_the_verdict_for_the_service_to_apply():
    ticket = _in_progress(accepted=False)
    changed, [event] = act(
        ticket,
        "review_document",
        {"document_id": "D-1", "verdict": "rejected", "reason": "Blurred"},
        AGENT,
    )
    assert changed.status == "in_progress"
    assert changed.version == ticket.version + 1
    assert event.type == "document.reviewed"
    assert (event.data["document_id"], event.data["verdict"], event.data["reason"]) == (
        "D-1",
        "rejected",
        "Blurred",
    )


def test_only_the_assignee_or_a_supervisor_decides():
    with pytest.raises(ForbiddenError):
        act(_in_progress(), "approve", {}, OTHER_AGENT)
    with pytest.raises(ForbiddenError):
        act(_in_progress(), "approve", {}, CUSTOMER)


# ---------------------------------------------------------------- reports


def _minutes(value: int) -> Any:
    def spent(start: Any, end: Any) -> int:
        return value

    return spent


def test_decisions_are_counted_for_the_summary_report():
    from datetime import date

    from chalicelib.domain.reports import ReportRange, report_counters, summary

    slots: dict[str, list[tuple[str, int]]] = {}
    for action, params, minutes in (
        ("approve", {}, 90),
        ("reject", {"reason": "no"}, 30),
        ("approve", {}, 600),
    ):
        changed, [event] = act(_in_progress(), action, params, AGENT)
        counted = report_counters(event, changed, _minutes(minutes))
        for key, total in counted.items():
            slots.setdefault(key.family, []).append((key.slot, total))
    resolved, [plain] = act(
        _in_progress(),
        "review_document",
        {"document_id": "D-1", "verdict": "accepted", "reason": "ok"},
        AGENT,
    )
    assert not any(
        k.family.startswith("application") for k in report_counters(plain, resolved, _minutes(1))
    )
    day = LATER.date()
    report = summary(ReportRange(date(day.year, day.month, day.day), day), slots)
    assert report["applications"]["decided"] == 3
    assert (report["applications"]["approved"], report["applications"]["rejected"]) == (2, 1)
    assert report["applications"]["decision_minutes"]["p50"] is not None
    assert report["resolved"] == 3
