"""Email attachments become documents and erasure reaches what email in keeps, on moto
(SPEC 10, 11, 12): the real adapters, bucket and table."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.config import Settings
from chalicelib.domain.documents import DocumentStatus
from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.mail import reply_address
from chalicelib.domain.privacy import ERASED
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.handlers.inbound_mail import handle_messages
from chalicelib.service import documents, inbox
from chalicelib.service.privacy import erase_customer
from chalicelib.service.tickets import StoredResponse, act, create_ticket
from local.mail import build, drop
from tests.integration.streams import deliver, stream_records

CUSTOMER = Caller(Role.CUSTOMER, "cust-attach")
AGENT = Caller(Role.AGENT, "agent-attach")
AUDITOR = Caller(Role.AUDITOR, "aud-attach")
ADDRESS = "mei@example.cn"
PDF = b"%PDF-1.4 statement\n%%EOF\n"
REQUEST = TicketRequest(
    channel="web",
    kind="consultation",
    category="card",
    subject="Card statement",
    description="",
    contact={"email": ADDRESS, "preferred": "email", "locale": "en-US"},
)


@pytest.fixture
def desk(aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    settings = Settings.from_env(
        {
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "TABLE_NAME": aws["table_name"],
            "AWS_DEFAULT_REGION": "ap-east-1",
            "DOCUMENTS_BUCKET": aws["physical"]["Documents"],
            "DOCUMENT_SCANNER": "local-eicar",
            "INBOUND_MAIL_BUCKET": aws["physical"]["InboundMailBucket"],
        }
    )
    bootstrap.use(bootstrap.bootstrap(settings))
    yield aws


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, ticket.id)


def _mail(to: str, attach: list[str], sender: str = ADDRESS) -> bytes:
    return build(
        argparse.Namespace(
            sender=sender,
            to=to,
            subject="Re: statement",
            in_reply_to=None,
            attach=attach,
            fail_verdicts=False,
            text="Attached, Mei",
        )
    )


def _deliver(desk: dict[str, Any], raw: bytes) -> str:
    bucket = desk["physical"]["InboundMailBucket"]
    key = drop(raw, endpoint_url=None, bucket=bucket)
    body = json.dumps({"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})
    assert handle_messages([{"messageId": key, "body": body}]) == {"batchItemFailures": []}
    return key


def _reply_to(ticket_id: str) -> str:
    container = bootstrap.container()
    key = container.reply_keys.signing_keys()[0]  # type: ignore[union-attr]
    return reply_address(key, ticket_id, container.settings.inbound_mail_domain)


def _files(tmp_path: Path) -> list[str]:
    pdf, doc = tmp_path / "statement.pdf", tmp_path / "notes.txt"
    pdf.write_bytes(PDF)
    doc.write_text("plain notes")
    return [str(pdf), str(doc)]


def test_a_replys_pdf_becomes_a_checked_document_once(desk, tmp_path):
    ticket_id = create_ticket(bootstrap.container().ticket_ports(), CUSTOMER, REQUEST, _render).body
    raw = _mail(_reply_to(ticket_id), _files(tmp_path))
    key = _deliver(desk, raw)
    ports = bootstrap.container().document_ports()
    (document,) = ports.documents.for_ticket(ticket_id)
    assert (document.filename, document.type, document.status) == (
        "statement.pdf",
        "other",
        DocumentStatus.PENDING_UPLOAD,
    )
    s3 = boto3.client("s3")
    stored = s3.get_object(Bucket=desk["physical"]["Documents"], Key=document.object_key)
    assert stored["Body"].read() == PDF
    # The bucket's ObjectCreated event runs the upload's checks.
    landed = documents.file_landed(ports, document.object_key)
    assert landed is not None and landed.status is DocumentStatus.AVAILABLE
    # A redelivered notification of the same stored mail makes nothing twice.
    bucket = desk["physical"]["InboundMailBucket"]
    again = json.dumps({"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})
    assert handle_messages([{"messageId": "again", "body": again}]) == {"batchItemFailures": []}
    assert len(ports.documents.for_ticket(ticket_id)) == 1
    events = bootstrap.container().repository.events(ticket_id)
    (comment,) = [e for e in events if e.type == EventType.COMMENT_ADDED]
    kept = [a.get("kept_as_metadata") for a in comment.data["attachments"]]
    assert kept == [None, "type"]


def test_erasure_blanks_the_linked_inbox_item_and_deletes_the_raw_mail(desk, tmp_path):
    container = bootstrap.container()
    ticket_id = create_ticket(container.ticket_ports(), CUSTOMER, REQUEST, _render).body
    reply_key = _deliver(desk, _mail(_reply_to(ticket_id), _files(tmp_path)))
    # A mail from another address of hers, triaged, then linked by an agent.
    stray_key = _deliver(desk, _mail("help@bank.example", [], sender="mei.other@example.cn"))
    page = inbox.list_items(container.inbox_ports(), AGENT, "open", 10, None)
    (item,) = page.items
    inbox.link(container.inbox_ports(), AGENT, item.id, ticket_id)
    ports = container.ticket_ports()
    act(ports, CUSTOMER, ticket_id, "cancel", {"reason": "Found it"})
    assert container.mail_threads.thread(ticket_id) is not None

    erase_customer(container.privacy_ports(), AUDITOR, CUSTOMER.id)

    erased = container.inbox_store.get(item.id)
    assert erased is not None
    assert (erased.sender, erased.text, erased.subject, erased.message_id) == (
        "",
        ERASED,
        ERASED,
        None,
    )
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=desk["physical"]["InboundMailBucket"], Prefix="inbound/")
    left = {entry["Key"] for entry in listed.get("Contents", [])}
    assert not {reply_key, stray_key} & left
    assert container.mail_threads.thread(ticket_id) is None
    events = repr(container.repository.events(ticket_id))
    assert "statement.pdf" not in events and "Mei" not in events


def test_a_linked_emails_pdf_is_made_a_document_by_the_stream_once(desk, tmp_path):
    # The link's transaction writes the comment naming the document to come; the stream's
    # reaction to it makes the document from the stored mail (the real handler, table,
    # stream and buckets), and a redelivery of the whole stream makes nothing twice.
    container = bootstrap.container()
    ticket_id = create_ticket(container.ticket_ports(), CUSTOMER, REQUEST, _render).body
    _deliver(desk, _mail("help@bank.example", _files(tmp_path), sender="mei.other@example.cn"))
    (item,) = inbox.list_items(container.inbox_ports(), AGENT, "open", 10, None).items
    inbox.link(container.inbox_ports(), AGENT, item.id, ticket_id)
    ports = container.document_ports()
    assert ports.documents.for_ticket(ticket_id) == []  # not yet: the stream makes it

    assert deliver(stream_records(desk["stream_arn"])) == {"batchItemFailures": []}
    (document,) = ports.documents.for_ticket(ticket_id)
    assert (document.filename, document.type) == ("statement.pdf", "other")
    stored = boto3.client("s3").get_object(
        Bucket=desk["physical"]["Documents"], Key=document.object_key
    )
    assert stored["Body"].read() == PDF
    landed = documents.file_landed(ports, document.object_key)
    assert landed is not None and landed.status is DocumentStatus.AVAILABLE

    assert deliver(stream_records(desk["stream_arn"])) == {"batchItemFailures": []}
    assert ports.documents.for_ticket(ticket_id) == [landed]
