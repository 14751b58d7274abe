"""In-memory fakes of the document ports (SPEC 11), sharing the ticket repository fake's
state so a document write and its ticket change are one write, as on the table."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from msgspec.structs import replace

from chalicelib.domain.documents import Document, TooManyDocumentsError
from chalicelib.domain.events import Event
from chalicelib.service.documents import (
    DocumentStore,
    LandedObject,
    ObjectStore,
    UploadForm,
)
from chalicelib.service.ports import (
    IdempotencyRecord,
    TicketChange,
    VersionConflictError,
)
from tests.fakes import InMemoryTicketRepository


class InMemoryDocumentStore(DocumentStore):
    def __init__(self, tickets: InMemoryTicketRepository) -> None:
        self.tickets = tickets
        self.documents: dict[tuple[str, str], Document] = {}
        self.keys: dict[str, tuple[str, str]] = {}
        self.expiries: dict[str, int] = {}

    def add(
        self,
        document: Document,
        expected_version: int,
        events: list[Event],
        idempotency: IdempotencyRecord | None,
        limit: int,
    ) -> None:
        ticket = self.tickets.tickets.get(document.ticket_id)
        if ticket is None or ticket.version != expected_version:
            raise VersionConflictError(document.ticket_id)
        if len(self.for_ticket(document.ticket_id)) >= limit:
            raise TooManyDocumentsError(f"A ticket holds at most {limit} documents")
        self.tickets._check_idempotency(idempotency)
        self.documents[(document.ticket_id, document.id)] = document
        self.keys[document.object_key] = (document.ticket_id, document.id)
        self.tickets.event_log.setdefault(document.ticket_id, []).extend(events)
        self.tickets._keep(document.ticket_id, idempotency)

    def get(self, ticket_id: str, document_id: str) -> Document | None:
        return self.documents.get((ticket_id, document_id))

    def for_ticket(self, ticket_id: str) -> list[Document]:
        found = [doc for (owner, _), doc in self.documents.items() if owner == ticket_id]
        return sorted(found, key=lambda doc: doc.id)

    def by_key(self, key: str) -> Document | None:
        where = self.keys.get(key)
        return self.documents.get(where) if where else None

    def save(
        self, document: Document, expected: int, ticket: TicketChange | None, events: list[Event]
    ) -> None:
        current = self.documents.get((document.ticket_id, document.id))
        if current is None or current.version != expected:
            raise VersionConflictError(document.id)
        if ticket is not None:
            held = self.tickets.tickets.get(ticket.ticket.id)
            if held is None or held.version != ticket.expected_version:
                raise VersionConflictError(ticket.ticket.id)
            self.tickets.tickets[ticket.ticket.id] = replace(
                ticket.ticket, version=ticket.expected_version + 1
            )
        self.documents[(document.ticket_id, document.id)] = document
        self.tickets.event_log.setdefault(document.ticket_id, []).extend(events)

    def expire(self, ticket_id: str, expires_at: int) -> None:
        self.expiries[ticket_id] = expires_at

    def forget_filenames(self, customer_id: str, ticket_id: str) -> list[str]:
        keys = []
        for doc in self.for_ticket(ticket_id):
            if doc.customer_id == customer_id:
                self.documents[(ticket_id, doc.id)] = replace(
                    doc, filename="", review_reason=None, version=doc.version + 1
                )
                keys.append(doc.object_key)
        return keys


class InMemoryObjectStore(ObjectStore):
    """A bucket in a dict; `put` plays the client's upload."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.forms: list[tuple[str, str, int]] = []
        self.deleted: list[str] = []

    def put(self, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[key] = data

    def upload_form(
        self, key: str, content_type: str, size: int, expires_at: datetime
    ) -> UploadForm:
        self.forms.append((key, content_type, size))
        fields = {"key": key, "Content-Type": content_type, "policy": "p", "x-amz-signature": "s"}
        return UploadForm("https://bucket.example/", fields, expires_at)

    def download_url(self, key: str, filename: str, content_type: str, expires: timedelta) -> str:
        return f"https://bucket.example/{key}?expires={int(expires.total_seconds())}"

    def fetch(self, key: str, max_bytes: int) -> LandedObject | None:
        data = self.objects.get(key)
        if data is None:
            return None
        body = data if len(data) <= max_bytes else None
        return LandedObject(len(data), hashlib.sha256(data).hexdigest(), data[:16], body)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.deleted.append(key)
