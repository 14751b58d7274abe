"""The document store and the application on the ticket item, against moto (SPEC 11)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.adapters.documents import DynamoDocumentStore
from chalicelib.adapters.dynamo import DynamoTicketRepository
from chalicelib.adapters.objects import S3ObjectStore, s3_client
from chalicelib.domain.applications import resolve_request
from chalicelib.domain.documents import Document, DocumentStatus, TooManyDocumentsError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service.documents import DocumentStore
from chalicelib.service.ports import TicketChange, VersionConflictError

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
CUSTOMER = Caller(Role.CUSTOMER, "cust-1")


def _ticket(ticket_id: str = "T-01JH8ZK4Q9M2P7XW3V5N6B1C0D") -> Any:
    app_type, form, category = resolve_request(
        bootstrap.container().applications.catalogue,
        "application",
        None,
        {"type": "card-limit-increase", "form": {"card_last4": "1234", "requested_limit": 5000}},
    )
    request = TicketRequest(
        channel="mobile",
        kind="application",
        category=category,
        subject="Limit",
        description="",
        contact=None,
        application_type=app_type,
        form=form,
    )
    ticket, event = open_ticket(
        request, CUSTOMER, ticket_id=ticket_id, reference="SD-0000AAAA", event_id="E-1", now=NOW
    )
    return ticket, event


def _document(ticket_id: str, number: int) -> Document:
    return Document(
        id=f"D-{number:04d}",
        ticket_id=ticket_id,
        customer_id="cust-1",
        type="id-card",
        filename="id.pdf",
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
        status=DocumentStatus.PENDING_UPLOAD,
        object_key=f"documents/{ticket_id}/key-{number}",
        created_at=NOW,
        updated_at=NOW,
    )


def test_the_application_round_trips_through_the_ticket_item(aws):
    repository = bootstrap.container().repository
    ticket, event = _ticket()
    repository.create(ticket, [event])
    stored = repository.get(ticket.id)
    assert stored is not None
    assert stored.application == ticket.application
    assert stored.application is not None
    assert stored.application.form == {"card_last4": "1234", "requested_limit": 5000}


def test_documents_live_with_their_ticket_and_are_capped(aws):
    container = bootstrap.container()
    repository = container.repository
    assert isinstance(repository, DynamoTicketRepository)
    store = container.document_store
    assert isinstance(store, DynamoDocumentStore)
    ticket, event = _ticket()
    repository.create(ticket, [event])
    for number in range(20):
        store.add(_document(ticket.id, number), ticket.version, [], None, 20)
    with pytest.raises(TooManyDocumentsError):
        store.add(_document(ticket.id, 20), ticket.version, [], None, 20)
    assert len(store.for_ticket(ticket.id)) == 20
    assert store.by_key(f"documents/{ticket.id}/key-3") == _document(ticket.id, 3)
    # The timeline's first page is not eaten by documents.
    _, page = repository.ticket_and_events(ticket.id, 5, None)
    assert [e.type for e in page.items] == ["ticket.created"]
    with pytest.raises(VersionConflictError):
        store.add(_document(ticket.id, 99), ticket.version + 1, [], None, 50)


def _stored_ticket() -> tuple[Any, DocumentStore, Any]:
    """The container, its document store and a stored ticket."""
    container = bootstrap.container()
    store = container.document_store
    assert store is not None
    ticket, event = _ticket()
    container.repository.create(ticket, [event])
    return container, store, ticket


def _one_document(number: int = 1) -> tuple[Any, DocumentStore, Any, Document]:
    """The container, its document store, a stored ticket and its one stored document."""
    container, store, ticket = _stored_ticket()
    document = _document(ticket.id, number)
    store.add(document, ticket.version, [], None, 20)
    return container, store, ticket, document


def test_a_document_and_its_ticket_change_are_one_write(aws):
    container, store, ticket, document = _one_document()
    moved = replace(document, status=DocumentStatus.AVAILABLE, version=2)
    stale = TicketChange(replace(ticket, subject="changed"), ticket.version + 5)
    with pytest.raises(VersionConflictError):
        store.save(moved, 1, stale, [])
    assert store.get(ticket.id, document.id) == document  # nothing half-written
    store.save(moved, 1, TicketChange(replace(ticket, subject="changed"), ticket.version), [])
    assert store.get(ticket.id, document.id) == moved
    stored = container.repository.get(ticket.id)
    assert stored is not None and stored.subject == "changed"


def test_a_check_read_before_an_erasure_cannot_write_the_file_name_back(aws):
    # The upload check read the document, then the erasure blanked its file name: the
    # check's save (pending_upload -> scanning) is refused, the name stays erased.
    _, store, ticket, document = _one_document()
    read_by_the_check = store.get(ticket.id, document.id)
    assert read_by_the_check is not None

    assert store.forget_filenames("cust-1", ticket.id) == [document.object_key]

    scanning = replace(read_by_the_check, status=DocumentStatus.SCANNING, version=2)
    with pytest.raises(VersionConflictError):
        store.save(scanning, read_by_the_check.version, None, [])
    stored = store.get(ticket.id, document.id)
    assert stored is not None and stored.filename == ""


def _bucket(aws: dict[str, Any]) -> S3ObjectStore:
    return S3ObjectStore(s3_client("ap-east-1", None), aws["physical"]["Documents"], lambda: NOW)


def test_the_presigned_post_is_bound_to_the_key_size_and_type_for_15_minutes(aws):
    # botocore stamps the policy from the real clock: bracket the call instead of a tolerance.
    before = datetime.now(UTC).replace(microsecond=0)
    form = _bucket(aws).upload_form("documents/T-1/abc", "application/pdf", 123, NOW + WINDOW)
    after = datetime.now(UTC)
    policy = json.loads(base64.b64decode(form.fields["policy"]))
    assert ["content-length-range", 123, 123] in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert {"key": "documents/T-1/abc"} in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert before + WINDOW <= expires <= after + WINDOW
    assert form.fields["key"] == "documents/T-1/abc"


def test_a_landed_object_is_read_whole_with_its_digest_and_deleted(aws):
    bucket = _bucket(aws)
    s3 = s3_client("ap-east-1", None)
    data = b"%PDF-1.7\n" + b"x" * 3000
    s3.put_object(Bucket=aws["physical"]["Documents"], Key="documents/T-1/k", Body=data)
    landed = bucket.fetch("documents/T-1/k", 10_000)
    assert landed is not None
    assert (landed.size, landed.sha256, landed.head, landed.body) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        data[:16],
        data,
    )
    assert bucket.fetch("documents/T-1/k", 100) is not None
    assert bucket.fetch("documents/T-1/k", 100).body is None  # type: ignore[union-attr]
    bucket.delete("documents/T-1/k")
    assert bucket.fetch("documents/T-1/k", 100) is None
    url = bucket.download_url(
        "documents/T-1/k", "身份证.pdf", "application/pdf", timedelta(minutes=5)
    )
    assert "X-Amz-Expires=300" in url


def test_the_bucket_is_private_encrypted_and_sends_object_created_to_the_queue(aws):
    s3 = s3_client("ap-east-1", None)
    name = aws["physical"]["Documents"]
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    # The customer files key, not SSE-S3: s3:GetObject alone reads nothing (review M2).
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": aws["physical"]["CustomerFilesKey"],
    }
    assert rules[0]["BucketKeyEnabled"] is True
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert any(
        r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
        for r in lifecycle
    )
    queues = s3.get_bucket_notification_configuration(Bucket=name)["QueueConfigurations"]
    assert queues[0]["QueueArn"] == aws["physical"]["DocumentUploads.Arn"]


def test_retention_stamps_the_ttl_on_every_document_record(aws):
    from chalicelib.adapters.documents import COUNT_SK, KEY_SK, document_sk, key_pk
    from chalicelib.adapters.dynamo import ticket_pk
    from chalicelib.adapters.models import DocumentCountItem, DocumentItem, DocumentKeyItem

    _, store, ticket, document = _one_document(7)
    store.expire(ticket.id, 1_900_000_000)
    item = DocumentItem.get(ticket_pk(ticket.id), document_sk(document.id))
    pointer = DocumentKeyItem.get(key_pk(document.object_key), KEY_SK)
    count = DocumentCountItem.get(ticket_pk(ticket.id), COUNT_SK)
    assert item.expires_at == pointer.expires_at == count.expires_at == 1_900_000_000


def test_retention_of_a_ticket_without_documents_writes_no_document_record(aws):
    # UpdateItem creates a missing item: stamping the TTL on a document count that was
    # never written left a bare item (no item type, no expiry) in every such ticket.
    from chalicelib.adapters.dynamo import ticket_pk

    _, store, ticket = _stored_ticket()
    store.expire(ticket.id, 1_900_000_000)
    table = boto3.client("dynamodb").query(
        TableName=aws["table_name"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": ticket_pk(ticket.id)}},
    )
    assert all("item_type" in item for item in table["Items"]), table["Items"]
    assert not [item for item in table["Items"] if item["sk"]["S"].startswith("FILE")]
