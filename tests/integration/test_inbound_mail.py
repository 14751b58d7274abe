"""Email out and in on moto (SPEC 12): the desk's raw MIME with a reply token, the customer's
reply through bucket -> queue -> handler onto the ticket, strangers to the triage inbox."""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbox import InboxStatus, TriageReason
from chalicelib.domain.mail import ticket_of_token, token_in
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.handlers.inbound_mail import handle_messages, on_inbound_mail
from chalicelib.logs import logger
from chalicelib.service import inbox
from chalicelib.service.tickets import StoredResponse, act, create_ticket
from local.mail import build, drop
from local.pump import LocalLambdaContext
from local.queues import sqs_event
from tests.integration.streams import deliver, stream_records

CUSTOMER = Caller(Role.CUSTOMER, "cust-mail")
AGENT = Caller(Role.AGENT, "agent-mail")
ADDRESS = "Li.Na@Example.cn"
REQUEST = TicketRequest(
    channel="web",
    kind="consultation",
    category="card",
    subject="Card blocked abroad",
    description="",
    contact={"email": ADDRESS, "preferred": "email", "locale": "en-US"},
)


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, ticket.id)


@pytest.fixture
def desk(aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # As deployed: the function knows its inbound bucket (events naming another are dropped).
    settings = replace(
        bootstrap.container().settings, inbound_mail_bucket=aws["physical"]["InboundMailBucket"]
    )
    bootstrap.use(bootstrap.bootstrap(settings))
    yield aws


def _raw_sent() -> list[Any]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["ap-southeast-1"].sent_messages)


def _waiting_ticket(desk: dict[str, Any]) -> str:
    ports = bootstrap.container().ticket_ports()
    ticket_id = create_ticket(ports, CUSTOMER, REQUEST, _render).body
    for action, params in (("assign", {}), ("start", {}), ("request_info", {"message": "ID?"})):
        act(ports, AGENT, ticket_id, action, params)
    deliver(stream_records(desk["stream_arn"]))
    return ticket_id


def _mail(sender: str, to: str, text: str, in_reply_to: str | None = None) -> bytes:
    return build(
        argparse.Namespace(
            sender=sender,
            to=to,
            subject="Re: your ticket",
            in_reply_to=in_reply_to,
            attach=[],
            fail_verdicts=False,
            text=text,
        )
    )


def _s3_event(bucket: str, key: str) -> str:
    return json.dumps({"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


def _handle_queue(desk: dict[str, Any]) -> dict[str, Any]:
    sqs = boto3.client("sqs")
    url = desk["physical"]["InboundMail"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    event = sqs_event(messages, desk["physical"]["InboundMail.Arn"], "ap-east-1")
    answer: dict[str, Any] = on_inbound_mail(event, LocalLambdaContext("on_inbound_mail"))
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answer | {"bodies": [m["Body"] for m in messages]}


def test_desk_email_is_raw_mime_with_a_reply_token_and_its_id_is_kept(desk):
    ticket_id = _waiting_ticket(desk)
    sent = _raw_sent()
    assert sent, "the desk sent no email"
    message = message_from_bytes(sent[-1].raw_data.encode(), policy=default)
    assert message.get_content_type() == "multipart/alternative"
    container = bootstrap.container()
    token = token_in([str(message["Reply-To"])], container.settings.inbound_mail_domain)
    assert token is not None
    assert ticket_of_token(container.reply_keys.signing_keys(), token) == ticket_id  # type: ignore[union-attr]
    assert container.mail_threads.ticket_of_sent((sent[-1].id,)) == ticket_id


def test_the_customers_reply_lands_on_the_ticket_without_the_quote(desk):
    ticket_id = _waiting_ticket(desk)
    reply_to = str(
        message_from_bytes(_raw_sent()[-1].raw_data.encode(), policy=default)["Reply-To"]
    )
    text = "My ID is attached.\nOn Mon, 1 Dec 2026, Bank <desk@bank.example> wrote:\n> ID?"
    drop(
        _mail(ADDRESS.upper(), reply_to, text),
        endpoint_url=None,
        bucket=desk["physical"]["InboundMailBucket"],
    )
    answer = _handle_queue(desk)
    assert answer["batchItemFailures"] == []
    assert any("s3:TestEvent" in body for body in answer["bodies"])  # ignored, not failed
    repository = bootstrap.container().repository
    ticket = repository.get(ticket_id)
    assert ticket is not None and ticket.status is Status.IN_PROGRESS
    comments = [e for e in repository.events(ticket_id) if e.type == EventType.COMMENT_ADDED]
    assert [(c.data["body"], c.data["channel"]) for c in comments] == [
        ("My ID is attached.", "email")
    ]
    assert comments[0].actor == CUSTOMER
    # The desk's answer now threads on the customer's mail.
    act(bootstrap.container().ticket_ports(), AGENT, ticket_id, "resolve", {"resolution": "ok"})
    deliver(stream_records(desk["stream_arn"]))
    answer_mail = message_from_bytes(_raw_sent()[-1].raw_data.encode(), policy=default)
    assert str(answer_mail["In-Reply-To"]).endswith("@customer.example>")


def test_a_reply_by_in_reply_to_alone_threads_and_a_redelivery_adds_nothing(desk):
    ticket_id = _waiting_ticket(desk)
    ses_id = _raw_sent()[-1].id
    raw = _mail(ADDRESS, "desk@bank.example", "Here it is", in_reply_to=ses_id)
    key = drop(raw, endpoint_url=None, bucket=desk["physical"]["InboundMailBucket"])
    assert _handle_queue(desk)["batchItemFailures"] == []
    record = {
        "messageId": "again",
        "body": _s3_event(desk["physical"]["InboundMailBucket"], key),
    }
    assert handle_messages([record]) == {"batchItemFailures": []}
    comments = [
        e
        for e in bootstrap.container().repository.events(ticket_id)
        if e.type == EventType.COMMENT_ADDED
    ]
    assert len(comments) == 1


def test_a_strangers_mail_is_triaged_and_an_agent_opens_a_ticket_from_it(desk):
    ticket_id = _waiting_ticket(desk)
    reply_to = str(
        message_from_bytes(_raw_sent()[-1].raw_data.encode(), policy=default)["Reply-To"]
    )
    bucket = desk["physical"]["InboundMailBucket"]
    drop(_mail("eve@evil.example", reply_to, "Let me in"), endpoint_url=None, bucket=bucket)
    drop(
        _mail("nobody@elsewhere.example", "help@bank.example", "Hello?"),
        endpoint_url=None,
        bucket=bucket,
    )
    assert _handle_queue(desk)["batchItemFailures"] == []
    ticket = bootstrap.container().repository.get(ticket_id)
    assert ticket is not None and ticket.status is Status.WAITING_ON_CUSTOMER
    ports = bootstrap.container().inbox_ports()
    page = inbox.list_items(ports, AGENT, "open", 10, None)
    assert sorted(i.reason for i in page.items) == sorted(
        [TriageReason.SENDER_MISMATCH, TriageReason.UNKNOWN_SENDER]
    )
    assert page.items[0].received_at >= page.items[1].received_at  # newest first
    stranger = next(i for i in page.items if i.reason is TriageReason.UNKNOWN_SENDER)
    body = {"customer_id": "cust-new", "kind": "consultation", "category": "other"}
    opened = inbox.open_ticket_from(ports, AGENT, stranger.id, body)
    assert opened.description == "Hello?" and opened.contact.email == "nobody@elsewhere.example"
    assert bootstrap.container().repository.get(opened.id) is not None
    with pytest.raises(ConflictError):
        inbox.open_ticket_from(ports, AGENT, stranger.id, body)
    handled = inbox.list_items(ports, AGENT, "ticketed", 10, None).items
    assert [(i.id, i.status, i.ticket_id) for i in handled] == [
        (stranger.id, InboxStatus.TICKETED, opened.id)
    ]


def test_an_event_naming_another_bucket_is_dropped_unread(desk, capsys):
    # Review L5: the queue policy lets any `*-inboundmailbucket-*` bucket of the account
    # notify; a reply with a valid token from the contact, stored in such a bucket, is
    # neither commented nor triaged, and ops see a warning that names no one.
    ticket_id = _waiting_ticket(desk)
    reply_to = str(
        message_from_bytes(_raw_sent()[-1].raw_data.encode(), policy=default)["Reply-To"]
    )
    other = "other-stack-inboundmailbucket-x1"
    boto3.client("s3").create_bucket(
        Bucket=other, CreateBucketConfiguration={"LocationConstraint": "ap-east-1"}
    )
    key = drop(_mail(ADDRESS, reply_to, "Forged answer"), endpoint_url=None, bucket=other)
    record = {"messageId": "foreign", "body": _s3_event(other, key)}
    capsys.readouterr()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        assert handle_messages([record]) == {"batchItemFailures": []}
    finally:
        logger.removeHandler(handler)  # type: ignore[attr-defined]
    events = bootstrap.container().repository.events(ticket_id)
    assert not [e for e in events if e.type == EventType.COMMENT_ADDED]
    ports = bootstrap.container().inbox_ports()
    assert inbox.list_items(ports, AGENT, "open", 10, None).items == []
    logged = stream.getvalue() + capsys.readouterr().out  # log lines, then EMF metric lines
    assert "inbound email event from another bucket dropped" in logged
    assert '"InboundMailForeignBucket"' in logged
    for private in (ADDRESS, ADDRESS.lower(), key, other):
        assert private not in logged


def test_a_poison_message_fails_alone(desk):
    bucket = desk["physical"]["InboundMailBucket"]
    key = drop(_mail("x@y.example", "a@b.example", "fine"), endpoint_url=None, bucket=bucket)
    good = {
        "messageId": "good",
        "body": _s3_event(bucket, key),
    }
    poison = {"messageId": "poison", "body": "not json at all"}
    assert handle_messages([poison, good]) == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    assert (
        len(inbox.list_items(bootstrap.container().inbox_ports(), AGENT, "open", 10, None).items)
        == 1
    )


def test_an_empty_object_in_the_bucket_is_triaged_not_retried_as_an_outage(desk):
    # A zero-byte object (a "folder" made in the console, an interrupted upload tool):
    # S3 answers its ranged GET with 416 InvalidRange, which is no outage. Its key,
    # URL-encoded in the S3 event ("+" for a space, "%2B" for "+"), is read back.
    bucket = desk["physical"]["InboundMailBucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key="inbound/ empty +mail", Body=b"")
    assert _handle_queue(desk)["batchItemFailures"] == []
    ports = bootstrap.container().inbox_ports()
    [item] = inbox.list_items(ports, AGENT, "open", 10, None).items
    assert (item.source, item.text) == ("inbound/ empty +mail", "")  # staff may discard it


def test_only_what_ses_stores_under_inbound_reaches_the_queue(desk):
    # The function may read `inbound/*` only: an object elsewhere in the bucket (an export,
    # a console upload) would be refused and retried into the DLQ, so it raises no event.
    bucket = desk["physical"]["InboundMailBucket"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="exports/report.csv", Body=b"a,b")
    s3.put_object(Bucket=bucket, Key="inbound/mail-1", Body=_mail(ADDRESS, "x@y", "hello"))
    keys = [
        unquote_plus(record["s3"]["object"]["key"])
        for body in _handle_queue(desk)["bodies"]
        for record in json.loads(body).get("Records", [])
    ]
    assert keys == ["inbound/mail-1"]


def test_deployed_stages_read_the_reply_key_from_its_own_secret(desk):
    from chalicelib.config import Settings

    settings = Settings.from_env(
        {
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "TABLE_NAME": desk["table_name"],
            "AWS_DEFAULT_REGION": "ap-east-1",
            "SERVICEDESK_REPLY_TOKEN_SECRET_ARN": desk["physical"]["ReplyTokenKey"],
        }
    )
    keys = bootstrap.bootstrap(settings).reply_keys
    assert keys is not None
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=desk["physical"]["ReplyTokenKey"]
    )
    assert keys.signing_keys() == (secret["SecretString"].encode(),)
    assert secret["ARN"] != desk["cursor_secret_arn"]
