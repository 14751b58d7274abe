"""Documents a customer or staff hand in on a ticket (SPEC section 11): their states and the
checks a landed file goes through (size, SHA-256, magic bytes, the malware scan's verdict).

Pure: the bytes are handed in by the caller; nothing is read or written here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec

from chalicelib.domain.errors import ConflictError, DomainError

MAX_DOCUMENTS = 20
MAX_SIZE = 10 * 1024 * 1024
OTHER = "other"  # the document type any ticket accepts besides its checklist's
CONTENT_TYPES = ("application/pdf", "image/jpeg", "image/png")
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
# The EICAR anti-virus test file's signature (not a virus: every scanner flags it on purpose).
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class TooManyDocumentsError(ConflictError):
    """The ticket already holds the most documents allowed (409 too-many-documents)."""


class DocumentUnavailableError(ConflictError):
    """The document's bytes may not be served or reviewed now (409 document-unavailable)."""


class DocumentErasedError(DomainError):
    """The document's bytes were deleted by the customer's erasure (410 document-erased)."""


class DocumentStatus(StrEnum):
    PENDING_UPLOAD = "pending_upload"
    SCANNING = "scanning"
    AVAILABLE = "available"
    REJECTED_FILE = "rejected_file"
    INFECTED = "infected"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


# Whose bytes may be handed out (a presigned GET): clean files only.
SERVABLE = frozenset({DocumentStatus.AVAILABLE, DocumentStatus.ACCEPTED, DocumentStatus.REJECTED})
# A review may judge only a clean file that landed; its verdict is the status it gives it.
REVIEWABLE = SERVABLE
VERDICTS = (DocumentStatus.ACCEPTED, DocumentStatus.REJECTED)


class FileProblem(StrEnum):
    SIZE = "size"
    CHECKSUM = "checksum"
    TYPE = "type"  # also a file the malware scan cannot read (GuardDuty: UNSUPPORTED)


class Document(msgspec.Struct, frozen=True):
    id: str
    ticket_id: str
    customer_id: str
    type: str
    filename: str
    content_type: str
    size: int
    sha256: str
    status: DocumentStatus
    object_key: str
    created_at: datetime
    updated_at: datetime
    added_by: str = ""
    problem: FileProblem | None = None
    review_reason: str | None = None
    reviewed_by: str | None = None
    version: int = 1
    checked: bool = False  # size, checksum and type checked (problem holds the outcome)
    scan_infected: bool | None = None  # the scan's verdict, once known


def object_key(ticket_id: str, token: str) -> str:
    """Where the bytes live: the ticket, then a random token nobody can guess (no file name)."""
    return f"documents/{ticket_id}/{token}"


def check_file(document: Document, head: bytes, size: int, sha256: str) -> FileProblem | None:
    """What is wrong with the landed bytes against the declaration, or None.

    `head` is the first bytes of the object, `size` and `sha256` of the whole of it.
    """
    if size != document.size:
        return FileProblem.SIZE
    if sha256.lower() != document.sha256.lower():
        return FileProblem.CHECKSUM
    if not any(head.startswith(magic) for magic in _MAGIC.get(document.content_type, ())):
        return FileProblem.TYPE
    return None


def landed_status(problem: FileProblem | None, infected: bool) -> DocumentStatus:
    """The outcome of the checks and the scan: infected wins over any other problem."""
    if infected:
        return DocumentStatus.INFECTED
    if problem is not None:
        return DocumentStatus.REJECTED_FILE
    return DocumentStatus.AVAILABLE


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def newest_first(documents: list[Document]) -> list[Document]:
    return sorted(documents, key=lambda doc: (doc.created_at, doc.id), reverse=True)


def document_view(document: Document, *, with_problem: bool = True) -> dict[str, Any]:
    """A document as the API shows it (never its object key or who handled it)."""
    view: dict[str, Any] = {
        "id": document.id,
        "type": document.type,
        "filename": document.filename,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "status": document.status.value,
        "created_at": _iso(document.created_at),
        "updated_at": _iso(document.updated_at),
    }
    if with_problem and document.problem is not None:
        view["problem"] = document.problem.value
    if document.review_reason is not None:
        view["review_reason"] = document.review_reason
    return view


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
