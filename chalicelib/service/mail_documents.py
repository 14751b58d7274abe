"""Email attachments that become documents of a ticket (SPEC 12).

A PDF, JPEG or PNG of 1 byte to 10 MB becomes a document of type `other`, checked and
scanned like an upload (its bytes go to the document bucket, whose ObjectCreated event
runs the checks). Anything else stays metadata only, with the reason noted: another type,
the size, the ticket's 20-document limit, a ticket that takes no documents now (finished,
or an approval pending). Idempotent: a document's id derives from the stored message and
the attachment's place in it, so a redelivered message makes no second document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from chalicelib.domain.documents import CONTENT_TYPES, MAX_DOCUMENTS, MAX_SIZE, OTHER
from chalicelib.domain.errors import DomainError
from chalicelib.domain.fields import shared_fields
from chalicelib.domain.identity import Caller
from chalicelib.domain.mail import Attachment
from chalicelib.domain.ticket import Ticket
from chalicelib.logs import logger
from chalicelib.service.documents import DocumentPorts, add_document_from_bytes


class Kept(StrEnum):
    """Why an attachment stays metadata only."""

    TYPE = "type"  # not PDF, JPEG or PNG
    SIZE = "size"  # empty or over 10 MB
    LIMIT = "limit"  # the ticket holds 20 documents
    TICKET = "ticket"  # the ticket takes no documents now (finished, approval pending)


class Planned(Attachment, frozen=True):
    """One attachment: the document it becomes, or why it stays metadata."""

    index: int
    document_id: str | None = None
    kept: Kept | None = None


def document_id_for(source: str, index: int) -> str:
    """The same id for the same attachment of the same stored message."""
    return "D-" + hashlib.sha256(f"{source}#{index}".encode()).hexdigest()[:40]


def plan(
    attachments: Sequence[Attachment], source: str, ticket: Ticket | None, held: int
) -> list[Planned]:
    """What becomes of each attachment. `ticket` None: a ticket about to be opened;
    `held`: the documents the ticket already has."""
    takes = ticket is None or (
        ticket.is_open
        and (ticket.application is None or ticket.application.pending_approval is None)
    )
    free = MAX_DOCUMENTS - held
    planned = []
    for index, attachment in enumerate(attachments):
        kept = _kept(attachment, takes=takes, free=free)
        if kept is None:
            free -= 1
        planned.append(
            Planned(
                **shared_fields(attachment, Attachment),
                index=index,
                document_id=None if kept else document_id_for(source, index),
                kept=kept,
            )
        )
    return planned


def _kept(attachment: Attachment, *, takes: bool, free: int) -> Kept | None:
    if attachment.content_type not in CONTENT_TYPES:
        return Kept.TYPE
    if not 1 <= attachment.size <= MAX_SIZE:
        return Kept.SIZE
    if not takes:
        return Kept.TICKET
    if free <= 0:
        return Kept.LIMIT
    return None


def as_metadata(planned: Sequence[Planned]) -> list[dict[str, Any]]:
    """The attachments as a comment's or a ticket's event records them."""
    found: list[dict[str, Any]] = []
    for one in planned:
        entry = shared_fields(one, Attachment)
        if one.document_id is not None:
            entry["document_id"] = one.document_id
        if one.kept is not None:
            entry["kept_as_metadata"] = one.kept.value
        found.append(entry)
    return found


def notes(planned: Sequence[Planned]) -> tuple[str, ...]:
    """An inbox item's notes: which attachments became documents and which did not."""
    made = sum(1 for one in planned if one.document_id is not None)
    found = [f"attachments_as_documents:{made}"] if made else []
    found.extend(
        f"attachment_{one.index + 1}_kept_as_metadata:{one.kept.value}"
        for one in planned
        if one.kept is not None
    )
    return tuple(found)


def make_documents(
    ports: DocumentPorts,
    caller: Caller,
    ticket: Ticket,
    planned: Sequence[Planned],
    data: Sequence[bytes],
) -> int:
    """The planned documents (each once); returns how many exist now. Each is announced
    by the event that took the message, so a status the ticket moved to since does not
    refuse it; one the ticket refuses after all (a document added meanwhile took the last
    place) is logged and stays metadata; the message's other attachments still go on."""
    made = 0
    for one in planned:
        if one.document_id is None:
            continue
        body = data[one.index] if one.index < len(data) else b""
        try:
            add_document_from_bytes(
                ports,
                caller,
                ticket,
                doc_type=OTHER,
                filename=one.filename,
                content_type=one.content_type,
                data=body,
                document_id=one.document_id,
                announced=True,
            )
        except DomainError as error:
            logger.warning(
                "attachment kept as metadata",
                extra={"ticket_id": ticket.id, "error": type(error).__name__},
            )
            continue
        made += 1
    return made
