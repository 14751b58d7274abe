"""SPEC section 10 over HTTP: reports, the audit log and erasure against the local stack."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import pytest
import requests

from tests.api.support import report_days, wait_for

PHONE, EMAIL = "+8613912345678", "wang.fang@example.cn"


def _get(stack, auth, group: str, who: str, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{stack.api}{path}", params=params, headers=auth(group, who), timeout=30)


def _summary(stack, auth) -> dict[str, Any]:
    response = _get(stack, auth, "supervisors", "sup-r", "/v1/reports/summary", **report_days())
    assert response.status_code == 200, response.text
    return dict(response.json())


def _open(stack, auth, customer: str, **fields: Any) -> dict[str, Any]:
    body = {
        "channel": "chatbot",
        "kind": "consultation",
        "category": "payment",
        "subject": "Wang Fang's transfer to Chengdu",
        "description": "Please call Wang Fang",
        "contact": {"phone": PHONE, "email": EMAIL},
        **fields,
    }
    response = requests.post(
        f"{stack.api}/v1/tickets", json=body, headers=auth("customers", customer), timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _customer() -> str:
    return f"cust-pipl-{uuid.uuid4().hex[:8]}"


def test_a_supervisors_summary_counts_what_just_happened(stack, auth):
    before = _summary(stack, auth)
    ticket = _open(stack, auth, _customer())
    assert ticket["channel"] == "chatbot"

    def counted() -> dict[str, Any] | None:
        # The channel's and the total's counters are two items written in one transaction,
        # but a summary reads them one after the other (as on DynamoDB): a read between
        # sees one moved and not yet the other. Wait for both.
        now = _summary(stack, auth)
        created = now["tickets_created"]
        was = before["tickets_created"]
        channel = created["by_channel"].get("chatbot", 0) == was["by_channel"].get("chatbot", 0) + 1
        return now if channel and created["total"] > was["total"] else None

    after = wait_for(counted, timeout=30)
    # Earlier tests' tickets may still be counted meanwhile: at least this one.
    assert after["tickets_created"]["total"] >= before["tickets_created"]["total"] + 1
    assert set(after["sla"]) == {"first_response", "resolution"}
    assert set(after["csat"]["distribution"]) == {"1", "2", "3", "4", "5"}
    agents = _get(stack, auth, "auditors", "aud-r", "/v1/reports/agents", **report_days())
    assert agents.status_code == 200
    assert isinstance(agents.json()["items"], list)


@pytest.mark.parametrize(("group", "path"), [("customers", "summary"), ("agents", "agents")])
def test_customers_and_agents_may_not_read_reports(stack, auth, group: str, path: str):
    response = _get(stack, auth, group, "someone", f"/v1/reports/{path}", **report_days())
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"to": "2026-03-01"}, "from"),
    ],
)
def test_bad_report_ranges_are_400_naming_the_field(stack, auth, params, field):
    response = _get(stack, auth, "auditors", "aud-r", "/v1/reports/summary", **params)
    assert response.status_code == 400
    assert field in {error["path"] for error in response.json()["errors"]}


def test_an_auditor_sees_an_agents_read_newest_first(stack, auth):
    ticket = _open(stack, auth, _customer())
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    assert _get(stack, auth, "agents", agent, f"/v1/tickets/{ticket['id']}").status_code == 200
    assert (
        _get(stack, auth, "agents", agent, f"/v1/tickets/{ticket['id']}/timeline").status_code
        == 200
    )

    by_ticket = _get(stack, auth, "auditors", "aud-r", "/v1/audit", ticket_id=ticket["id"])
    assert by_ticket.status_code == 200, by_ticket.text
    assert [(e["action"], e["actor"]) for e in by_ticket.json()["items"]] == [
        ("read_timeline", {"role": "agent", "id": agent}),
        ("read_ticket", {"role": "agent", "id": agent}),
    ]  # the customer's own create and read are not staff access

    first = _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor=agent, limit=1).json()
    assert [e["action"] for e in first["items"]] == ["read_timeline"]
    rest = _get(
        stack, auth, "auditors", "aud-r", "/v1/audit", actor=agent, cursor=first["next_cursor"]
    ).json()
    assert [e["action"] for e in rest["items"]] == ["read_ticket"]
    assert rest["items"][0]["ticket_id"] == ticket["id"]


def test_a_staff_list_is_recorded_as_a_read_of_every_ticket_it_returned(stack, auth):
    customer = _customer()
    opened = [_open(stack, auth, customer)["id"] for _ in range(2)]
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    listed = _get(stack, auth, "agents", agent, "/v1/tickets", customer_id=customer)
    assert listed.status_code == 200, listed.text
    assert sorted(t["id"] for t in listed.json()["items"]) == sorted(opened)

    for ticket_id in opened:
        log = _get(stack, auth, "auditors", "aud-r", "/v1/audit", ticket_id=ticket_id).json()
        assert [(e["action"], e["actor"], e["query"]) for e in log["items"]] == [
            ("list_tickets", {"role": "agent", "id": agent}, {"customer_id": customer})
        ]


def test_a_staff_read_of_preferences_is_audited_and_the_customers_own_is_not(stack, auth):
    customer = _customer()
    own = _get(stack, auth, "customers", customer, f"/v1/customers/{customer}/preferences")
    assert own.status_code == 200
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    read = _get(stack, auth, "agents", agent, f"/v1/customers/{customer}/preferences")
    assert read.status_code == 200
    log = _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor=agent).json()
    assert [(e["action"], e.get("customer_id")) for e in log["items"]] == [
        ("read_preferences", customer)
    ]
    by_customer = _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor=customer).json()
    assert by_customer["items"] == []


def _signed_again(cursor: str, key: bytes) -> str:
    """The same cursor (16-byte HMAC tag, then its payload) signed with another key."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload = raw[16:]
    tag = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(tag + payload).decode().rstrip("=")


def test_cursors_are_signed_with_the_secret_read_at_run_time(stack, auth):
    ticket = _open(stack, auth, _customer())
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    for path in ("", "/timeline"):
        assert _get(stack, auth, "agents", agent, f"/v1/tickets/{ticket['id']}{path}").ok
    first = _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor=agent, limit=1).json()
    secrets = stack.client("secretsmanager")
    [arn] = [s["ARN"] for s in secrets.list_secrets()["SecretList"] if "cursor" in s["Name"]]
    current = secrets.get_secret_value(SecretId=arn)["SecretString"].encode()

    def page(cursor: str) -> requests.Response:
        return _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor=agent, cursor=cursor)

    assert _signed_again(first["next_cursor"], current) == first["next_cursor"]
    assert [e["action"] for e in page(first["next_cursor"]).json()["items"]] == ["read_ticket"]
    derived = hashlib.sha256(b"cursor:servicedesk-local-development-secret").digest()
    refused = page(_signed_again(first["next_cursor"], derived))  # the key of the environment
    assert refused.status_code == 400
    assert [e["path"] for e in refused.json()["errors"]] == ["cursor"]


def test_the_audit_log_is_for_auditors_and_takes_exactly_one_key(stack, auth):
    for group in ("customers", "agents", "supervisors"):
        assert _get(stack, auth, group, "x", "/v1/audit", actor="a").status_code == 403
    both = _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor="a", ticket_id="T-1")
    assert both.status_code == 400
    assert _get(stack, auth, "auditors", "aud-r", "/v1/audit").status_code == 400
    forged = _get(stack, auth, "auditors", "aud-r", "/v1/audit", actor="a", cursor="AAAA")
    assert [e["path"] for e in forged.json()["errors"]] == ["cursor"]


def test_an_erasure_leaves_no_contact_data_behind_and_the_counts_unchanged(stack, auth):
    customer = _customer()
    ticket = _open(stack, auth, customer)
    owner = auth("customers", customer)
    url = f"{stack.api}/v1/tickets/{ticket['id']}"
    comment = requests.post(
        f"{url}/comments", json={"body": f"My number is {PHONE}"}, headers=owner, timeout=30
    )
    assert comment.status_code == 201
    erase = f"{stack.api}/v1/customers/{customer}/erasure"
    auditor = auth("auditors", "aud-pipl")

    busy = requests.post(erase, headers=auditor, timeout=30)
    assert busy.status_code == 409  # the ticket is still open

    cancel = requests.post(
        f"{url}/actions",
        json={"action": "cancel", "reason": "Wang sorted it"},
        headers=owner,
        timeout=30,
    )
    assert cancel.status_code == 200

    def cancel_notified() -> bool:
        # The stream handles events in order: once the cancel's message is recorded, the
        # creation has been counted and nothing personal is still on its way in.
        entries = requests.get(f"{url}/timeline", headers=auditor, timeout=30).json()["items"]
        return any(e["data"].get("template") == "ticket.cancelled" for e in entries)

    wait_for(cancel_notified, timeout=30)
    before = _summary(stack, auth)

    assert requests.post(erase, headers=auth("agents", "agent-x"), timeout=30).status_code == 403
    done = requests.post(erase, headers=auditor, timeout=30)
    assert done.status_code == 200, done.text
    assert done.json()["tickets"] == 1

    erased = requests.get(url, headers=auditor, timeout=30).json()
    assert erased["contact"]["phone"] is None and erased["contact"]["email"] is None
    assert erased["subject"] == "[erased]" and erased["description"] == ""
    timeline = requests.get(f"{url}/timeline", headers=auditor, timeout=30).text
    for personal in ("Wang", "Chengdu", "5678", "w***@", PHONE):
        assert personal not in timeline and personal not in str(erased)
    assert _summary(stack, auth)["tickets_created"] == before["tickets_created"]

    log = requests.get(
        f"{stack.api}/v1/audit", params={"actor": "aud-pipl"}, headers=auditor, timeout=30
    ).json()
    assert "erase_customer" in [e["action"] for e in log["items"]]
    again = requests.post(erase, headers=auditor, timeout=30)
    assert (again.status_code, again.json()["anonymized_now"]) == (200, 0)


def test_erasure_of_a_customer_never_seen_is_404(stack, auth):
    response = requests.post(
        f"{stack.api}/v1/customers/{_customer()}/erasure",
        headers=auth("auditors", "aud-pipl"),
        timeout=30,
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
