"""SLA over HTTP: due times on the real calendar, the sweep, escalation and the ops alert."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import holidays
import requests

from local.stack import PROJECT_DIR
from tests.api.support import wait_for

CONSULTATION = {
    "channel": "phone",
    "kind": "consultation",
    "category": "account",
    "subject": "Statement question",
}


def _open(stack, auth, **fields: Any) -> dict[str, Any]:
    body = {**CONSULTATION, "customer_id": f"cust-sla-{uuid.uuid4().hex[:6]}", **fields}
    response = requests.post(
        f"{stack.api}/v1/tickets", json=body, headers=auth("agents", "agent-sla"), timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


SHANGHAI = timezone(timedelta(hours=8))  # no DST in mainland China
BANK_DAYS = PROJECT_DIR / "chalicelib/data/calendars/cn-mainland.json"


def _special_days(years: range) -> set[date]:
    """Days the bank's file or the holidays library (SPEC: the calendar's sources) list."""
    listed = {date.fromisoformat(d["date"]) for d in json.loads(BANK_DAYS.read_text())["days"]}
    return listed | set(holidays.country_holidays("CN", years=years))


def plain_friday_before(now: datetime) -> datetime:
    """The latest Friday 16:50 Shanghai whose Monday 09:05 is past at `now`, at most 28 days
    back (the API takes a received_at up to 30 days old), with an ordinary weekend after it."""
    local_now = now.astimezone(SHANGHAI)
    friday = local_now.replace(hour=16, minute=50, second=0, microsecond=0) - timedelta(
        days=(local_now.weekday() - 4) % 7
    )
    special = _special_days(range(local_now.year - 1, local_now.year + 2))
    while local_now - friday <= timedelta(days=28):
        monday_0905 = (friday + timedelta(days=3)).replace(hour=9, minute=5)
        ordinary = not {friday.date() + timedelta(days=n) for n in range(4)} & special
        if ordinary and monday_0905 < local_now - timedelta(minutes=1):
            return friday
        friday -= timedelta(weeks=1)
    raise AssertionError(f"no ordinary weekend in the 4 weeks before {now}")


def test_due_times_follow_the_business_calendar(stack, auth):
    # Friday 16:50 in Shanghai: 10 working minutes left, then Monday 09:00 (+5 minutes).
    friday = plain_friday_before(datetime.now(UTC))
    ticket = _open(stack, auth, received_at=friday.isoformat())
    due = datetime.fromisoformat(ticket["sla"]["first_response_due"])
    assert due == (friday + timedelta(days=3)).replace(hour=9, minute=5)  # Monday 09:05
    # That Monday has passed: a back-dated ticket opens with its breach (SPEC 6).
    assert ticket["sla"]["breaches"] == ["first_response"]
    assert ticket["tier"] == 2


def _ops_alert_queue(stack) -> str:
    sqs, sns = stack.client("sqs"), stack.client("sns")
    url = sqs.create_queue(QueueName=f"ops-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":ops-alerts")
    )
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return str(url)


def test_a_consultation_received_20_days_ago_is_breached_escalated_and_alerted_once(stack, auth):
    inbox = _ops_alert_queue(stack)
    received = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    ticket = _open(stack, auth, received_at=received.isoformat())
    url = f"{stack.api}/v1/tickets/{ticket['id']}"
    headers = auth("agents", "agent-sla")

    def escalated() -> dict[str, Any] | None:
        current = requests.get(url, headers=headers, timeout=30).json()
        return current if current["sla"]["breaches"] else None

    current = wait_for(escalated, timeout=30)
    assert current["sla"]["breaches"] == ["first_response"]
    assert (current["tier"], current["queue"], current["assignee"]) == (2, "tier2", None)
    assert current["priority"] in ("high", "urgent")

    sqs = stack.client("sqs")

    def alerts_for_ticket() -> list[dict[str, Any]]:
        found = []
        for _ in range(3):
            batch = sqs.receive_message(
                QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            found += [json.loads(m["Body"]) for m in batch]
        return [a for a in found if a.get("ticket_id") == ticket["id"]]

    alerts = wait_for(alerts_for_ticket, timeout=30)
    assert len(alerts) == 1
    assert alerts[0]["alert"] == "sla.breached"
    assert alerts[0]["metric"] == "first_response"
    assert ticket["customer_id"] not in json.dumps(alerts[0])

    timeline = requests.get(f"{url}/timeline", headers=headers, timeout=30).json()["items"]
    assert [e["type"] for e in timeline].count("sla.breached") == 1
    assert alerts_for_ticket() == []  # later sweeps did not alert again
