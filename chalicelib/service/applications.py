"""Application use cases beyond the lifecycle's pure rows (SPEC 11): a document review
writes the document, the ticket's checklist and `document.reviewed` in one transaction."""

from __future__ import annotations

from datetime import datetime

from msgspec.structs import replace

from chalicelib.domain.application_actions import application_of
from chalicelib.domain.applications import with_documents
from chalicelib.domain.documents import (
    OTHER,
    REVIEWABLE,
    DocumentStatus,
    DocumentUnavailableError,
)
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.events import DocumentReviewed, Event
from chalicelib.domain.ticket import Ticket
from chalicelib.service.documents import DocumentStore
from chalicelib.service.ports import TicketChange

# How a message names a document of type `other` (no catalogue name).
OTHER_NAME = {"zh-CN": "补充材料", "en-US": "document"}


def commit_review(
    store: DocumentStore, before: Ticket, changed: Ticket, events: list[Event], now: datetime
) -> Ticket:
    """Apply a `review_document` the lifecycle allowed: the document must be a clean file of
    this ticket (400 naming document_id, 409 document-unavailable)."""
    reviewed = events[0].payload_as(DocumentReviewed)
    assert reviewed is not None
    document = store.get(before.id, reviewed.document_id)
    if document is None:
        raise ValidationError([FieldError("document_id", "is not a document of this ticket")])
    if document.status not in REVIEWABLE:
        raise DocumentUnavailableError(f"The document is {document.status.value}")
    judged = replace(
        document,
        status=DocumentStatus(reviewed.verdict),
        review_reason=reviewed.reason,
        reviewed_by=events[0].actor.id,
        updated_at=now,
        version=document.version + 1,
    )
    final = changed
    names = dict(OTHER_NAME)
    if changed.application is not None or before.kind == "application":
        application = application_of(changed)
        documents = [judged if doc.id == judged.id else doc for doc in store.for_ticket(before.id)]
        final = replace(changed, application=with_documents(application, documents))
        if document.type != OTHER:
            names = application.document_names.get(document.type, names)
    named = replace(reviewed, type=document.type, type_name=names)
    first = Event.of(events[0].id, events[0].ticket_id, events[0].at, events[0].actor, named)
    store.save(judged, document.version, TicketChange(final, before.version), [first, *events[1:]])
    return final
