"""Daily SMS counters on moto (security review H2): one transaction counts a message on
its number's and its customer's day, both or neither, never past the limit; the items
hold the number's hash only and expire (TTL) two days after their day began."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from chalice.test import Client
from msgspec.structs import replace
from pynamodb.connection import Connection

import app as application
from chalicelib import bootstrap
from chalicelib.adapters.sms_quota import DynamoSmsQuota
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.sms_policy import CUSTOMER, NUMBER, quota_day, quota_expiry
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.notifications import notify
from chalicelib.service.ports import SmsCount
from chalicelib.service.tickets import StoredResponse, create_ticket
from local.token import mint
from tests.fakes import RecordingNotifier
from tests.integration.repository_support import table_items

PHONE = "+8613812348000"
DAY = "2026-11-27"


def _quota() -> DynamoSmsQuota:
    quota = bootstrap.container().sms_quota
    assert isinstance(quota, DynamoSmsQuota)
    return quota


def _count(event: str, customer: str = "cust-1", phone: str = PHONE) -> SmsCount:
    return SmsCount(phone_key(phone), customer, DAY, event, quota_expiry(DAY))


def _quota_items(table_name: str) -> list[dict[str, Any]]:
    return [i for i in table_items(table_name) if str(i["pk"]).startswith("SMSQUOTA#")]


def test_a_message_counts_on_its_numbers_and_its_customers_day(aws: dict[str, Any]) -> None:
    quota = _quota()
    assert quota.take(_count("E-1"), 20, 20) is None
    assert quota.take(_count("E-2"), 20, 20) is None  # another message: counted again
    items = {item["pk"]: item for item in _quota_items(aws["table_name"])}
    assert set(items) == {f"SMSQUOTA#NUMBER#{phone_key(PHONE)}", "SMSQUOTA#CUSTOMER#cust-1"}
    for item in items.values():
        assert (item["sk"], item["sent"], item["item_type"]) == (f"DAY#{DAY}", 2, "sms_quota")
        assert item["expires_at"] == int(datetime(2026, 11, 28, 16, tzinfo=UTC).timestamp())
    assert not [
        i for i in _quota_items(aws["table_name"]) if "13812348000" in json.dumps(i, default=str)
    ]


def test_a_full_counter_counts_nothing_on_either(aws: dict[str, Any]) -> None:
    quota = _quota()
    assert quota.take(_count("E-1"), 1, 5) is None
    assert quota.take(_count("E-2"), 1, 5) == NUMBER
    assert quota.count(CUSTOMER, "cust-1", DAY) == 1  # the refused one is not counted
    other = _count("E-3", phone="+8613912349000")
    assert quota.take(other, 1, 1) == CUSTOMER
    assert quota.count(NUMBER, other.phone_key, DAY) == 0
    assert quota.take(replace(other, day="2026-11-28"), 1, 1) is None  # a new day


def test_messages_racing_for_the_last_ones_never_pass_the_limit(aws: dict[str, Any]) -> None:
    quota = _quota()
    with ThreadPoolExecutor(max_workers=6) as pool:
        taken = list(pool.map(lambda n: quota.take(_count(f"E-{n}"), 5, 100), range(12)))
    assert taken.count(None) == 5 and taken.count(NUMBER) == 7
    assert quota.count(NUMBER, phone_key(PHONE), DAY) == 5


def test_the_days_alert_is_taken_once_and_can_be_given_back(aws: dict[str, Any]) -> None:
    quota = _quota()
    key = phone_key(PHONE)
    assert quota.claim_alert(NUMBER, key, DAY, quota_expiry(DAY))
    assert not quota.claim_alert(NUMBER, key, DAY, quota_expiry(DAY))
    quota.release_alert(NUMBER, key, DAY)
    assert quota.claim_alert(NUMBER, key, DAY, quota_expiry(DAY))
    assert quota.claim_alert(NUMBER, key, "2026-11-28", quota_expiry("2026-11-28"))
    [item, _] = sorted(_quota_items(aws["table_name"]), key=lambda i: str(i["sk"]))
    assert item["expires_at"] == int(quota_expiry(DAY).timestamp()) and "sent" not in item


def _open(customer: Caller) -> Ticket:
    request = TicketRequest("web", "consultation", "card", "Card blocked", "", {"phone": PHONE})
    ports = bootstrap.container().ticket_ports()

    def render(ticket: Ticket) -> StoredResponse:
        return StoredResponse(201, json.dumps(ticket_view(ticket, customer)))

    body = json.loads(create_ticket(ports, customer, request, render).body)
    ticket = ports.repository.get(body["id"])
    assert ticket is not None
    return ticket


def test_the_containers_notifier_stops_at_the_configured_daily_cap(aws: dict[str, Any]) -> None:
    container = bootstrap.container()
    settings = replace(container.settings, sms_daily_limit_per_number=2)
    ports = replace(
        replace(container, settings=settings).notification_ports(), notifier=RecordingNotifier()
    )
    outcomes = []
    for n in range(3):
        ticket = _open(Caller(Role.CUSTOMER, f"cust-{n}"))
        [created] = [
            e for e in container.repository.events(ticket.id) if e.type == EventType.TICKET_CREATED
        ]
        notify(created, ports)
        [outcome] = [
            e for e in container.repository.events(ticket.id) if e.type.startswith("notif")
        ]
        outcomes.append((outcome.type, outcome.data.get("reason")))
    assert outcomes == [
        ("notification.sent", None),
        ("notification.sent", None),
        ("notification.skipped", "sms_quota_exceeded"),
    ]
    today = quota_day(container.clock())
    assert _quota().count(NUMBER, phone_key(PHONE), today) == 2


# --- the allow-list at input: POST /v1/tickets and POST /v1/appointments -----------------------


def _post(client: Client, path: str, body: dict[str, Any], subject: str = "cust-in") -> Any:
    headers = {
        "Authorization": f"Bearer {mint('customers', subject)}",
        "Content-Type": "application/json",
    }
    return client.http.post(path, headers=headers, body=json.dumps(body))


def _refused_phone(response: Any) -> None:
    assert response.status_code == 400, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.body)
    assert problem["type"] == "validation-failed"
    assert [error["path"] for error in problem["errors"]] == ["contact.phone"]


def test_a_ticket_whose_number_the_desk_may_not_text_is_refused_at_once(
    aws: dict[str, Any],
) -> None:
    ticket = {"channel": "mobile", "kind": "consultation", "category": "card", "subject": "Hi"}
    with Client(application.app) as client:
        refused = _post(client, "/v1/tickets", ticket | {"contact": {"phone": "+88234567890"}})
        _refused_phone(refused)
        assert "+86, +852, +853" in json.loads(refused.body)["errors"][0]["message"]
        for phone in ("+85291234567", "+85361234567", PHONE):
            created = _post(client, "/v1/tickets", ticket | {"contact": {"phone": phone}})
            assert created.status_code == 201, created.body
    assert not [
        i for i in table_items(aws["table_name"]) if "PHONE#" + phone_key("+88234567890") == i["pk"]
    ]


def test_an_appointment_whose_number_the_desk_may_not_text_is_refused(
    aws: dict[str, Any],
) -> None:
    # Refused before the branch or the slot is looked at.
    with Client(application.app) as client:
        booking: dict[str, Any] = {"branch_id": "any", "slot_start": "2030-01-07T02:00:00Z"}
        booking |= {"category": "card", "subject": "Visit", "contact": {"phone": "+14155552671"}}
        _refused_phone(_post(client, "/v1/appointments", booking))


def test_the_alert_claim_is_stamped_by_the_injected_clock(aws: dict[str, Any]) -> None:
    moment = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    connection = Connection(region=bootstrap.container().settings.region)
    quota = DynamoSmsQuota(connection, lambda: moment)
    key = phone_key("+8613800000077")
    assert quota.claim_alert(NUMBER, key, DAY, quota_expiry(DAY))
    (item,) = [i for i in _quota_items(aws["table_name"]) if "alerted_at" in i]
    assert str(item["alerted_at"]).startswith("2026-03-01T08:30:00")
