"""BOLA matrix: every route of the registry x every role, aimed at ANOTHER customer's objects.

The objects (a ticket, its customer, its queue) belong to `owner`. Each route declares
what each role gets when it names them: the other customer gets 404 (existence never
revealed) or a 400/403 that says nothing about them, and never their data; staff get
what their role allows; the owner's answer is the control that the request itself is
well formed. A refused call changes nothing (the owner sees the same version and
timeline afterwards).

Adding a route: `test_every_registered_route_is_in_the_matrix` fails until it is
declared here, in `MATRIX` (it names or lists customers' objects) or in
`NO_CUSTOMER_OBJECT` (public, or nothing of a customer's; say why).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

import app  # noqa: F401 - registers every route
from chalicelib.api.http import OPERATIONS
from local.token import mint

ROLES = ("owner", "other_customer", "agent", "supervisor", "auditor")
GROUPS = {
    "owner": "customers",
    "other_customer": "customers",
    "agent": "agents",
    "supervisor": "supervisors",
    "auditor": "auditors",
}
TICKET = {
    "channel": "mobile",
    "kind": "complaint",
    "category": "card",
    "subject": "Matrix: card swallowed at ATM",
    "description": "Private matter of the owner",
    "contact": {"phone": "+8613812348000", "email": "owner@example.com"},
}
DOCUMENT = {
    "type": "other",
    "filename": "statement.pdf",
    "content_type": "application/pdf",
    "size": 2048,
    "sha256": "ab" * 32,
}
CHANGES_STATE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Objects:
    """One customer's objects, named in requests as the route needs them."""

    ticket_id: str
    reference: str
    customer_id: str
    queue: str
    branch_id: str = ""
    slot_start: str = ""  # a bookable slot with at least two seats free
    document_id: str = ""  # a document of the ticket, its bytes not yet uploaded


@dataclass(frozen=True)
class Probe:
    """How to call a route on the owner's objects, and what each role must get."""

    request: Callable[[Objects], tuple[str, dict[str, Any]]]  # (url path, requests kwargs)
    expect: dict[str, tuple[int, ...]]
    fresh: bool = False  # needs its own ticket per role (the call changes it)
    extra: dict[str, Any] = field(default_factory=dict)


def _path(template: str) -> Callable[[Objects], tuple[str, dict[str, Any]]]:
    return lambda objects: (template.format(**vars(objects)), {})


def _with(template: str, **kwargs: Any) -> Callable[[Objects], tuple[str, dict[str, Any]]]:
    def build(objects: Objects) -> tuple[str, dict[str, Any]]:
        filled = {
            key: (
                {
                    k: v.format(**vars(objects)) if isinstance(v, str) else v
                    for k, v in value.items()
                }
                if isinstance(value, dict)
                else value
            )
            for key, value in kwargs.items()
        }
        return template.format(**vars(objects)), filled

    return build


def _expect(**statuses: int | tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    assert set(statuses) == set(ROLES), f"declare every role: {sorted(set(ROLES) - set(statuses))}"
    return {role: (s,) if isinstance(s, int) else s for role, s in statuses.items()}


STAFF_READ = {"agent": 200, "supervisor": 200, "auditor": 200}

MATRIX: dict[str, Probe] = {
    "GET /v1/tickets/{ticket_id}": Probe(
        _path("/v1/tickets/{ticket_id}"), _expect(owner=200, other_customer=404, **STAFF_READ)
    ),
    "GET /v1/tickets/{ticket_id}/timeline": Probe(
        _path("/v1/tickets/{ticket_id}/timeline"),
        _expect(owner=200, other_customer=404, **STAFF_READ),
    ),
    "POST /v1/tickets/{ticket_id}/actions": Probe(
        _with("/v1/tickets/{ticket_id}/actions", json={"action": "cancel", "reason": "matrix"}),
        _expect(owner=200, other_customer=404, agent=200, supervisor=200, auditor=403),
        fresh=True,
    ),
    "POST /v1/tickets/{ticket_id}/comments": Probe(
        _with("/v1/tickets/{ticket_id}/comments", json={"body": "matrix comment"}),
        _expect(owner=201, other_customer=404, agent=201, supervisor=201, auditor=403),
        fresh=True,
    ),
    "GET /v1/customers/{customer_id}/preferences": Probe(
        _path("/v1/customers/{customer_id}/preferences"),
        _expect(owner=200, other_customer=404, **STAFF_READ),
    ),
    "PUT /v1/customers/{customer_id}/preferences": Probe(
        _with(
            "/v1/customers/{customer_id}/preferences",
            json={"sms": False, "email": True, "locale": "en-US", "quiet_hours": None},
        ),
        _expect(owner=200, other_customer=404, agent=403, supervisor=403, auditor=403),
    ),
    # Claiming serves the queue's next ticket (maybe the owner's): staff only.
    "POST /v1/queues/{queue}/claim": Probe(
        _path("/v1/queues/{queue}/claim"),
        _expect(
            owner=403, other_customer=403, agent=(200, 204), supervisor=(200, 204), auditor=403
        ),
        fresh=True,
    ),
    # Lists: naming another customer, or their ticket's reference, is for staff only.
    "GET /v1/tickets": Probe(
        _with("/v1/tickets", params={"customer_id": "{customer_id}"}),
        _expect(owner=400, other_customer=400, **STAFF_READ),
        extra={"by_reference": _with("/v1/tickets", params={"reference": "{reference}"})},
    ),
    # Booking in another customer's name: staff only (customers: 400, the field is refused).
    "POST /v1/appointments": Probe(
        _with(
            "/v1/appointments",
            json={
                "branch_id": "{branch_id}",
                "slot_start": "{slot_start}",
                "category": "deposit",
                "subject": "Matrix: open a term deposit",
                "customer_id": "{customer_id}",
            },
        ),
        _expect(owner=400, other_customer=400, agent=201, supervisor=201, auditor=403),
    ),
    # The audit log names tickets and people: auditors only.
    "GET /v1/audit": Probe(
        _with("/v1/audit", params={"ticket_id": "{ticket_id}"}),
        _expect(owner=403, other_customer=403, agent=403, supervisor=403, auditor=200),
        extra={"by_actor": _with("/v1/audit", params={"actor": "{customer_id}"})},
    ),
    # Erasure: auditors only; the owner still has an open ticket, so theirs is a 409.
    "POST /v1/customers/{customer_id}/erasure": Probe(
        _path("/v1/customers/{customer_id}/erasure"),
        _expect(owner=403, other_customer=404, agent=403, supervisor=403, auditor=409),
    ),
    # Documents (SPEC 11): handing in is for the owner and working staff; reading for all staff.
    "POST /v1/tickets/{ticket_id}/documents": Probe(
        _with("/v1/tickets/{ticket_id}/documents", json=DOCUMENT),
        _expect(owner=201, other_customer=404, agent=201, supervisor=201, auditor=403),
    ),
    "GET /v1/tickets/{ticket_id}/documents": Probe(
        _path("/v1/tickets/{ticket_id}/documents"),
        _expect(owner=200, other_customer=404, **STAFF_READ),
    ),
    # Its bytes are not uploaded yet: 409 for whoever may see it, 404 for anyone else.
    "GET /v1/tickets/{ticket_id}/documents/{document_id}/content": Probe(
        _path("/v1/tickets/{ticket_id}/documents/{document_id}/content"),
        _expect(owner=409, other_customer=404, agent=409, supervisor=409, auditor=409),
    ),
    # Opening a ticket in another customer's name: staff only (customers: 400, field refused).
    "POST /v1/tickets": Probe(
        _with("/v1/tickets", json={**TICKET, "customer_id": "{customer_id}"}),
        _expect(owner=400, other_customer=400, agent=201, supervisor=201, auditor=403),
    ),
    # The triage inbox holds strangers' mail: staff only, auditors read. No customer object
    # names an item, so these probe an item that does not exist (customers 403 first); the
    # roles on a real item: tests/api/test_inbound_mail.py.
    "GET /v1/inbox": Probe(
        _with("/v1/inbox", params={"status": "open"}),
        _expect(owner=403, other_customer=403, **STAFF_READ),
    ),
    "GET /v1/inbox/{item_id}": Probe(
        _path("/v1/inbox/M-MATRIX0"),
        _expect(owner=403, other_customer=403, agent=404, supervisor=404, auditor=404),
    ),
    "POST /v1/inbox/{item_id}/ticket": Probe(
        _with(
            "/v1/inbox/M-MATRIX0/ticket",
            json={"customer_id": "{customer_id}", "kind": "consultation", "category": "card"},
        ),
        _expect(owner=403, other_customer=403, agent=404, supervisor=404, auditor=404),
    ),
    "POST /v1/inbox/{item_id}/link": Probe(
        _with("/v1/inbox/M-MATRIX0/link", json={"ticket_id": "{ticket_id}"}),
        _expect(owner=403, other_customer=403, agent=404, supervisor=404, auditor=404),
    ),
    "POST /v1/inbox/{item_id}/discard": Probe(
        _with("/v1/inbox/M-MATRIX0/discard", json={"reason": "matrix"}),
        _expect(owner=403, other_customer=403, agent=404, supervisor=404, auditor=404),
    ),
    # A review needs a concluded complaint: on the owner's open one, whoever may ask gets
    # 409 (not-reviewable); the other customer 404 as everywhere (tests/api/test_reviews.py
    # has the 201s).
    "POST /v1/tickets/{ticket_id}/review": Probe(
        _with("/v1/tickets/{ticket_id}/review", json={"reason": "matrix"}),
        _expect(owner=409, other_customer=404, agent=409, supervisor=409, auditor=403),
    ),
}

NO_CUSTOMER_OBJECT: dict[str, str] = {
    "GET /v1/health": "public liveness, no data",
    "GET /v1/openapi.json": "public contract document, no data",
    "GET /v1/branches": "the bank's branches: public facts, the same for every role",
    "GET /v1/branches/{branch_id}/slots": "seats per slot: counts only, nobody's bookings",
    "GET /v1/reports/summary": "counters only, no ticket or person (roles: test_reports_*)",
    "GET /v1/reports/agents": "counters per staff member, no customer (roles: test_reports_*)",
    "GET /v1/reports/complaints": "counters by code and channel, no ticket or person "
    "(roles: test_complaint_actions_and_report_by_role below)",
    "GET /v1/complaint-codes": "the bank's classification codes, the same for every role",
    # A survey link is a capability: no token names anyone, the 128-bit code is the key,
    # and a code that is not a live survey's is a 404 (tests/api/test_surveys.py).
    "GET /s/{code}": "capability link (redirect only), no login by design",
    "GET /v1/surveys/{code}": "capability link: shows only the ticket subject",
    "POST /v1/surveys/{code}": "capability link: answers the one survey the code opens",
    "GET /v1/application-types": "the bank's catalogue of application types, the same for all",
}


def _registered() -> set[str]:
    return {f"{operation.method} {operation.path}" for operation in OPERATIONS}


def test_every_registered_route_is_in_the_matrix():
    registered = _registered()
    declared = set(MATRIX) | set(NO_CUSTOMER_OBJECT)
    assert registered - declared == set(), "declare these routes in tests/api/test_access_matrix.py"
    assert declared - registered == set(), "the matrix names routes that no longer exist"
    assert not set(MATRIX) & set(NO_CUSTOMER_OBJECT)


class Caller:
    def __init__(self, base: str, role: str, subject: str) -> None:
        self.base = base
        self.role = role
        self.id = subject
        self.headers = {"Authorization": f"Bearer {mint(GROUPS[role], subject)}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, self.base + path, headers=self.headers, timeout=30, **kwargs
        )


@pytest.fixture(scope="module")
def callers(stack) -> dict[str, Caller]:
    run = uuid.uuid4().hex[:8]
    return {role: Caller(stack.api, role, f"{role}-{run}") for role in ROLES}


def _open(owner: Caller) -> Objects:
    response = owner.call("POST", "/v1/tickets", json=TICKET)
    assert response.status_code == 201, response.text
    ticket = response.json()
    branch_id, slot_start = _free_slot(owner)
    document = owner.call("POST", f"/v1/tickets/{ticket['id']}/documents", json=DOCUMENT)
    assert document.status_code == 201, document.text
    return Objects(
        ticket["id"],
        ticket["reference"],
        owner.id,
        ticket["queue"],
        branch_id,
        slot_start,
        document.json()["id"],
    )


_SLOT: list[tuple[str, str]] = []


def _free_slot(owner: Caller) -> tuple[str, str]:
    """A slot three weeks or more ahead with two seats free (found once per run)."""
    if not _SLOT:
        from datetime import date, timedelta

        branches = owner.call("GET", "/v1/branches").json()
        branch = branches[0]["id"]
        for ahead in range(21, 30):
            day = (date.today() + timedelta(days=ahead)).isoformat()
            slots = owner.call("GET", f"/v1/branches/{branch}/slots", params={"date": day})
            free = [s["start"] for s in slots.json() if s["available"] >= 2]
            if free:
                _SLOT.append((branch, free[len(free) // 2]))
                break
    assert _SLOT, "no bookable slot found for the matrix"
    return _SLOT[0]


@pytest.fixture(scope="module")
def shared_objects(callers) -> Objects:
    return _open(callers["owner"])


def _snapshot(owner: Caller, objects: Objects) -> tuple[Any, ...]:
    ticket = owner.call("GET", f"/v1/tickets/{objects.ticket_id}")
    timeline = owner.call("GET", f"/v1/tickets/{objects.ticket_id}/timeline", params={"limit": 100})
    assert ticket.status_code == timeline.status_code == 200
    preferences = owner.call("GET", f"/v1/customers/{objects.customer_id}/preferences")
    # What requests wrote; the stream's notices (notification.sent) land when they land.
    written = [e for e in timeline.json()["items"] if not e["type"].startswith("notification.")]
    return ticket.headers["ETag"], len(written), preferences.json()


def _assert_reveals_nothing(response: requests.Response, objects: Objects) -> None:
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.text
    text = response.text
    secrets = (objects.reference, str(TICKET["subject"]), str(TICKET["description"]))
    for secret in (*secrets, "8000", "owner@"):
        assert secret not in text, f"leaks {secret!r}: {text}"


CELLS = [(route, role) for route in MATRIX for role in ROLES]


@pytest.mark.parametrize(("route", "role"), CELLS, ids=[f"{r} as {w}" for r, w in CELLS])
def test_another_customers_objects(route, role, callers, shared_objects):
    probe = MATRIX[route]
    method = route.split(" ", 1)[0]
    owner = callers["owner"]
    objects = _open(owner) if probe.fresh else shared_objects
    before = _snapshot(owner, objects)
    requests_to_make = [probe.request, *probe.extra.values()]
    for build in requests_to_make:
        path, kwargs = build(objects)
        response = callers[role].call(method, path, **kwargs)
        assert response.status_code in probe.expect[role], (route, role, response.text)
        if response.status_code >= 400:
            _assert_reveals_nothing(response, objects)
            if method in CHANGES_STATE:
                assert _snapshot(owner, objects) == before, f"{route} as {role} changed state"
        if role != "owner" and GROUPS[role] == "customers":
            assert response.status_code >= 400, "another customer got an answer"


# The complaint actions (SPEC 13) go through the actions route above; each is aimed here at
# the owner's complaint too: who may run it, and that a refusal changes nothing.
COMPLAINT_ACTIONS: dict[str, tuple[dict[str, Any], dict[str, tuple[int, ...]]]] = {
    "classify": (
        {"business": "card", "cause": "fees"},
        _expect(owner=403, other_customer=404, agent=200, supervisor=200, auditor=403),
    ),
    "extend": (
        {"reason": "matrix"},
        _expect(owner=403, other_customer=404, agent=403, supervisor=200, auditor=403),
    ),
    "suspend_clock": (
        {"reason": "testing", "note": "Lab test"},
        _expect(owner=403, other_customer=404, agent=403, supervisor=200, auditor=403),
    ),
}
COMPLAINT_CELLS = [(action, role) for action in COMPLAINT_ACTIONS for role in ROLES]


@pytest.mark.parametrize(
    ("action", "role"), COMPLAINT_CELLS, ids=[f"{a} as {r}" for a, r in COMPLAINT_CELLS]
)
def test_complaint_actions_and_report_by_role(action, role, callers):
    owner = callers["owner"]
    objects = _open(owner)
    params, expect = COMPLAINT_ACTIONS[action]
    before = _snapshot(owner, objects)
    path = f"/v1/tickets/{objects.ticket_id}/actions"
    response = callers[role].call("POST", path, json={"action": action, **params})
    assert response.status_code in expect[role], (action, role, response.text)
    if response.status_code >= 400:
        _assert_reveals_nothing(response, objects)
        assert _snapshot(owner, objects) == before, f"{action} as {role} changed state"
    report = callers[role].call(
        "GET", "/v1/reports/complaints", params={"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert report.status_code == (200 if role in ("supervisor", "auditor") else 403)
