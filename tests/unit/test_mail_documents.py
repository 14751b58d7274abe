"""Email attachments become documents of the ticket (SPEC 12), with the in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.domain.documents import DocumentStatus
from chalicelib.domain.events import EventType
from chalicelib.domain.inbox import InboxStatus, Outcome
from chalicelib.domain.mail import reply_address
from chalicelib.domain.statuses import Status
from chalicelib.service import documents as document_service
from chalicelib.service import inbox
from chalicelib.service.inbound_mail import receive_stored
from chalicelib.service.mail_documents import document_id_for
from chalicelib.service.ports import DependencyUnavailableError
from tests.document_fakes import InMemoryDocumentStore
from tests.mail_desk import AGENT, BUCKET, DOMAIN, KEY, PDF, Desk, mail

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

MAX_DOCUMENTS = 20  # SPEC: at most 20 documents per ticket


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_a_replys_pdf_and_png_become_documents_and_other_files_stay_metadata(desk: Desk):
    ticket = desk.ticket()
    raw = mail(
        reply_address(KEY, ticket.id, DOMAIN),
        ("statement.pdf", "application/pdf", PDF),
        ("notes.docx", "application/msword", b"word"),
        ("id.png", "image/png", PNG),
    )
    outcome, key = desk.deliver(raw)
    assert outcome is Outcome.COMMENTED
    documents = desk.documents.for_ticket(ticket.id)
    assert sorted(d.filename for d in documents) == ["id.png", "statement.pdf"]
    assert {d.type for d in documents} == {"other"}
    assert {d.id for d in documents} == {document_id_for(key, 0), document_id_for(key, 2)}
    # The bytes went to the bucket: its ObjectCreated event checks and scans them.
    assert sorted(desk.bucket.objects[d.object_key] for d in documents) == sorted([PDF, PNG])
    assert all(d.status is DocumentStatus.PENDING_UPLOAD for d in documents)
    assert all(d.added_by == "cust-1" for d in documents)
    comment = next(
        e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED
    )
    kept = [a for a in comment.data["attachments"] if "kept_as_metadata" in a]
    assert [(a["filename"], a["kept_as_metadata"]) for a in kept] == [("notes.docx", "type")]
    assert {a.get("document_id") for a in comment.data["attachments"]} >= {d.id for d in documents}


def test_the_landed_bytes_pass_the_upload_checks(desk: Desk):
    ticket = desk.ticket()
    desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN), ("s.pdf", "application/pdf", PDF)))
    (document,) = desk.documents.for_ticket(ticket.id)
    checked = document_service.file_landed(desk.document_ports, document.object_key)
    assert checked is not None and checked.status is DocumentStatus.AVAILABLE


def test_a_redelivered_mail_makes_no_second_document(desk: Desk):
    ticket = desk.ticket()
    outcome, key = desk.deliver(
        mail(reply_address(KEY, ticket.id, DOMAIN), ("s.pdf", "application/pdf", PDF))
    )
    assert outcome is Outcome.COMMENTED
    assert receive_stored(desk.ports, BUCKET, key) is Outcome.DUPLICATE
    assert len(desk.documents.for_ticket(ticket.id)) == 1
    added = [e for e in desk.repository.events(ticket.id) if e.type == EventType.DOCUMENT_ADDED]
    assert len(added) == 1


def test_a_redelivery_stores_the_bytes_a_stopped_first_delivery_did_not(desk: Desk):
    ticket = desk.ticket()
    _, key = desk.deliver(
        mail(reply_address(KEY, ticket.id, DOMAIN), ("s.pdf", "application/pdf", PDF))
    )
    (document,) = desk.documents.for_ticket(ticket.id)
    del desk.bucket.objects[document.object_key]  # the first delivery stopped before the put
    receive_stored(desk.ports, BUCKET, key)
    assert desk.bucket.objects[document.object_key] == PDF
    assert len(desk.documents.for_ticket(ticket.id)) == 1


def test_a_reply_about_a_closed_ticket_opens_one_with_the_documents(desk: Desk):
    parent = desk.ticket(Status.CLOSED)
    outcome, _ = desk.deliver(
        mail(reply_address(KEY, parent.id, DOMAIN), ("s.pdf", "application/pdf", PDF))
    )
    assert outcome is Outcome.NEW_TICKET
    (child,) = [t for t in desk.repository.tickets.values() if t.parent_id == parent.id]
    assert [d.filename for d in desk.documents.for_ticket(child.id)] == ["s.pdf"]
    assert desk.documents.for_ticket(parent.id) == []
    created = desk.repository.events(child.id)[0]
    assert created.data["attachments"][0]["document_id"].startswith("D-")


def test_past_the_twenty_document_limit_attachments_are_noted_not_failed(desk: Desk):
    ticket = desk.ticket()
    for index in range(MAX_DOCUMENTS - 1):
        document_service.add_document_from_bytes(
            desk.document_ports,
            AGENT,
            ticket,
            doc_type="other",
            filename=f"{index}.pdf",
            content_type="application/pdf",
            data=PDF,
        )
    outcome, _ = desk.deliver(
        mail(
            reply_address(KEY, ticket.id, DOMAIN),
            ("a.pdf", "application/pdf", PDF),
            ("b.pdf", "application/pdf", PDF),
        )
    )
    assert outcome is Outcome.COMMENTED
    assert len(desk.documents.for_ticket(ticket.id)) == MAX_DOCUMENTS
    comment = next(
        e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED
    )
    assert [a.get("kept_as_metadata") for a in comment.data["attachments"]] == [None, "limit"]


def test_without_document_ports_attachments_stay_metadata(desk: Desk):
    ports = replace(desk.ports, documents=None)
    ticket = desk.ticket()
    desk.mails.objects[(BUCKET, "inbound/x")] = mail(
        reply_address(KEY, ticket.id, DOMAIN), ("s.pdf", "application/pdf", PDF)
    )
    assert receive_stored(ports, BUCKET, "inbound/x") is Outcome.COMMENTED
    assert desk.documents.for_ticket(ticket.id) == []


# --- staff open or link a triaged email: they vouch for the sender --------------------------


def _triaged(desk: Desk, *attachments: tuple[str, str, bytes]) -> str:
    outcome, key = desk.deliver(mail("help@bank.example", *attachments, sender="x@y.example"))
    assert outcome is Outcome.TRIAGED
    (item,) = desk.store.items.values()
    return item.id


def test_opening_a_ticket_from_an_email_makes_its_attachments_documents(desk: Desk):
    item_id = _triaged(
        desk, ("s.pdf", "application/pdf", PDF), ("big.zip", "application/zip", b"PK")
    )
    body = {"kind": "consultation", "category": "card", "customer_id": "cust-1"}
    ticket = inbox.open_ticket_from(desk.ports.inbox, AGENT, item_id, body)
    assert desk.documents.for_ticket(ticket.id) == []  # made by the stream, from the event
    assert desk.stream() == 1
    (document,) = desk.documents.for_ticket(ticket.id)
    assert (document.filename, document.added_by) == ("s.pdf", AGENT.id)
    assert desk.bucket.objects[document.object_key] == PDF
    item = desk.store.items[item_id]
    assert "attachments_as_documents:1" in item.notes
    assert "attachment_2_kept_as_metadata:type" in item.notes
    created = desk.repository.events(ticket.id)[0]
    assert created.data["inbox_id"] == item_id
    assert created.data["attachments"][0]["document_id"] == document.id


def test_linking_an_email_to_a_ticket_makes_its_attachments_documents(desk: Desk):
    ticket = desk.ticket()
    item_id = _triaged(desk, ("id.png", "image/png", PNG))
    inbox.link(desk.ports.inbox, AGENT, item_id, ticket.id)
    assert desk.stream() == 1
    (document,) = desk.documents.for_ticket(ticket.id)
    assert document.filename == "id.png" and document.type == "other"
    assert document.added_by == "cust-1"  # with the owner's comment; the agent is audited
    comment = next(
        e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED
    )
    assert comment.data["attachments"][0]["document_id"] == document.id


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_a_linked_emails_documents_are_made_though_the_ticket_moved_on_before_the_reaction(
    desk: Desk, status: Status
):
    """The settle announced them while the ticket took documents; a stream backlog that
    lets staff resolve the ticket first must not lose what the customer sent."""
    ticket = desk.ticket()
    item_id = _triaged(desk, ("id.png", "image/png", PNG))
    inbox.link(desk.ports.inbox, AGENT, item_id, ticket.id)
    current = desk.repository.tickets[ticket.id]
    desk.repository.tickets[ticket.id] = replace(current, status=status)
    assert desk.stream() == 1
    (document,) = desk.documents.for_ticket(ticket.id)
    assert document.filename == "id.png"


def test_a_link_to_a_full_ticket_notes_the_attachment_on_the_item(desk: Desk):
    ticket = desk.ticket()
    for index in range(MAX_DOCUMENTS):
        document_service.add_document_from_bytes(
            desk.document_ports,
            AGENT,
            ticket,
            doc_type="other",
            filename=f"{index}.pdf",
            content_type="application/pdf",
            data=PDF,
        )
    item_id = _triaged(desk, ("s.pdf", "application/pdf", PDF))
    inbox.link(desk.ports.inbox, AGENT, item_id, ticket.id)
    assert len(desk.documents.for_ticket(ticket.id)) == MAX_DOCUMENTS
    assert "attachment_1_kept_as_metadata:limit" in desk.store.items[item_id].notes


def test_a_stored_mail_gone_meanwhile_leaves_the_attachments_metadata(desk: Desk):
    item_id = _triaged(desk, ("s.pdf", "application/pdf", PDF))
    desk.mails.objects.clear()  # the inbound bucket's lifecycle rule deleted it
    body = {"kind": "consultation", "category": "card", "customer_id": "cust-1"}
    ticket = inbox.open_ticket_from(desk.ports.inbox, AGENT, item_id, body)
    assert desk.documents.for_ticket(ticket.id) == []
    created = desk.repository.events(ticket.id)[0]
    assert [entry.get("document_id") for entry in created.data["attachments"]] == [None]


@pytest.mark.parametrize("action", ["open", "link"])
def test_the_stored_mail_out_of_reach_is_a_503_before_anything_is_written(desk: Desk, action):
    ticket = desk.ticket()
    item_id = _triaged(desk, ("s.pdf", "application/pdf", PDF))
    before = desk.store.items[item_id]
    events_before = len(desk.repository.events(ticket.id))
    desk.mails.unavailable = True
    with pytest.raises(DependencyUnavailableError):
        if action == "open":
            body = {"kind": "consultation", "category": "card", "customer_id": "cust-1"}
            inbox.open_ticket_from(desk.ports.inbox, AGENT, item_id, body)
        else:
            inbox.link(desk.ports.inbox, AGENT, item_id, ticket.id)
    assert desk.store.items[item_id] == before  # still to be handled: staff retry
    assert len(desk.repository.events(ticket.id)) == events_before
    assert len(desk.repository.tickets) == 1
    desk.mails.unavailable = False
    inbox.link(desk.ports.inbox, AGENT, item_id, ticket.id)  # the retry goes through
    desk.stream()
    assert len(desk.documents.for_ticket(ticket.id)) == 1


class RefusingDocumentStore(InMemoryDocumentStore):
    """A document store whose writes fail for a while (DynamoDB out of reach)."""

    down = True

    def add(self, *args: Any, **kwargs: Any) -> None:
        if self.down:
            raise DependencyUnavailableError("dynamodb")
        super().add(*args, **kwargs)


@pytest.mark.parametrize("action", ["open", "link"])
def test_documents_that_fail_after_the_settle_are_made_by_the_retried_reaction(desk: Desk, action):
    # Before, the documents were made by the request after the item was settled: a
    # failure there answered 503 with the link written, the retry was a 409, and the
    # attachments stayed metadata for good. Now the settle writes the event naming them,
    # and the stream's reaction makes them; it fails with the store and is retried.
    ticket = desk.ticket()
    item_id = _triaged(desk, ("s.pdf", "application/pdf", PDF), ("id.png", "image/png", PNG))
    store = RefusingDocumentStore(desk.repository)
    desk.documents = store
    ports = replace(desk.document_ports, documents=store)
    desk.inbox = replace(desk.inbox, documents=ports)
    if action == "open":
        body = {"kind": "consultation", "category": "card", "customer_id": "cust-1"}
        ticket = inbox.open_ticket_from(desk.inbox, AGENT, item_id, body)
    else:
        inbox.link(desk.inbox, AGENT, item_id, ticket.id)
    assert desk.store.items[item_id].status is not InboxStatus.OPEN  # the answer: 200/201
    with pytest.raises(DependencyUnavailableError):
        desk.stream()  # the stream's first delivery fails: the record is retried
    store.down = False
    assert desk.stream() == 2
    made = desk.documents.for_ticket(ticket.id)
    assert sorted(d.filename for d in made) == ["id.png", "s.pdf"]
    assert sorted(desk.bucket.objects[d.object_key] for d in made) == sorted([PDF, PNG])
    for document in made:  # the bucket's events: the checks and the scan
        document_service.file_landed(ports, document.object_key)
    assert desk.stream() == 0  # a redelivery makes nothing twice
    assert len(desk.documents.for_ticket(ticket.id)) == 2
