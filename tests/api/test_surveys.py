"""Follow-up surveys through the local stack: moto's Step Functions executor runs the
real state machine, the pump feeds the real stream handler, SMS land in moto SNS.

The stack's survey delay is 1 s and each round's window 20 s (tests/api/support.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import requests

from tests.api.support import fresh_phone, wait_for

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]{22}))")
JSON = {"Accept": "application/json"}


def _phone() -> str:
    return fresh_phone()


def _texts_to(stack, number: str) -> list[str]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    messages = data.get("sns", {}).get("SMS", [])
    return [m.get("message") or m.get("Message") or str(m) for m in messages if number in str(m)]


def _resolved(stack, auth, locale: str = "zh-CN") -> tuple[dict[str, Any], str, str]:
    customer, phone = f"c-sv-{uuid.uuid4().hex[:8]}", _phone()
    created = requests.post(
        f"{stack.api}/v1/tickets",
        json={
            "channel": "web",
            "kind": "consultation",
            "category": "deposit",
            "subject": "Term deposit rate",
            "contact": {"phone": phone, "locale": locale},
        },
        headers=auth("customers", customer),
        timeout=30,
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    for body in (
        {"action": "assign"},
        {"action": "start"},
        {"action": "resolve", "resolution": "x"},
    ):
        moved = requests.post(
            f"{stack.api}/v1/tickets/{ticket['id']}/actions",
            json=body,
            headers=auth("agents", "a-sv"),
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
    return ticket, customer, phone


def _links(
    stack, auth, ticket_id: str, phone: str, *, count: int = 1, timeout: float = 60.0
) -> list[tuple[str, str]]:
    """The survey links texted so far: polled on the cheap timeline, then read once from
    moto's full dump (which grows with every item the suite writes)."""

    def told() -> bool:
        timeline = requests.get(
            f"{stack.api}/v1/tickets/{ticket_id}/timeline",
            params={"limit": 100},
            headers=auth("agents", "a-sv"),
            timeout=30,
        ).json()["items"]
        sent = [
            entry
            for entry in timeline
            if entry["type"] == "notification.sent"
            and entry["data"]["template"] in ("survey.invited", "survey.reminded")
        ]
        return len(sent) >= count

    wait_for(told, timeout=timeout)
    links = [match for text in _texts_to(stack, phone) for match in LINK.findall(text)]
    assert len(links) >= count, links
    return links[:count]


def _status(stack, auth, ticket_id: str) -> str:
    response = requests.get(
        f"{stack.api}/v1/tickets/{ticket_id}", headers=auth("agents", "a-sv"), timeout=30
    )
    return str(response.json()["status"])


def test_answer_from_the_sms_link_closes_the_ticket(stack, auth):
    ticket, _, phone = _resolved(stack, auth)
    [(short, code)] = _links(stack, auth, ticket["id"], phone)
    texts = _texts_to(stack, phone)
    assert any(short in text and text.startswith("【XX银行】") for text in texts)

    redirect = requests.get(short, allow_redirects=False, timeout=30)
    assert redirect.status_code == 302
    assert redirect.headers["Location"] == f"{stack.api}/v1/surveys/{code}"
    page = requests.get(redirect.headers["Location"], timeout=30)  # no login needed
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "Term deposit rate" in page.text
    assert phone[-4:] not in page.text

    shown = requests.get(f"{stack.api}/v1/surveys/{code}", headers=JSON, timeout=30)
    assert shown.json() == {"status": "open", "subject": "Term deposit rate", "locale": "zh-CN"}

    answered = requests.post(
        f"{stack.api}/v1/surveys/{code}", json={"score": 5, "comment": "fast"}, timeout=30
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "answered"
    again = requests.post(f"{stack.api}/v1/surveys/{code}", json={"score": 1}, timeout=30)
    assert again.status_code == 409 and again.json()["type"] == "survey-answered"
    wait_for(lambda: _status(stack, auth, ticket["id"]) == "closed", timeout=60)

    timeline = requests.get(
        f"{stack.api}/v1/tickets/{ticket['id']}/timeline",
        headers=auth("agents", "a-sv"),
        timeout=30,
    ).json()["items"]
    answer = next(entry for entry in timeline if entry["type"] == "survey.answered")
    assert answer["data"]["score"] == 5 and answer["data"]["comment"] == "fast"


def test_low_score_from_the_form_opens_a_recovery_ticket(stack, auth):
    ticket, customer, phone = _resolved(stack, auth, "en-US")
    [(_, code)] = _links(stack, auth, ticket["id"], phone)
    answered = requests.post(
        f"{stack.api}/v1/surveys/{code}", data={"score": "1", "comment": "rude"}, timeout=30
    )
    assert answered.status_code == 201
    assert answered.headers["Content-Type"].startswith("text/html")
    assert "Thank you for your feedback" in answered.text

    def recovery() -> list[dict[str, Any]]:
        mine = requests.get(
            f"{stack.api}/v1/tickets", headers=auth("customers", customer), timeout=30
        ).json()["items"]
        return [t for t in mine if t["parent_id"] == ticket["id"]]

    [child] = wait_for(recovery, timeout=60)
    assert (child["kind"], child["queue"], child["priority"]) == (
        "complaint",
        "service-recovery",
        "high",
    )
    assert child["subject"] == f"Service recovery: {ticket['reference']} (survey score 1)"


def test_bad_answers_record_nothing(stack, auth):
    ticket, _, phone = _resolved(stack, auth)
    [(_, code)] = _links(stack, auth, ticket["id"], phone)
    url = f"{stack.api}/v1/surveys/{code}"
    for body, field in (
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": "5"}, "score"),
        ({"score": 3, "comment": "x" * 1001}, "comment"),
        ({"score": 3, "name": "Li"}, "name"),
    ):
        refused = requests.post(url, json=body, timeout=30)
        assert refused.status_code == 400, body
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert field in {error["path"] for error in refused.json()["errors"]}, refused.text
    form = requests.post(url, data={"score": "nine"}, timeout=30)
    assert form.status_code == 400 and form.headers["Content-Type"].startswith("text/html")
    assert 'role="alert"' in form.text
    for data in ({"score": "4\n"}, {"score": "4", "comment": "nul\x00"}, {"score": "\x0b4"}):
        form = requests.post(url, data=data, timeout=30)  # the JSON body's character rules
        assert form.status_code == 400, data
    refused = requests.post(url, json={"score": 3, "comment": "bell\x07"}, timeout=30)
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "comment"
    assert requests.get(url, headers=JSON, timeout=30).json()["status"] == "open"

    assert requests.get(f"{stack.api}/v1/surveys/not-a-code", timeout=30).status_code == 404
    unknown = requests.post(f"{stack.api}/v1/surveys/{'A' * 22}", json={"score": 3}, timeout=30)
    assert unknown.status_code == 404 and unknown.json()["type"] == "not-found"
    xml = requests.post(
        url, data="<score>3</score>", headers={"Content-Type": "application/xml"}, timeout=30
    )
    assert xml.status_code == 415


def test_unanswered_survey_reminds_once_then_expires(stack, auth):
    ticket, _, phone = _resolved(stack, auth)
    (_, first), (_, second) = _links(stack, auth, ticket["id"], phone, count=2, timeout=90)
    assert first != second
    wait_for(lambda: _status(stack, auth, ticket["id"]) == "closed", timeout=90)
    for code in (first, second):
        url = f"{stack.api}/v1/surveys/{code}"
        assert requests.get(url, headers=JSON, timeout=30).json()["status"] == "expired"
        late = requests.post(url, json={"score": 4}, timeout=30)
        assert late.status_code == 410 and late.json()["type"] == "survey-closed"
    assert len([text for text in _texts_to(stack, phone) if "/s/" in text]) == 2

    sfn = stack.client("stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    names = {e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    assert f"{ticket['id']}-r1" in names  # ops find it by ticket id in the console


def test_reopen_withdraws_the_survey(stack, auth):
    ticket, customer, phone = _resolved(stack, auth)
    [(_, code)] = _links(stack, auth, ticket["id"], phone)
    reopened = requests.post(
        f"{stack.api}/v1/tickets/{ticket['id']}/actions",
        json={"action": "reopen", "reason": "still wrong"},
        headers=auth("customers", customer),
        timeout=30,
    )
    assert reopened.status_code == 200
    url = f"{stack.api}/v1/surveys/{code}"
    wait_for(
        lambda: requests.get(url, headers=JSON, timeout=30).json()["status"] == "expired",
        timeout=60,
    )
    assert requests.post(url, json={"score": 5}, timeout=30).status_code == 410
    assert _status(stack, auth, ticket["id"]) == "in_progress"
