"""Notifications through the local stack: preferences API, one SMS per event in moto."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from chalicelib.domain.sms import segments
from tests.api.support import fresh_phone, wait_for


def _texts_to(stack, number: str) -> list[str]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    messages = data.get("sns", {}).get("SMS", [])
    return [m.get("message") or m.get("Message") or str(m) for m in messages if number in str(m)]


def test_preferences_are_the_customers_own(stack, auth):
    me = f"cust-pref-{uuid.uuid4().hex[:6]}"
    url = f"{stack.api}/v1/customers/{me}/preferences"
    unset = requests.get(url, headers=auth("customers", me), timeout=30)
    assert unset.json() == {"sms": True, "email": True, "locale": None, "quiet_hours": None}
    body = {
        "sms": False,
        "email": True,
        "locale": "en-US",
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    }
    saved = requests.put(url, json=body, headers=auth("customers", me), timeout=30)
    assert saved.status_code == 200, saved.text
    assert requests.get(url, headers=auth("agents", "a-1"), timeout=30).json() == body
    assert (
        requests.get(url, headers=auth("customers", "someone-else"), timeout=30).status_code == 404
    )
    assert (
        requests.put(
            url, json=body, headers=auth("customers", "someone-else"), timeout=30
        ).status_code
        == 404
    )
    assert (
        requests.put(url, json=body, headers=auth("supervisors", "s-1"), timeout=30).status_code
        == 403
    )
    for bad in (
        {**body, "locale": "fr-FR"},
        {**body, "quiet_hours": {"start": "25:00", "end": "08:00"}},
        {**body, "colour": "red"},
        {"sms": True},
    ):
        response = requests.put(url, json=bad, headers=auth("customers", me), timeout=30)
        assert response.status_code == 400, response.text
        assert response.headers["Content-Type"].startswith("application/problem+json")
    replaced = requests.put(
        url, json={"sms": True, "email": True}, headers=auth("customers", me), timeout=30
    ).json()
    assert replaced == {"sms": True, "email": True, "locale": None, "quiet_hours": None}


def _open(stack, auth, customer: str, phone: str, **contact: Any) -> dict[str, Any]:
    body = {
        "channel": "mobile",
        "kind": "consultation",
        "category": "card",
        "subject": "Card blocked",
        "contact": {"phone": phone, **contact},
    }
    response = requests.post(
        f"{stack.api}/v1/tickets", json=body, headers=auth("customers", customer), timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_creating_and_resolving_texts_once_per_event_in_one_segment(stack, auth):
    customer, phone = f"cust-sms-{uuid.uuid4().hex[:6]}", fresh_phone()
    ticket = _open(stack, auth, customer, phone)
    agent = auth("agents", "agent-sms")
    actions = f"{stack.api}/v1/tickets/{ticket['id']}/actions"
    for step in (
        {"action": "assign"},
        {"action": "start"},
        {"action": "resolve", "resolution": "Unblocked"},
    ):
        assert requests.post(actions, json=step, headers=agent, timeout=30).status_code == 200

    # Created, resolved, then the survey invitation (1 s after resolution in the test stack).
    texts = wait_for(lambda: (t := _texts_to(stack, phone)) and len(t) >= 3 and t)
    timeline_url = f"{stack.api}/v1/tickets/{ticket['id']}/timeline"
    sent = wait_for(
        lambda: (
            [
                e
                for e in requests.get(
                    timeline_url, headers=auth("customers", customer), timeout=30
                ).json()["items"]
                if e["type"] == "notification.sent"
            ]
            or None
        )
    )
    told, invited = texts[:2], texts[2]
    assert all(ticket["reference"] in text and segments(text) == 1 for text in told), texts
    assert "/s/" in invited and segments(invited) == 1, texts
    assert not any(ticket["reference"] in text for text in texts[2:])  # nothing sent twice
    assert all(e["data"]["to"] == f"+86 139****{phone[-4:]}" for e in sent)


def test_opted_out_customer_gets_nothing_and_the_timeline_says_why(stack, auth):
    customer = f"cust-stop-{uuid.uuid4().hex[:6]}"
    requests.put(
        f"{stack.api}/v1/customers/{customer}/preferences",
        json={"sms": False, "email": False},
        headers=auth("customers", customer),
        timeout=30,
    )
    ticket = _open(stack, auth, customer, fresh_phone())
    url = f"{stack.api}/v1/tickets/{ticket['id']}/timeline"
    skipped = wait_for(
        lambda: (
            [
                e
                for e in requests.get(url, headers=auth("agents", "a-1"), timeout=30).json()[
                    "items"
                ]
                if e["type"] == "notification.skipped"
            ]
            or None
        )
    )
    assert skipped[0]["data"]["reason"] == "opted_out"
