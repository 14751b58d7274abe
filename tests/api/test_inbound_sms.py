"""SMS in and events out through the local stack (SPEC 12, issue 17's "done when"):
texts published to moto's `inbound-sms` topic as End User Messaging does, read by the
queue pump and the handler Lambda runs; a rule on the `servicedesk` bus."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import requests

from local.sms import send
from tests.api.support import Stack, fresh_phone, wait_for

Auth = Callable[[str, str], dict[str, str]]
WAIT = 40.0  # stream pump, queue pump, survey workflow: generous on a busy machine


def _phone() -> str:
    return fresh_phone()


def _open(stack: Stack, auth: Auth, customer: str, phone: str) -> dict[str, Any]:
    body = {
        "channel": "mobile",
        "kind": "consultation",
        "category": "card",
        "subject": "Card blocked",
        "contact": {"phone": phone},
    }
    response = requests.post(
        f"{stack.api}/v1/tickets", json=body, headers=auth("customers", customer), timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _act(stack: Stack, auth: Auth, ticket: dict[str, Any], *steps: dict[str, str]) -> None:
    url = f"{stack.api}/v1/tickets/{ticket['id']}/actions"
    for step in steps:
        response = requests.post(url, json=step, headers=auth("agents", "agent-sms"), timeout=30)
        assert response.status_code == 200, response.text


def _timeline(stack: Stack, auth: Auth, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    url = f"{stack.api}/v1/tickets/{ticket['id']}/timeline?limit=100"
    items: list[dict[str, Any]] = requests.get(
        url, headers=auth("agents", "a-1"), timeout=30
    ).json()["items"]
    return items


def _texted(stack: Stack, auth: Auth, ticket: dict[str, Any], template: str) -> None:
    """Wait until the desk's SMS about `template` is recorded (and so indexed)."""
    wait_for(
        lambda: any(
            e["type"] == "notification.sent" and e["data"]["template"] == template
            for e in _timeline(stack, auth, ticket)
        ),
        WAIT,
    )


def _ticket(stack: Stack, auth: Auth, ticket: dict[str, Any]) -> dict[str, Any]:
    url = f"{stack.api}/v1/tickets/{ticket['id']}"
    found: dict[str, Any] = requests.get(url, headers=auth("agents", "a-1"), timeout=30).json()
    return found


def test_an_sms_reply_moves_a_waiting_ticket_to_in_progress(stack: Stack, auth: Auth) -> None:
    customer, phone = f"cust-in-{uuid.uuid4().hex[:6]}", _phone()
    ticket = _open(stack, auth, customer, phone)
    _act(stack, auth, ticket, {"action": "assign"}, {"action": "start"})
    _act(stack, auth, ticket, {"action": "request_info", "message": "Which card?"})
    _texted(stack, auth, ticket, "ticket.waiting_on_customer")

    send(phone, "The one ending 4242", sns=stack.client("sns"))

    wait_for(lambda: _ticket(stack, auth, ticket)["status"] == "in_progress", WAIT)
    [comment] = [e for e in _timeline(stack, auth, ticket) if e["type"] == "comment.added"]
    assert comment["data"] == {"body": "The one ending 4242", "internal": False, "channel": "sms"}
    assert comment["actor"]["role"] == "customer"


def test_td_switches_sms_off_and_keeps_email(stack: Stack, auth: Auth) -> None:
    customer, phone = f"cust-td-{uuid.uuid4().hex[:6]}", _phone()
    url = f"{stack.api}/v1/customers/{customer}/preferences"
    requests.put(
        url,
        json={"sms": True, "email": True, "locale": "en-US"},
        headers=auth("customers", customer),
        timeout=30,
    )
    ticket = _open(stack, auth, customer, phone)
    _texted(stack, auth, ticket, "ticket.created")

    send(phone, "TD", sns=stack.client("sns"))

    wait_for(
        lambda: (
            requests.get(url, headers=auth("customers", customer), timeout=30).json()["sms"]
            is False
        ),
        WAIT,
    )
    preferences = requests.get(url, headers=auth("customers", customer), timeout=30).json()
    assert (preferences["email"], preferences["locale"]) == (True, "en-US")
    opted_out = [e for e in _timeline(stack, auth, ticket) if e["type"] == "notification.opted_out"]
    assert [e["data"] for e in opted_out] == [{"channel": "sms"}]


def test_5_answers_the_survey_sent_by_sms(stack: Stack, auth: Auth) -> None:
    customer, phone = f"cust-5-{uuid.uuid4().hex[:6]}", _phone()
    ticket = _open(stack, auth, customer, phone)
    _act(stack, auth, ticket, {"action": "assign"}, {"action": "start"})
    _act(stack, auth, ticket, {"action": "resolve", "resolution": "Unblocked"})
    _texted(stack, auth, ticket, "survey.invited")

    send(phone, "5", sns=stack.client("sns"))

    wait_for(lambda: _ticket(stack, auth, ticket)["status"] == "closed", WAIT)
    [answered] = [e for e in _timeline(stack, auth, ticket) if e["type"] == "survey.answered"]
    assert answered["data"]["score"] == 5
    assert not [e for e in _timeline(stack, auth, ticket) if e["type"] == "comment.added"]


def test_a_rule_on_the_servicedesk_bus_receives_ticket_created(stack: Stack, auth: Auth) -> None:
    sqs, events = stack.client("sqs"), stack.client("events")
    name = f"crm-{uuid.uuid4().hex[:6]}"
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=name,
        EventBusName="servicedesk",
        EventPattern=json.dumps({"source": ["servicedesk"], "detail-type": ["ticket.created"]}),
    )
    events.put_targets(
        Rule=name, EventBusName="servicedesk", Targets=[{"Id": "crm", "Arn": queue_arn}]
    )
    customer, phone = f"cust-bus-{uuid.uuid4().hex[:6]}", _phone()
    ticket = _open(stack, auth, customer, phone)

    def delivered() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
        return [b for b in bodies if b["detail"]["ticket_id"] == ticket["id"]]

    [event] = wait_for(delivered, WAIT)
    assert event["source"] == "servicedesk" and event["detail-type"] == "ticket.created"
    assert event["detail"]["reference"] == ticket["reference"]
    assert event["detail"]["customer_id"] == customer
    assert phone[3:] not in json.dumps(event) and "Card blocked" not in json.dumps(event)
