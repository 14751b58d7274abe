"""Document items on the single table (SPEC 11).

A ticket's documents live in its partition (pk TICKET#<id>, sk FILE#<D-id>), so listing
them is one Query; "FILE#" sorts after "EVENT#" and before "F~", out of the timeline's
first-page read (sk < "F"). A pointer item (pk DOCKEY#<object key>) finds a document from
the S3 event; a count item (sk FILECOUNT) keeps a ticket at 20 documents at most.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from pynamodb.connection import Connection

from chalicelib.adapters.dynamo import (
    check_ticket_version,
    event_items,
    ticket_pk,
    ticket_to_item,
    write_idempotency,
)
from chalicelib.adapters.mapping import StoredFields
from chalicelib.adapters.models import (
    DocumentCountItem,
    DocumentItem,
    DocumentKeyItem,
    get_item,
)
from chalicelib.adapters.transactions import Refusal, Transaction, written
from chalicelib.domain.documents import Document, DocumentStatus, FileProblem, TooManyDocumentsError
from chalicelib.domain.events import Event
from chalicelib.service.documents import DocumentStore
from chalicelib.service.ports import (
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    TicketChange,
    VersionConflictError,
)

FILE_PREFIX = "FILE#"
COUNT_SK = "FILECOUNT"
KEY_SK = "DOCKEY"


def document_sk(document_id: str) -> str:
    return f"{FILE_PREFIX}{document_id}"


def key_pk(object_key: str) -> str:
    return f"DOCKEY#{object_key}"


# How the item stores a Document: `id` and `type` renamed, the fields below converted,
# every other field under its own name as it is.
_DOCUMENT = StoredFields(
    Document,
    DocumentItem,
    converted=(
        "size",
        "status",
        "added_by",
        "problem",
        "version",
        "checked",
        "scan_infected",
    ),
    renamed={"id": "document_id", "type": "doc_type"},
)


def document_to_item(document: Document) -> DocumentItem:
    return DocumentItem(
        pk=ticket_pk(document.ticket_id),
        sk=document_sk(document.id),
        **_DOCUMENT.item_values(document),
        size=document.size,
        doc_status=document.status.value,
        added_by=document.added_by,
        problem=document.problem.value if document.problem else None,
        doc_version=document.version,
        checked=int(document.checked),
        scan_infected=None if document.scan_infected is None else int(document.scan_infected),
    )


def item_to_document(item: DocumentItem) -> Document:
    return Document(
        **_DOCUMENT.struct_values(item),
        size=int(item.size),
        status=DocumentStatus(item.doc_status),
        added_by=item.added_by or "",
        problem=_problem(item.problem),
        version=int(item.doc_version or 1),
        checked=bool(item.checked),
        scan_infected=None if item.scan_infected is None else bool(item.scan_infected),
    )


class DynamoDocumentStore(DocumentStore):
    def __init__(self, connection: Connection, retention: timedelta) -> None:
        self._connection = connection
        self._retention = retention  # the ticket's expiry, should a write finish it

    def add(
        self,
        document: Document,
        expected_version: int,
        events: list[Event],
        idempotency: IdempotencyRecord | None,
        limit: int,
    ) -> None:
        refusals: dict[str, Refusal] = {
            "ticket": lambda: VersionConflictError(document.ticket_id),
            "count": lambda: TooManyDocumentsError(f"A ticket holds at most {limit} documents"),
            "idempotency": IdempotencyKeyTakenError,
        }
        pointer = DocumentKeyItem(
            pk=key_pk(document.object_key),
            sk=KEY_SK,
            ticket_id=document.ticket_id,
            document_id=document.id,
        )
        with Transaction(self._connection, refusals) as writes:
            check_ticket_version(writes, document.ticket_id, expected_version)
            writes.save("document", document_to_item(document), DocumentItem.pk.does_not_exist())
            writes.save("pointer", pointer, DocumentKeyItem.pk.does_not_exist())
            writes.update(
                "count",
                DocumentCountItem(pk=ticket_pk(document.ticket_id), sk=COUNT_SK),
                actions=[
                    DocumentCountItem.doc_count.add(1),
                    DocumentCountItem.item_type.set(DocumentCountItem),
                ],
                condition=DocumentCountItem.doc_count.does_not_exist()
                | (DocumentCountItem.doc_count < limit),
            )
            writes.events(event_items(events, idempotency))
            write_idempotency(writes, idempotency)

    def get(self, ticket_id: str, document_id: str) -> Document | None:
        key = (ticket_pk(ticket_id), document_sk(document_id))
        item = get_item(DocumentItem, *key, consistent=True)
        return item_to_document(item) if item is not None else None

    def for_ticket(self, ticket_id: str) -> list[Document]:
        items = DocumentItem.query(
            ticket_pk(ticket_id),
            DocumentItem.sk.startswith(FILE_PREFIX),
            consistent_read=True,
        )
        return [item_to_document(item) for item in items]

    def by_key(self, key: str) -> Document | None:
        pointer = get_item(DocumentKeyItem, key_pk(key), KEY_SK, consistent=True)
        return self.get(pointer.ticket_id, pointer.document_id) if pointer is not None else None

    def save(
        self, document: Document, expected: int, ticket: TicketChange | None, events: list[Event]
    ) -> None:
        refusals: dict[str, Refusal] = {
            "document": lambda: VersionConflictError(document.id),
            "ticket": lambda: VersionConflictError(document.ticket_id),
        }
        with Transaction(self._connection, refusals) as writes:
            writes.save(
                "document",
                document_to_item(document),
                DocumentItem.doc_version == expected,
            )
            if ticket is not None:
                item = ticket_to_item(
                    ticket.ticket, on_disk=ticket.expected_version, retention=self._retention
                )
                writes.save("ticket", item)
            writes.events(event_items(events, None))

    def expire(self, ticket_id: str, expires_at: int) -> None:
        """Stamp the TTL on the ticket's document records that exist: an UpdateItem on a
        missing key would write a bare item (no type, never read, kept for ever)."""
        items: list[DocumentItem | DocumentKeyItem | DocumentCountItem] = []
        for document in self.for_ticket(ticket_id):
            items.append(DocumentItem(pk=ticket_pk(ticket_id), sk=document_sk(document.id)))
            items.append(DocumentKeyItem(pk=key_pk(document.object_key), sk=KEY_SK))
        items.append(DocumentCountItem(pk=ticket_pk(ticket_id), sk=COUNT_SK))
        for item in items:
            stamp = type(item).expires_at.set(expires_at)
            written(partial(item.update, actions=[stamp], condition=type(item).pk.exists()))

    def forget_filenames(self, customer_id: str, ticket_id: str) -> list[str]:
        keys = []
        for document in self.for_ticket(ticket_id):
            if document.customer_id != customer_id:
                continue
            keys.append(document.object_key)
            # The version moves too: a check or scan of this document still running
            # (it read the item before) cannot write the old file name back.
            DocumentItem(pk=ticket_pk(ticket_id), sk=document_sk(document.id)).update(
                actions=[
                    DocumentItem.filename.set(""),
                    DocumentItem.review_reason.remove(),
                    DocumentItem.doc_version.add(1),
                ],
                condition=DocumentItem.pk.exists(),
            )
        return keys


def _problem(stored: str | None) -> FileProblem | None:
    """`scan`, written for a file the scanner could not read before SPEC 11's three
    problems were kept to, reads as `type`: what the desk now records for it."""
    if not stored:
        return None
    return FileProblem.TYPE if stored == "scan" else FileProblem(stored)
