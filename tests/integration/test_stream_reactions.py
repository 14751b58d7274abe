"""The stream handler Lambda runs, fed real stream records from moto's table."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3

from chalicelib import bootstrap
from chalicelib.domain.counters import CounterKey, report_day
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.handlers.stream import on_table_change
from chalicelib.service.tickets import StoredResponse, create_ticket
from local.pump import LocalLambdaContext, _as_lambda_record

REQUEST = TicketRequest(
    channel="branch",
    kind="application",
    category="loan",
    subject="Mortgage",
    description="",
    contact=None,
)


def _stream_records(stream_arn: str) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    return [_as_lambda_record(record, stream_arn) for record in records]


def _deliver(records: list[dict[str, Any]]) -> dict[str, Any]:
    return on_table_change({"Records": records}, LocalLambdaContext("on_table_change"))


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, ticket.id)


def test_created_event_is_counted_once_even_when_redelivered(aws):
    ticket_id = create_ticket(
        bootstrap.container().ticket_ports(),
        Caller(Role.AGENT, "agent-1"),
        replace(REQUEST, customer_id="cust-7"),
        _render,
    ).body
    ticket = bootstrap.container().ticket_ports().repository.get(ticket_id)
    assert ticket is not None
    records = _stream_records(aws["stream_arn"])
    assert {r["eventName"] for r in records} == {"INSERT"}

    assert _deliver(records) == {"batchItemFailures": []}
    assert _deliver(records) == {"batchItemFailures": []}  # at-least-once: a redelivery

    ledger = bootstrap.container().reaction_ports().ledger
    day = report_day(ticket.created_at)
    assert ledger.counter(CounterKey("created#total", day)) == 1
    assert ledger.counter(CounterKey("created#channel", f"{day}#branch")) == 1
    assert ledger.counter(CounterKey("created#kind", f"{day}#application")) == 1


def test_a_bad_record_is_reported_and_does_not_block_the_others(aws):
    create_ticket(
        bootstrap.container().ticket_ports(), Caller(Role.CUSTOMER, "cust-8"), REQUEST, _render
    )
    good = _stream_records(aws["stream_arn"])
    broken = {
        **good[0],
        "dynamodb": {
            **good[0]["dynamodb"],
            "SequenceNumber": "999",
            "NewImage": {"item_type": {"S": "event"}},
        },
    }
    result = _deliver([broken, *good])
    assert result == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    day = report_day(bootstrap.container().clock())
    assert (
        bootstrap.container().reaction_ports().ledger.counter(CounterKey("created#total", day)) == 1
    )


def _moto_sms() -> list[tuple[str, str]]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    backend = sns_backends[DEFAULT_ACCOUNT_ID]["ap-east-1"]
    return [(number, text) for number, text, *_ in backend.sms_messages.values()]


def test_a_created_ticket_texts_the_customer_once_through_sns(aws):
    with_phone = replace(REQUEST, contact={"phone": "+8613812348000"})
    ticket_id = create_ticket(
        bootstrap.container().ticket_ports(), Caller(Role.CUSTOMER, "cust-9"), with_phone, _render
    ).body
    records = _stream_records(aws["stream_arn"])
    _deliver(records)
    _deliver(records)  # redelivery
    texts = _moto_sms()
    assert len(texts) == 1
    number, text = texts[0]
    ticket = bootstrap.container().ticket_ports().repository.get(ticket_id)
    assert ticket is not None
    assert number == "+8613812348000"
    assert ticket.reference in text
    sent = [
        e
        for e in bootstrap.container().ticket_ports().repository.events(ticket_id)
        if e.type == "notification.sent"
    ]
    assert [(e.data["channel"], e.data["to"]) for e in sent] == [("sms", "+86 138****8000")]


def test_email_goes_through_ses_in_its_own_region(aws):
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    with_email = replace(REQUEST, contact={"email": "li.na@example.cn", "locale": "en-US"})
    create_ticket(
        bootstrap.container().ticket_ports(), Caller(Role.CUSTOMER, "cust-10"), with_email, _render
    )
    _deliver(_stream_records(aws["stream_arn"]))
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["ap-southeast-1"].sent_messages
    assert [message.destinations["ToAddresses"] for message in sent] == [["li.na@example.cn"]]
