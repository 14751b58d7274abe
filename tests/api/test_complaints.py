"""SPEC section 13 over HTTP against the local stack: a supervisor walks a complaint through
classification, two extensions (the second approved by a colleague), a suspension and a
resolution; the customer is told each step in one SMS; the regulator's report counts it
as JSON and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from chalicelib.domain.sms import segments
from tests.api.support import fresh_phone, report_days, wait_for


class Client:
    def __init__(self, base: str, group: str, subject: str, token: Any) -> None:
        self.base = base
        self.id = subject
        self.headers = {"Authorization": f"Bearer {token(group, subject)}"}

    def get(self, path: str, accept: str | None = None, **params: Any) -> requests.Response:
        headers = {**self.headers, **({"Accept": accept} if accept else {})}
        return requests.get(self.base + path, params=params, headers=headers, timeout=30)

    def act(self, ticket_id: str, action: str, **params: Any) -> requests.Response:
        return requests.post(
            f"{self.base}/v1/tickets/{ticket_id}/actions",
            json={"action": action, **params},
            headers=self.headers,
            timeout=30,
        )


def _problem(response: requests.Response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = dict(response.json())
    if slug:
        assert body["type"] == slug, body
    return body


def _texts_to(stack: Any, number: str) -> list[str]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    messages = data.get("sns", {}).get("SMS", [])
    return [m.get("message") or m.get("Message") or str(m) for m in messages if number in str(m)]


def _report(client: Client) -> dict[str, Any]:
    response = client.get("/v1/reports/complaints", **report_days())
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return dict(response.json())


def _csv_rows(client: Client) -> dict[tuple[str, str, str], dict[str, str]]:
    response = client.get("/v1/reports/complaints", accept="text/csv", **report_days())
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == (
        "business,cause,channel,received,concluded,"
        "within_15_days,within_30_days,within_60_days,later,withdrawn"
    )
    rows = csv.DictReader(io.StringIO(response.text))
    return {(r["business"], r["cause"], r["channel"]): r for r in rows}


def _due(ticket: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ticket["sla"]["resolution_due"])


def test_a_supervisor_walks_a_complaint_to_its_decision_and_the_report_counts_it(stack, token):
    run = uuid.uuid4().hex[:6]
    customer = Client(stack.api, "customers", f"cust-cmp-{run}", token)
    agent = Client(stack.api, "agents", f"agent-cmp-{run}", token)
    lead = Client(stack.api, "supervisors", f"sup-lead-{run}", token)
    colleague = Client(stack.api, "supervisors", f"sup-second-{run}", token)
    phone = fresh_phone("+86137")

    codes = customer.get("/v1/complaint-codes")
    assert codes.status_code == 200, codes.text
    assert {"code": "card", "name": {"zh-CN": "银行卡业务", "en-US": "Cards"}} in codes.json()[
        "business"
    ]
    report_before, rows_before = _report(lead), _csv_rows(lead)

    opened = requests.post(
        f"{stack.api}/v1/tickets",
        json={
            "channel": "mobile",
            "kind": "complaint",
            "category": "card",
            "subject": "Annual fee charged twice",
            "contact": {"phone": phone, "preferred": "sms", "locale": "zh-CN"},
        },
        headers=customer.headers,
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    tid, received = ticket["id"], datetime.fromisoformat(ticket["received_at"])
    assert ticket["complaint"]["business"] is None
    assert lead.act(tid, "assign", assignee=agent.id).status_code == 200
    assert agent.act(tid, "start").status_code == 200

    # Classification: required to resolve; unknown codes are a 400 naming the field.
    _problem(agent.act(tid, "resolve", resolution="Refunded"), 409, "classification-required")
    bad = _problem(agent.act(tid, "classify", business="mortgage", cause="fees"), 400)
    assert [e["path"] for e in bad["errors"]] == ["business"]
    classified = agent.act(tid, "classify", business="card", cause="fees")
    assert classified.status_code == 200, classified.text
    assert classified.json()["complaint"]["business"] == "card"

    # The ladder: 30 days, then a request (202) that a colleague approves: 60 days.
    first = lead.act(tid, "extend", reason="Card network records needed")
    assert first.status_code == 200, first.text
    assert _due(first.json()) == received + timedelta(days=30)
    asked = lead.act(tid, "extend", reason="Particularly complex: two card schemes")
    assert asked.status_code == 202, asked.text
    assert asked.json()["complaint"]["extension_requested"]["by"] == lead.id
    _problem(lead.act(tid, "extend", reason="approving my own"), 403, "four-eyes")
    approved = colleague.act(tid, "extend", reason="Approved")
    assert approved.status_code == 200, approved.text
    assert approved.json()["complaint"]["extensions"] == 2
    assert approved.json()["complaint"]["extension_requested"] is None
    assert _due(approved.json()) == received + timedelta(days=60)
    _problem(colleague.act(tid, "extend", reason="a third"), 409, "illegal-transition")

    # The clock stops for an outside appraisal and restarts later by the time stopped.
    stopped = lead.act(tid, "suspend_clock", reason="external_appraisal", note="Card scheme")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["complaint"]["clock_suspended"] is True
    _problem(lead.act(tid, "suspend_clock", reason="testing", note="Card scheme appraisal"), 409)
    resumed = lead.act(tid, "resume_clock")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["complaint"]["clock_suspended"] is False
    assert _due(resumed.json()) >= received + timedelta(days=60)
    _problem(lead.act(tid, "resume_clock"), 409)

    resolved = agent.act(tid, "resolve", resolution="Second fee refunded")
    assert resolved.status_code == 200, resolved.text

    # Told: received, each applied extension with its date, suspended, resumed, decided.
    texts = wait_for(lambda: (t := _texts_to(stack, phone)) and len(t) >= 6 and t, timeout=60)
    assert all(segments(text) == 1 and ticket["reference"] in text for text in texts), texts
    local = ZoneInfo("Asia/Shanghai")
    extended = [text for text in texts if "延长至" in text]  # "extended to <date>"
    dates = [(received + timedelta(days=d)).astimezone(local).date().isoformat() for d in (30, 60)]
    assert [date in text for text, date in zip(extended, dates, strict=True)] == [True, True]
    assert sum("不计入处理期限" in text for text in texts) == 1, texts  # the suspension
    assert sum("30日内申请核查" in text for text in texts) == 1, texts

    # The report counts it, as JSON and as CSV.
    def counted() -> dict[str, Any] | None:
        report = _report(lead)
        done = report["concluded"]["within_15_days"] > report_before["concluded"]["within_15_days"]
        return (
            report
            if done and report["extended"]["twice"] > report_before["extended"]["twice"]
            else None
        )

    report = wait_for(counted, timeout=30)
    assert report["received"]["by_business"].get("card", 0) == (
        report_before["received"]["by_business"].get("card", 0) + 1
    )
    assert report["extended"]["once"] == report_before["extended"]["once"] + 1
    row = _csv_rows(lead)[("card", "fees", "mobile")]
    before = rows_before.get(("card", "fees", "mobile"), {"received": "0", "concluded": "0"})
    assert int(row["received"]) == int(before["received"]) + 1
    assert int(row["concluded"]) == int(before["concluded"]) + 1

    # Reopened: a fresh clock, extended again, and classified anew. The complaint stays
    # counted once (its extensions were counted with its first decision) and under its
    # new codes, received and concluded alike.
    key = ("payment", "systems", "mobile")
    then = _csv_rows(lead).get(key, {"received": "0", "concluded": "0"})
    assert customer.act(tid, "reopen", reason="The fee is back").status_code == 200
    again = lead.act(tid, "extend", reason="Card network records needed again")
    assert again.status_code == 200, again.text
    moved = agent.act(tid, "classify", business="payment", cause="systems")
    assert moved.status_code == 200, moved.text

    def reclassified() -> dict[tuple[str, str, str], dict[str, str]] | None:
        rows = _csv_rows(lead)
        counted = int(rows.get(key, {}).get("concluded", "0")) > int(then["concluded"])
        return rows if counted else None

    rows_now = wait_for(reclassified, timeout=30)  # the stream keeps the ticket's order
    assert int(rows_now[key]["received"]) == int(then["received"]) + 1
    assert int(rows_now[key]["concluded"]) == int(then["concluded"]) + 1
    card = rows_now.get(("card", "fees", "mobile"), {"received": "0", "concluded": "0"})
    assert (int(card["received"]), int(card["concluded"])) == (
        int(row["received"]) - 1,
        int(row["concluded"]) - 1,
    )
    assert _report(lead)["extended"] == report["extended"]


def test_complaint_rules_refuse_other_kinds_and_the_report_other_callers(stack, token):
    run = uuid.uuid4().hex[:6]
    customer = Client(stack.api, "customers", f"cust-cmp2-{run}", token)
    lead = Client(stack.api, "supervisors", f"sup-cmp2-{run}", token)
    agent = Client(stack.api, "agents", f"agent-cmp2-{run}", token)
    consultation = requests.post(
        f"{stack.api}/v1/tickets",
        json={"channel": "web", "kind": "consultation", "category": "card", "subject": "Limits"},
        headers=customer.headers,
        timeout=30,
    ).json()
    for action, params in (
        ("extend", {"reason": "x"}),
        ("suspend_clock", {"reason": "testing", "note": "Card scheme appraisal"}),
    ):
        _problem(lead.act(consultation["id"], action, **params), 409, "illegal-transition")
    assert "complaint" not in customer.get(f"/v1/tickets/{consultation['id']}").json()

    _problem(agent.get("/v1/reports/complaints", **report_days()), 403)
    bad = _problem(lead.get("/v1/reports/complaints", **{"from": "2026-12-02", "to": "x"}), 400)
    assert [e["path"] for e in bad["errors"]] == ["to"]
    # CSV is the complaint report's only: another report answers 406 to a CSV-only Accept.
    _problem(
        lead.get("/v1/reports/summary", accept="text/csv", **report_days()), 406, "not-acceptable"
    )
    both = lead.get(
        "/v1/reports/summary", accept="text/csv, application/json;q=0.5", **report_days()
    )
    assert both.status_code == 200


# A complaint a supervisor takes down at the branch for the customer.
_AT_THE_BRANCH = {"channel": "branch", "kind": "complaint", "category": "card", "subject": "Fee"}


def test_a_late_clock_is_not_stopped_and_an_ended_one_is_not_left_suspended(stack, token):
    run = uuid.uuid4().hex[:6]
    customer = Client(stack.api, "customers", f"cust-cmp3-{run}", token)
    lead = Client(stack.api, "supervisors", f"sup-cmp3-{run}", token)

    def open_complaint(received_days_ago: int) -> str:
        received = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=received_days_ago)
        at_the_branch = {**_AT_THE_BRANCH, "customer_id": customer.id}
        body = {**at_the_branch, "received_at": received.isoformat(timespec="seconds")}
        opened = requests.post(
            f"{stack.api}/v1/tickets", json=body, headers=lead.headers, timeout=30
        )
        assert opened.status_code == 201, opened.text
        return str(opened.json()["id"])

    # Received 16 days ago: stopping or extending the clock now would hide the breach.
    late = open_complaint(16)
    for action, params in (
        ("suspend_clock", {"reason": "testing", "note": "Card scheme appraisal"}),
        ("extend", {"reason": "x"}),
    ):
        problem = _problem(lead.act(late, action, **params), 409, "deadline-passed")
        assert problem["current_status"] == "new"

    # Withdrawn while suspended: the suspension ends with it.
    suspended = open_complaint(2)
    stopped = lead.act(
        suspended, "suspend_clock", reason="external_appraisal", note="Card scheme appraisal"
    )
    assert stopped.status_code == 200, stopped.text
    withdrawn = customer.act(suspended, "cancel", reason="Sorted out at the branch")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["complaint"]["clock_suspended"] is False
    assert customer.get(f"/v1/tickets/{suspended}").json()["complaint"]["clock_suspended"] is False
