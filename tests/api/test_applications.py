"""Service applications through the real local stack (SPEC 11): the catalogue, a typed
application, uploads over real HTTP to moto's S3 (a presigned POST), the S3 event through
SQS to the check, review, approval (single and dual), the customer's SMS, and EICAR."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
import requests

from chalicelib.domain.documents import EICAR
from local.token import mint
from tests.api.support import wait_for

PHONE = "+8613700001234"
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40 + b"%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class Who:
    def __init__(self, base: str, group: str, subject: str, **claims: Any) -> None:
        self.base = base
        self.id = subject
        self.headers = {"Authorization": f"Bearer {mint(group, subject, **claims)}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, self.base + path, headers=self.headers, timeout=30, **kwargs
        )

    def act(self, ticket_id: str, **body: Any) -> requests.Response:
        return self.call("POST", f"/v1/tickets/{ticket_id}/actions", json=body)


@pytest.fixture
def people(stack) -> dict[str, Who]:
    run = uuid.uuid4().hex[:8]
    return {
        "customer": Who(stack.api, "customers", f"cust-app-{run}"),
        "other": Who(stack.api, "customers", f"cust-other-{run}"),
        "agent": Who(stack.api, "agents", f"agent-app-{run}"),
        "supervisor": Who(stack.api, "supervisors", f"sup-app-{run}"),
        "supervisor2": Who(stack.api, "supervisors", f"sup2-app-{run}"),
    }


def _open(customer: Who, type_id: str, form: dict[str, Any]) -> dict[str, Any]:
    response = customer.call(
        "POST",
        "/v1/tickets",
        json={
            "channel": "mobile",
            "kind": "application",
            "subject": "Please raise my limit",
            "contact": {"phone": PHONE, "locale": "en-US"},
            "application": {"type": type_id, "form": form},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _hand_in(
    who: Who, ticket_id: str, data: bytes, doc_type: str, content_type: str
) -> dict[str, Any]:
    response = who.call(
        "POST",
        f"/v1/tickets/{ticket_id}/documents",
        json={
            "type": doc_type,
            "filename": f"{doc_type}.bin",
            "content_type": content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _upload(
    who: Who, ticket_id: str, data: bytes, doc_type: str, content_type: str = "application/pdf"
) -> dict[str, Any]:
    """Hand in, then POST the file to the presigned URL as the README's curl does."""
    document = _hand_in(who, ticket_id, data, doc_type, content_type)
    upload = document["upload"]
    sent = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": (f"{doc_type}.bin", data, content_type)},
        timeout=30,
    )
    assert sent.status_code in (200, 201, 204), sent.text
    return document


def _document(who: Who, ticket_id: str, document_id: str) -> dict[str, Any]:
    listed = who.call("GET", f"/v1/tickets/{ticket_id}/documents")
    assert listed.status_code == 200, listed.text
    return next(item for item in listed.json()["items"] if item["id"] == document_id)


def _landed(who: Who, ticket_id: str, document_id: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        document = _document(who, ticket_id, document_id)
        return document if document["status"] not in ("pending_upload", "scanning") else None

    return wait_for(settled, timeout=45)


def _texts_to(stack, number: str) -> list[str]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    messages = data.get("sns", {}).get("SMS", [])
    return [m.get("message") or m.get("Message") or str(m) for m in messages if number in str(m)]


def test_the_catalogue_is_served_to_every_role(stack, people):
    for who in people.values():
        response = who.call("GET", "/v1/application-types")
        assert response.status_code == 200, response.text
        types = {item["id"]: item for item in response.json()["items"]}
        assert {"address-change", "card-limit-increase", "account-closure"} <= set(types)
    closure = types["account-closure"]
    assert (closure["risk"], closure["approval"], closure["category"]) == (
        "high",
        "dual",
        "account",
    )


def test_card_limit_increase_from_upload_to_approval(stack, people):
    customer, agent = people["customer"], people["agent"]
    ticket = _open(
        customer, "card-limit-increase", {"card_last4": "1234", "requested_limit": 50000}
    )
    assert (ticket["category"], ticket["queue"]) == ("card", "cards")
    assert [e["status"] for e in ticket["application"]["checklist"]] == ["missing", "missing"]

    id_card = _upload(customer, ticket["id"], PDF, "id-card")
    income = _upload(customer, ticket["id"], PNG, "income-proof", "image/png")
    assert _landed(customer, ticket["id"], id_card["id"])["status"] == "available"
    assert _landed(customer, ticket["id"], income["id"])["status"] == "available"

    # The customer downloads their own clean file: a 302 to a presigned GET of the bytes.
    content = customer.call(
        "GET",
        f"/v1/tickets/{ticket['id']}/documents/{id_card['id']}/content",
        allow_redirects=False,
    )
    assert content.status_code == 302, content.text
    assert requests.get(content.headers["Location"], timeout=30).content == PDF
    stranger = people["other"].call("GET", f"/v1/tickets/{ticket['id']}/documents")
    assert stranger.status_code == 404

    assert agent.act(ticket["id"], action="assign").status_code == 200
    assert agent.act(ticket["id"], action="start").status_code == 200
    early = agent.act(ticket["id"], action="approve")
    assert (early.status_code, early.json()["type"]) == (409, "checklist-incomplete")
    for document in (id_card, income):
        reviewed = agent.act(
            ticket["id"],
            action="review_document",
            document_id=document["id"],
            verdict="accepted",
            reason="Legible and matches the form",
        )
        assert reviewed.status_code == 200, reviewed.text
    approved = agent.act(ticket["id"], action="approve", note="Income supports the limit")
    assert approved.status_code == 200, approved.text

    seen = customer.call("GET", f"/v1/tickets/{ticket['id']}").json()
    assert seen["status"] == "resolved"
    decision = seen["application"]["decision"]
    assert decision["outcome"] == "approved" and "maker" not in decision
    assert seen["application"]["pending_approval"] is False
    assert [e["status"] for e in seen["application"]["checklist"]] == ["accepted", "accepted"]
    texts = wait_for(
        lambda: [t for t in _texts_to(stack, PHONE) if seen["reference"] in t and "approved" in t]
    )
    assert len(texts) == 1


def test_account_closure_needs_a_second_supervisor(stack, people):
    customer, maker, checker = people["customer"], people["supervisor"], people["supervisor2"]
    ticket = _open(customer, "account-closure", {"account_last4": "9876"})
    assert (ticket["tier"], ticket["priority"]) == (2, "high")
    id_card = _upload(customer, ticket["id"], PDF, "id-card")
    assert _landed(customer, ticket["id"], id_card["id"])["status"] == "available"
    assert maker.act(ticket["id"], action="assign", assignee=maker.id).status_code == 200
    assert maker.act(ticket["id"], action="start").status_code == 200
    accepted = maker.act(
        ticket["id"],
        action="review_document",
        document_id=id_card["id"],
        verdict="accepted",
        reason="OK",
    )
    assert accepted.status_code == 200, accepted.text
    pending = maker.act(ticket["id"], action="approve")
    assert pending.status_code == 200, pending.text
    assert pending.json()["status"] == "in_progress"
    assert pending.json()["application"]["pending_approval"]["by"] == maker.id
    again = maker.act(ticket["id"], action="approve")
    assert (again.status_code, again.json()["type"]) == (403, "four-eyes")
    blocked = _hand_in_status(customer, ticket["id"])
    assert blocked == (409, "approval-pending")
    decided = checker.act(ticket["id"], action="approve")
    assert decided.status_code == 200, decided.text
    assert decided.json()["application"]["decision"]["checker"] == checker.id


def _hand_in_status(who: Who, ticket_id: str) -> tuple[int, str]:
    response = who.call(
        "POST",
        f"/v1/tickets/{ticket_id}/documents",
        json={
            "type": "other",
            "filename": "late.pdf",
            "content_type": "application/pdf",
            "size": 10,
            "sha256": "0" * 64,
        },
    )
    return response.status_code, response.json().get("type", "")


def test_an_eicar_upload_is_infected_and_never_served(stack, people):
    customer = people["customer"]
    ticket = _open(customer, "address-change", {"new_address": "1 Bund Road, Shanghai"})
    infected = b"%PDF-1.4\n" + EICAR + b"\n"
    document = _upload(customer, ticket["id"], infected, "id-card")
    assert _landed(customer, ticket["id"], document["id"])["status"] == "infected"
    content = customer.call(
        "GET",
        f"/v1/tickets/{ticket['id']}/documents/{document['id']}/content",
        allow_redirects=False,
    )
    assert (content.status_code, content.json()["type"]) == (409, "document-unavailable")
    timeline = people["agent"].call(
        "GET", f"/v1/tickets/{ticket['id']}/timeline", params={"limit": 100}
    )
    assert "document.infected" in [entry["type"] for entry in timeline.json()["items"]]
    own = customer.call("GET", f"/v1/tickets/{ticket['id']}/timeline", params={"limit": 100})
    assert "document.infected" not in [entry["type"] for entry in own.json()["items"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "passport"}, "type"),
        ({"content_type": "application/zip"}, "content_type"),
        ({"size": 10485761}, "size"),
        ({"sha256": "abc"}, "sha256"),
        ({"filename": "a\nb.pdf"}, "filename"),
    ],
    ids=["unknown-document-type", "content-type", "over-10-mb", "checksum-malformed", "filename"],
)
def test_bad_document_declarations_are_400_naming_the_field(stack, people, change, field):
    customer = people["customer"]
    ticket = _open(customer, "address-change", {"new_address": "2 Bund Road"})
    body = {
        "type": "id-card",
        "filename": "id.pdf",
        "content_type": "application/pdf",
        "size": 100,
        "sha256": "a" * 64,
        **change,
    }
    response = customer.call("POST", f"/v1/tickets/{ticket['id']}/documents", json=body)
    assert response.status_code == 400, response.text
    assert field in [error["path"] for error in response.json()["errors"]]


def test_bad_applications_are_400_naming_the_field(stack, people):
    customer = people["customer"]
    base: dict[str, Any] = {"channel": "mobile", "kind": "application", "subject": "x"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"application": {"type": "mortgage-holiday", "form": {}}}, "application.type"),
        (
            {
                "application": {
                    "type": "card-limit-increase",
                    "form": {"card_last4": "12", "requested_limit": 5},
                }
            },
            "application.form.card_last4",
        ),
        (
            {
                "kind": "consultation",
                "category": "card",
                "application": {"type": "address-change", "form": {}},
            },
            "application",
        ),
    ]
    for change, path in cases:
        response = customer.call("POST", "/v1/tickets", json={**base, **change})
        assert response.status_code == 400, response.text
        assert path in [error["path"] for error in response.json()["errors"]]


def test_a_private_customer_gets_one_priority_step_up(stack):
    private = Who(stack.api, "customers", f"cust-private-{uuid.uuid4().hex[:6]}", segment="private")
    ticket = _open(private, "card-limit-increase", {"card_last4": "4321", "requested_limit": 2000})
    assert ticket["priority"] == "high"
