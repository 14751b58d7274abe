"""Email in through the local stack (SPEC 12): `python -m local.mail` drops a message in the
inbound bucket, moto's notification reaches the queue, the runner's pump calls the handler."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.mail_support import call, reply_to_when_asked, send_mail, waiting_ticket
from tests.api.support import wait_for


def test_a_customers_reply_is_on_the_ticket_without_the_quote(stack, auth):
    run = uuid.uuid4().hex[:8]
    customer, address = f"cust-mail-{run}", f"li.na.{run}@example.cn"
    ticket_id = waiting_ticket(stack, auth, customer, address)
    reply_to = wait_for(lambda: reply_to_when_asked(stack, address), timeout=30)
    send_mail(
        stack,
        "--from",
        address.upper(),
        "--to",
        reply_to,
        "--subject",
        "Re: ticket",
        "My ID is 1234.\nOn Mon, 1 Dec 2026, The Bank <desk@bank.example> wrote:\n> Your ID?",
    )
    owner = ("customers", customer)

    def commented() -> Any:
        timeline = call(stack, auth, owner, "GET", f"/v1/tickets/{ticket_id}/timeline").json()
        return [e for e in timeline["items"] if e["type"] == "comment.added"]

    [comment] = wait_for(commented, timeout=30)
    assert comment["data"]["body"] == "My ID is 1234."
    assert comment["data"]["channel"] == "email"
    ticket = call(stack, auth, owner, "GET", f"/v1/tickets/{ticket_id}").json()
    assert ticket["status"] == "in_progress"


def test_a_strangers_mail_waits_in_triage_and_an_agent_opens_a_ticket(stack, auth):
    run = uuid.uuid4().hex[:8]
    stranger = f"stranger.{run}@elsewhere.example"
    send_mail(
        stack,
        "--from",
        stranger,
        "--to",
        "help@bank.example",
        "--subject",
        f"Hello {run}",
        "Who can help?",
    )
    agent, auditor = ("agents", "agent-triage"), ("auditors", "aud-triage")

    def triaged() -> Any:
        items = call(stack, auth, agent, "GET", "/v1/inbox", params={"status": "open"}).json()
        return [i for i in items["items"] if i.get("subject") == f"Hello {run}"]

    [item] = wait_for(triaged, timeout=30)
    assert item["reason"] == "unknown_sender"
    assert item["from"] == "s***@elsewhere.example" and stranger not in str(item)
    path = f"/v1/inbox/{item['id']}"
    assert call(stack, auth, ("customers", "c-1"), "GET", "/v1/inbox").status_code == 403
    assert call(stack, auth, ("customers", "c-1"), "GET", path).status_code == 403
    full = call(stack, auth, auditor, "GET", path)
    assert full.status_code == 200 and full.json()["text"] == "Who can help?"
    body = {"customer_id": f"cust-new-{run}", "kind": "consultation", "category": "other"}
    assert call(stack, auth, auditor, "POST", f"{path}/ticket", json=body).status_code == 403
    bad = call(stack, auth, agent, "POST", f"{path}/ticket", json={**body, "kind": "nope"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "kind"
    opened = call(stack, auth, agent, "POST", f"{path}/ticket", json=body)
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert ticket["customer_id"] == body["customer_id"] and ticket["channel"] == "email"
    assert ticket["description"] == "Who can help?"
    assert ticket["contact"]["email"] == "s***@elsewhere.example"
    again = call(stack, auth, agent, "POST", f"{path}/discard", json={"reason": "late"})
    assert again.status_code == 409, again.text
    handled = call(stack, auth, agent, "GET", "/v1/inbox", params={"status": "ticketed"}).json()
    assert any(i["id"] == item["id"] and i["ticket_id"] == ticket["id"] for i in handled["items"])


def test_a_forged_token_and_failed_verdicts_never_reach_the_ticket(stack, auth):
    run = uuid.uuid4().hex[:8]
    customer, address = f"cust-forge-{run}", f"forge.{run}@example.cn"
    ticket_id = waiting_ticket(stack, auth, customer, address)
    reply_to = wait_for(lambda: reply_to_when_asked(stack, address), timeout=30)
    local, _, domain = reply_to.partition("@")
    forged = (
        f"{local[:-4]}aaaa@{domain}" if not local.endswith("aaaa") else f"{local[:-4]}bbbb@{domain}"
    )
    send_mail(stack, "--from", address, "--to", forged, "--subject", f"Forged {run}", "let me in")
    send_mail(
        stack,
        "--from",
        address,
        "--to",
        reply_to,
        "--subject",
        f"Failing {run}",
        "--fail-verdicts",
        "hi",
    )
    agent = ("agents", "agent-forge")

    def both() -> Any:
        items = call(stack, auth, agent, "GET", "/v1/inbox", params={"limit": 100}).json()["items"]
        found = {i["subject"]: i["reason"] for i in items if run in i.get("subject", "")}
        return found if len(found) == 2 else None

    assert wait_for(both, timeout=30) == {
        f"Forged {run}": "no_reference",
        f"Failing {run}": "failed_verdict",
    }
    ticket = call(stack, auth, ("customers", customer), "GET", f"/v1/tickets/{ticket_id}").json()
    assert ticket["status"] == "waiting_on_customer"
