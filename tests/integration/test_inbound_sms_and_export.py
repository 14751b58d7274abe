"""Inbound SMS and the EventBridge export on moto: the real adapters, the template's topic,
queue, subscription and bus, the handlers Lambda runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.adapters.event_bus import EventBridgeBus
from chalicelib.adapters.models import InboundSmsItem
from chalicelib.adapters.sms_index import DynamoSmsIndex, inbound_pk
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import InboundSms, phone_key
from chalicelib.domain.inbox import TriageReason, inbox_id_for
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.handlers.inbound_sms import on_inbound_sms
from chalicelib.service.inbox import SmsToInbox
from chalicelib.service.ports import SmsSent
from chalicelib.service.tickets import StoredResponse, act, create_ticket
from local.pump import LocalLambdaContext
from local.queues import sqs_event
from local.sms import send
from tests.integration.streams import deliver, stream_records

PHONE = "+8613812348000"
AGENT = Caller(Role.AGENT, "agent-1")
CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
SUBJECT = "Card blocked abroad (Jane Doe)"
AT = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


# --- the index on the table -------------------------------------------------------------------


def _sent(minutes: int, ticket: str, customer: str = "c-1", survey: str | None = None) -> SmsSent:
    return SmsSent(
        phone_key(PHONE), ticket, customer, AT + timedelta(minutes=minutes), f"E-{minutes}", survey
    )


def test_the_index_returns_recent_sms_newest_first_within_the_window(aws: dict[str, Any]) -> None:
    index = DynamoSmsIndex()
    for sent in (_sent(0, "T-1"), _sent(10, "T-2", survey="T-2-r1"), _sent(5, "T-1", "c-2")):
        index.remember(sent)
    index.remember(replace(_sent(7, "T-9"), phone_key=phone_key("+8613900000000")))

    recent = index.recent(phone_key(PHONE), AT + timedelta(minutes=1), 10)

    assert [(s.ticket_id, s.survey_id) for s in recent] == [("T-2", "T-2-r1"), ("T-1", None)]
    assert recent[0].at == AT + timedelta(minutes=10)
    assert index.recent(phone_key(PHONE), AT, 1) == recent[:1]
    assert sorted(index.customers(phone_key(PHONE))) == ["c-1", "c-2"]


def test_forgetting_a_customer_keeps_the_others_on_the_number(aws: dict[str, Any]) -> None:
    index = DynamoSmsIndex()
    for sent in (_sent(0, "T-1"), _sent(5, "T-2", "c-2"), _sent(10, "T-3")):
        index.remember(sent)
    index.forget(phone_key(PHONE), "c-1")
    assert index.customers(phone_key(PHONE)) == ["c-2"]
    assert [s.ticket_id for s in index.recent(phone_key(PHONE), AT, 10)] == ["T-2"]


def _triage() -> SmsToInbox:
    return SmsToInbox(bootstrap.container().inbox_store)


def _text(body: str, message_id: str) -> InboundSms:
    return InboundSms(message_id, PHONE, "+8610690000", body, AT)


def test_no_key_holds_a_readable_number(aws: dict[str, Any]) -> None:
    DynamoSmsIndex().remember(_sent(0, "T-1"))
    _triage().triage_sms(_text("hello", "m-1"), TriageReason.UNMATCHED_SMS)
    items = boto3.client("dynamodb").scan(TableName=aws["table_name"])["Items"]
    keys = [item["pk"]["S"] + item["sk"]["S"] for item in items]
    assert keys and not [key for key in keys if "13812348000" in key]


def test_handled_marks_and_triage_are_written_once(aws: dict[str, Any]) -> None:
    index, triage = DynamoSmsIndex(), _triage()
    assert not index.handled("m-1")
    index.mark_handled("m-1", "commented", AT)
    assert index.handled("m-1")
    triage.triage_sms(_text("hello", "m-2"), TriageReason.UNMATCHED_SMS)
    triage.triage_sms(_text("hello again", "m-2"), TriageReason.AMBIGUOUS_SENDER)  # again
    item = bootstrap.container().inbox_store.get(inbox_id_for("sms:m-2"))
    assert item is not None
    assert (item.sender, item.text, item.reason) == (PHONE, "hello", "unmatched_sms")


# --- end to end on moto -------------------------------------------------------------------------


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, ticket.id)


def _card_request(contact: dict[str, str]) -> TicketRequest:
    return TicketRequest(
        channel="mobile",
        kind="consultation",
        category="card",
        subject=SUBJECT,
        description="",
        contact=contact,
    )


def _open_waiting_ticket(aws: dict[str, Any]) -> str:
    ports = bootstrap.container().ticket_ports()
    ticket_id = create_ticket(ports, CUSTOMER, _card_request({"phone": PHONE}), _render).body
    for action, params in (("assign", {}), ("start", {}), ("request_info", {"message": "Which?"})):
        act(ports, AGENT, ticket_id, action, params)
    assert deliver(stream_records(aws["stream_arn"])) == {"batchItemFailures": []}
    return ticket_id


def _inbound_event(aws: dict[str, Any]) -> dict[str, Any]:
    """What the queue pump would hand the handler: the queue's messages as Lambda's event."""
    sqs = boto3.client("sqs")
    url = aws["physical"]["InboundSms"]
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    assert messages
    return sqs_event(messages, aws["physical"]["InboundSms.Arn"], "ap-east-1")


def _inbound(aws: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = on_inbound_sms(
        _inbound_event(aws), LocalLambdaContext("on_inbound_sms")
    )
    return answer


def test_a_text_published_to_the_topic_is_the_customers_reply(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ticket_id = _open_waiting_ticket(aws)
    assert [s.ticket_id for s in DynamoSmsIndex().recent(phone_key(PHONE), AT, 10)] == [
        ticket_id,
        ticket_id,
    ]  # the ticket's creation and the desk's question went by SMS

    send(PHONE, "The one ending 4242", sns=boto3.client("sns"))
    assert _inbound(aws) == {"batchItemFailures": []}

    repository = bootstrap.container().repository
    ticket = repository.get(ticket_id)
    assert ticket is not None and ticket.status == "in_progress"
    [comment] = [e for e in repository.events(ticket_id) if e.type == "comment.added"]
    assert comment.data == {"body": "The one ending 4242", "internal": False, "channel": "sms"}
    assert "inbound sms" in caplog.text
    assert "4242" not in caplog.text and "13812348000" not in caplog.text


def test_a_poison_message_is_reported_and_the_rest_of_the_batch_goes_on(
    aws: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ticket_id = _open_waiting_ticket(aws)
    sns = boto3.client("sns")
    topic = aws["physical"]["InboundSmsTopic"]
    sns.publish(TopicArn=topic, Message=json.dumps({"messageBody": "from +8613812348000"}))
    send(PHONE, "TD", sns=sns)

    answer = _inbound(aws)

    assert len(answer["batchItemFailures"]) == 1
    preferences = bootstrap.container().notification_store.preferences("cust-1")
    assert preferences is not None and preferences["sms"] is False and preferences["email"]
    types = [str(e.type) for e in bootstrap.container().repository.events(ticket_id)]
    assert types.count("notification.opted_out") == 1
    assert "inbound sms unreadable" in caplog.text and "13812348000" not in caplog.text


def test_stop_reaches_a_customer_whose_ticket_uses_the_number_but_prefers_email(
    aws: dict[str, Any],
) -> None:
    """SPEC 12: every customer whose tickets use the number, texted there or not."""
    ports = bootstrap.container().ticket_ports()
    spouse = Caller(Role.CUSTOMER, "cust-2")
    by_email = _card_request({"phone": PHONE, "email": "wei@example.com", "preferred": "email"})
    emailed = create_ticket(ports, spouse, by_email, _render).body
    texted = _open_waiting_ticket(aws)
    assert DynamoSmsIndex().customers(phone_key(PHONE)) == ["cust-1"]  # cust-2 never texted
    store = bootstrap.container().notification_store
    kept = {"sms": True, "email": True, "locale": "en-US", "quiet_hours": None}
    store.save_preferences("cust-2", kept)
    stop = send(PHONE, "STOP", sns=boto3.client("sns"))
    event = _inbound_event(aws)

    assert on_inbound_sms(event, LocalLambdaContext("on_inbound_sms")) == {"batchItemFailures": []}
    # Delivered again after a crash before the text was marked handled: nothing doubles.
    InboundSmsItem(pk=inbound_pk(stop["inboundMessageId"]), sk="HANDLED").delete()
    assert on_inbound_sms(event, LocalLambdaContext("on_inbound_sms")) == {"batchItemFailures": []}

    assert store.preferences("cust-2") == {**kept, "sms": False}
    repository = bootstrap.container().repository
    for ticket_id, customer in ((emailed, "cust-2"), (texted, "cust-1")):
        opted = [e for e in repository.events(ticket_id) if e.type == "notification.opted_out"]
        assert [(e.actor.id, e.data) for e in opted] == [(customer, {"channel": "sms"})]


# --- the EventBridge export ---------------------------------------------------------------------


def test_a_rule_on_the_servicedesk_bus_receives_ticket_created(aws: dict[str, Any]) -> None:
    physical = aws["physical"]
    events, sqs = boto3.client("events"), boto3.client("sqs")
    watcher = sqs.create_queue(QueueName="crm-watcher")["QueueUrl"]
    watcher_arn = sqs.get_queue_attributes(QueueUrl=watcher, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="crm-ticket-created",
        EventBusName=physical["EventBus"],
        EventPattern=json.dumps({"source": ["servicedesk"], "detail-type": ["ticket.created"]}),
    )
    events.put_targets(
        Rule="crm-ticket-created",
        EventBusName=physical["EventBus"],
        Targets=[{"Id": "crm", "Arn": watcher_arn}],
    )
    container = bootstrap.container()
    bootstrap.use(replace(container, bus=EventBridgeBus(events, physical["EventBus"])))
    ticket_id = _open_waiting_ticket(aws)
    deliver(stream_records(aws["stream_arn"]))  # redelivered: exported once

    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=watcher, MaxNumberOfMessages=10).get("Messages", [])
    ]
    assert [b["detail-type"] for b in bodies] == ["ticket.created"]
    detail = bodies[0]["detail"]
    assert (detail["ticket_id"], detail["customer_id"], detail["kind"]) == (
        ticket_id,
        "cust-1",
        "consultation",
    )
    assert detail["actor"] == {"role": "customer"}
    assert SUBJECT not in json.dumps(bodies) and "13812348000" not in json.dumps(bodies)
