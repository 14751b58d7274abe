"""Document use cases (SPEC 11): hand one in, list them, download one, and check a file
that landed in the bucket (size, SHA-256, type, malware scan).

The ports are declared here (a document store on the table, the bucket, the scanner);
adapters/documents.py and adapters/objects.py implement them on AWS.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
from msgspec.structs import replace

from chalicelib.domain.application_actions import application_of
from chalicelib.domain.applications import ApprovalPendingError, with_documents
from chalicelib.domain.documents import (
    CONTENT_TYPES,
    MAX_DOCUMENTS,
    MAX_SIZE,
    OTHER,
    SERVABLE,
    Document,
    DocumentErasedError,
    DocumentStatus,
    DocumentUnavailableError,
    FileProblem,
    check_file,
    digest,
    landed_status,
    object_key,
)
from chalicelib.domain.errors import (
    FieldError,
    ForbiddenError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
)
from chalicelib.domain.events import (
    DocumentAdded,
    DocumentInfected,
    DocumentReceived,
    Event,
)
from chalicelib.domain.fields import shared_fields
from chalicelib.domain.identity import SYSTEM, WORKING_ROLES, Caller, Role
from chalicelib.domain.privacy import is_erased
from chalicelib.domain.ticket import Ticket
from chalicelib.logs import logger
from chalicelib.service import idempotency as keys
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.ports import (
    IdempotencyRecord,
    OpsAlert,
    OpsAlerter,
    ReactionLedger,
    TicketChange,
    TransactionConflictError,
    VersionConflictError,
)
from chalicelib.service.retries import DOCUMENT_ATTEMPTS, one_of, retry, retrying
from chalicelib.service.tickets import TicketAccess

UPLOAD_WINDOW = timedelta(minutes=15)
DOWNLOAD_WINDOW = timedelta(minutes=5)
_DOCUMENT_ID_LENGTH = 40
# A document write whose ticket moved (or conflicted) is decided again on a fresh read.
_TICKET_MOVED = (VersionConflictError, TransactionConflictError)
ADD_DOCUMENT = "add_document"


class UploadForm(msgspec.Struct, frozen=True):
    """An S3 presigned POST: the URL and every form field to send before the file."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class LandedObject(msgspec.Struct, frozen=True):
    """What the bucket holds under a key: its size, SHA-256, first bytes and (when not
    too large to scan here) the bytes themselves."""

    size: int
    sha256: str
    head: bytes
    body: bytes | None


class ScanVerdict(msgspec.Struct, frozen=True):
    """None while the scan runs elsewhere (GuardDuty answers later, by EventBridge)."""

    infected: bool | None


class ObjectStore(ABC):
    """The private document bucket."""

    @abstractmethod
    def upload_form(
        self, key: str, content_type: str, size: int, expires_at: datetime
    ) -> UploadForm:
        """A presigned POST bound to this key, content type and exact size."""

    @abstractmethod
    def download_url(self, key: str, filename: str, content_type: str, expires: timedelta) -> str:
        """A presigned GET valid for `expires`."""

    @abstractmethod
    def fetch(self, key: str, max_bytes: int) -> LandedObject | None:
        """The object (None when it is gone); the body only up to max_bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object (gone already: fine)."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store bytes the desk already holds (an email attachment)."""


class Scanner(ABC):
    """The malware scan of a landed object."""

    @abstractmethod
    def verdict(self, key: str, body: bytes | None) -> ScanVerdict: ...


class DocumentStore(ABC):
    """Document items on the table: one partition with their ticket."""

    @abstractmethod
    def add(
        self,
        document: Document,
        expected_version: int,
        events: list[Event],
        idempotency: IdempotencyRecord | None,
        limit: int,
    ) -> None:
        """The document, its key pointer, the ticket's count (kept <= limit), its event and
        the stored response, if the ticket is still at expected_version.

        Raises TooManyDocumentsError, VersionConflictError, IdempotencyKeyTakenError or
        TransactionConflictError; nothing is half-written."""

    @abstractmethod
    def get(self, ticket_id: str, document_id: str) -> Document | None: ...

    @abstractmethod
    def for_ticket(self, ticket_id: str) -> list[Document]:
        """Every document of the ticket, oldest first (one Query)."""

    @abstractmethod
    def by_key(self, key: str) -> Document | None:
        """The document whose bytes live under this object key."""

    @abstractmethod
    def save(
        self, document: Document, expected: int, ticket: TicketChange | None, events: list[Event]
    ) -> None:
        """The changed document (if still at version `expected`), with the ticket's change
        and the events, in one transaction. Raises VersionConflictError."""

    @abstractmethod
    def expire(self, ticket_id: str, expires_at: int) -> None:
        """Retention: the ticket's document items (and their key pointers) expire with it
        (TTL); the stream's REMOVE of a document item deletes its object."""

    @abstractmethod
    def forget_filenames(self, customer_id: str, ticket_id: str) -> list[str]:
        """Erasure: blank the file names of the ticket's documents; returns their keys."""


class DocumentPorts(TicketAccess, frozen=True):
    documents: DocumentStore
    objects: ObjectStore
    scanner: Scanner
    alerts: OpsAlerter | None = None
    new_document_id: Callable[[], str] | None = None
    # Claims on the ops alerts (one per document): an alert SNS refused is sent by the
    # message's retry, once. None: alerted by the delivery that settles only.
    ledger: ReactionLedger | None = None


class DocumentRequest(msgspec.Struct, frozen=True):
    type: str
    filename: str
    content_type: str
    size: int
    sha256: str


Render = Callable[[Document, UploadForm], StoredResponse]


# --- handing one in -------------------------------------------------------------------------


def add_document(
    ports: DocumentPorts,
    caller: Caller,
    ticket_id: str,
    request: DocumentRequest,
    *,
    render: Render,
    idempotency: IdempotencyKey | None = None,
    get_ticket: Callable[[str], Ticket],
) -> StoredResponse:
    """A new document waiting for its bytes, and the presigned POST to send them with."""

    def attempt() -> StoredResponse:
        ticket = get_ticket(ticket_id)
        _check_may_add(ticket, caller, request)
        replay = keys.replay(ports.tickets, idempotency, ports.clock())
        if replay is not None:
            return replay
        now = ports.clock()
        document = _new_document(ports, ticket, caller, request, now)
        form = ports.objects.upload_form(
            document.object_key, document.content_type, document.size, now + UPLOAD_WINDOW
        )
        response = render(document, form)
        added = DocumentAdded(
            document_id=document.id, type=document.type, filename=document.filename
        )
        events = [Event.of(ports.ids.event_id(), ticket.id, now, caller, added)]

        def write(record: IdempotencyRecord | None) -> None:
            ports.documents.add(document, ticket.version, events, record, MAX_DOCUMENTS)

        return keys.kept(ports.tickets, idempotency, response, write, now=now, clock=ports.clock)

    return retrying(attempt, also=(VersionConflictError,))


def _check_may_add(
    ticket: Ticket, caller: Caller, request: DocumentRequest, *, announced: bool = False
) -> None:
    """403 (role), 400 (type), 409 (status, pending approval) in SPEC 3's order. An
    announced document (its ticket's event named it while the ticket took documents) is
    made whatever the ticket's status or approval is by now."""
    if not (caller.id == ticket.customer_id and caller.is_customer) and caller.role not in (
        *WORKING_ROLES,
        Role.SYSTEM,
    ):
        raise ForbiddenError(f"The {caller.role.value} role may not add documents")
    application = ticket.application
    if request.type != OTHER and (application is None or not application.accepts(request.type)):
        raise ValidationError([FieldError("type", "is not a document type of this ticket")])
    if announced:
        return
    if not ticket.is_open:
        raise IllegalTransitionError(ADD_DOCUMENT, ticket.status)
    if application is not None and application.pending_approval is not None:
        raise ApprovalPendingError("No new documents while an approval is pending")


def _new_document(
    ports: DocumentPorts, ticket: Ticket, caller: Caller, request: DocumentRequest, now: datetime
) -> Document:
    document_id = ports.new_document_id() if ports.new_document_id else _document_id(ports)
    return Document(
        **shared_fields(request, Document, "sha256"),  # its type, file name, content type, size
        id=document_id,
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        sha256=request.sha256.lower(),
        status=DocumentStatus.PENDING_UPLOAD,
        object_key=object_key(ticket.id, secrets.token_urlsafe(32)),
        created_at=now,
        updated_at=now,
        added_by=caller.id,
    )


def _document_id(ports: DocumentPorts) -> str:
    # An event id is a fresh ULID: time-sortable, unguessable enough for an id.
    return "D-" + ports.ids.event_id().removeprefix("E-")[:_DOCUMENT_ID_LENGTH]


def add_document_from_bytes(
    ports: DocumentPorts,
    caller: Caller,
    ticket: Ticket,
    *,
    doc_type: str,
    filename: str,
    content_type: str,
    data: bytes,
    document_id: str | None = None,
    announced: bool = False,
) -> Document:
    """A document whose bytes the desk already holds (an email attachment, SPEC 12): the
    record and `document.added` are written, then the bytes go to the bucket, whose
    ObjectCreated event runs the same checks and scan as an upload's. `caller` may be the
    system (the email intake) acting for the ticket's owner.

    `document_id` makes it idempotent: a caller that derives it from what it received (a
    stored message and the attachment's place in it) gets the document made the first
    time back, its bytes stored again if that first time stopped before storing them.
    `announced`: an event of the ticket named this document when the message arrived (an
    email's attachments): the ticket resolved or waiting for an approval since does not
    refuse it; the 20-document cap still does."""
    _check_bytes(content_type, data)
    if document_id is not None:
        made = ports.documents.get(ticket.id, document_id)
        if made is not None:
            return _bytes_stored(ports, made, data)
    request = DocumentRequest(doc_type, filename, content_type, len(data), digest(data))

    def attempt(current: Ticket) -> Document:
        _check_may_add(current, caller, request, announced=announced)
        now = ports.clock()
        document = _new_document(ports, current, caller, request, now)
        if document_id is not None:
            document = replace(document, id=document_id)
        added = DocumentAdded(document_id=document.id, type=document.type, filename=filename)
        event = Event.of(ports.ids.event_id(), current.id, now, caller, added)
        ports.documents.add(document, current.version, [event], None, MAX_DOCUMENTS)
        return document

    current = ticket

    def write() -> Document:
        nonlocal current
        try:
            return attempt(current)
        except _TICKET_MOVED:
            made = ports.documents.get(ticket.id, document_id) if document_id else None
            if made is not None:  # a concurrent delivery made it
                return made
            current = ports.tickets.get(ticket.id) or current  # the ticket moved: read again
            raise

    document = retry(
        write, attempts=DOCUMENT_ATTEMPTS, when=one_of(*_TICKET_MOVED), given_up=_contested
    )
    return _bytes_stored(ports, document, data)  # a new document waits for its bytes too


def _contested(_last: Exception) -> Exception:
    return TransactionConflictError()


def _check_bytes(content_type: str, data: bytes) -> None:
    errors = []
    if content_type not in CONTENT_TYPES:
        errors.append(FieldError("content_type", "must be one of: " + ", ".join(CONTENT_TYPES)))
    if not 1 <= len(data) <= MAX_SIZE:
        errors.append(FieldError("size", f"must be 1 to {MAX_SIZE} bytes"))
    if errors:
        raise ValidationError(errors)


def _bytes_stored(ports: DocumentPorts, document: Document, data: bytes) -> Document:
    if document.status == DocumentStatus.PENDING_UPLOAD:
        ports.objects.put(document.object_key, data, document.content_type)
    return document


# --- reading ---------------------------------------------------------------------------------


def list_documents(ports: DocumentPorts, ticket: Ticket) -> list[Document]:
    return ports.documents.for_ticket(ticket.id)


def download_url(ports: DocumentPorts, ticket: Ticket, document_id: str) -> str:
    """A presigned GET (5 minutes) for a clean file; 409 document-unavailable otherwise.

    An erased document (its name blanked, the first step of an erasure, before its object
    is deleted; or its ticket anonymized) is 410 document-erased, answered here: a link
    to the deleted object would get S3's 403. A link handed out before the erasure gets
    S3's answer once the object is gone (it lives 5 minutes at most)."""
    document = ports.documents.get(ticket.id, document_id) if _is_document_id(document_id) else None
    if document is None:
        raise NotFoundError(f"No document {document_id[:40]}")
    if not document.filename or is_erased(ticket):
        raise DocumentErasedError("The document was deleted by an erasure")
    if document.status not in SERVABLE:
        raise DocumentUnavailableError(f"The document is {document.status.value}")
    return ports.objects.download_url(
        document.object_key, document.filename, document.content_type, DOWNLOAD_WINDOW
    )


def _is_document_id(value: str) -> bool:
    return value.startswith("D-") and 2 < len(value) <= 42 and value[2:].isalnum()


# --- a file landed ---------------------------------------------------------------------------

# Scanned here in full up to this size; a larger object is refused on size anyway.
_SCAN_LIMIT = 10 * 1024 * 1024 + 1


def file_landed(ports: DocumentPorts, key: str) -> Document | None:
    """The S3 event for `key`: scanning, then the checks and the scan; the outcome and the
    checklist in one transaction with `document.received`. A redelivery changes nothing.

    Bytes landing after the customer's erasure (an upload form stays valid 15 minutes) are
    deleted at once, and nothing is written: erasure deleted the objects it found, not
    those still to come, which stayed in the bucket until retention expired."""
    document = _current(ports, key)
    if document is not None and _erased(ports, document):
        ports.objects.delete(key)
        logger.info("upload after erasure deleted", extra={"document_id": document.id})
        return None
    if document is None or document.status in SERVABLE:
        return _landed_again(ports, document)
    if document.status not in _SETTLING:
        return None
    if document.status == DocumentStatus.PENDING_UPLOAD:
        moved = _save(
            ports,
            document,
            replace(document, status=DocumentStatus.SCANNING, updated_at=ports.clock()),
            [],
        )
        if moved is None:
            return None
        document = moved
    landed = ports.objects.fetch(key, _SCAN_LIMIT)
    if landed is None:
        return None  # deleted meanwhile (erasure): nothing to check
    problem = check_file(document, landed.head, landed.size, landed.sha256)
    verdict = ports.scanner.verdict(key, landed.body)
    return _settle(ports, document, problem, verdict.infected)


def _erased(ports: DocumentPorts, document: Document) -> bool:
    """The document's customer was erased: erasure first blanks the file names of the
    ticket's documents (never empty otherwise), then deletes their objects and anonymizes
    the ticket; either sign is enough (the ticket read alone tells the second)."""
    if not document.filename:
        return True
    ticket = ports.tickets.get(document.ticket_id)
    return ticket is not None and is_erased(ticket)


def scan_result(ports: DocumentPorts, key: str, infected: bool) -> Document | None:
    """GuardDuty's verdict on `key` (deployed: EventBridge). The checks may have run or not."""
    document = _current(ports, key)
    if document is None or document.status not in _SETTLING:
        return _replaced(ports, document, None, infected)
    problem: FileProblem | None = document.problem
    if not document.checked:
        # The verdict beat the S3 event: record it; the checks will settle the document.
        recorded = replace(document, scan_infected=infected, updated_at=ports.clock())
        return _save(ports, document, recorded, [])
    return _settle(ports, document, problem, infected)


UNSCANNABLE = "UNSUPPORTED"  # GuardDuty cannot read the file (e.g. an encrypted PDF)


def scan_failed(ports: DocumentPorts, key: str, status: str) -> Document | None:
    """A scan result that is no verdict. `UNSUPPORTED`: GuardDuty cannot read the file
    (an encrypted or password-protected one), so the file is not of a type the desk can
    take: `rejected_file` with problem `type` (SPEC 11's outcomes), and the customer may
    hand it in again. Any other (access denied, failed): the scan is not done, so the
    document stays `scanning` and is never served (SPEC 11); ops are alerted once with
    the scanner's status, fix the cause and scan the object again (docs/runbooks.md).
    A redelivery changes nothing."""
    document = _current(ports, key)
    if document is None or document.status not in _SETTLING:
        return None
    if status != UNSCANNABLE:
        _alert_once(ports, document.id, _scan_failed_alert(document, status))
        return None
    settled = replace(
        document,
        status=DocumentStatus.REJECTED_FILE,
        problem=FileProblem.TYPE,
        updated_at=ports.clock(),
    )
    return _save(ports, document, settled, [_received(ports, settled)], with_ticket=True)


_SETTLING = (DocumentStatus.PENDING_UPLOAD, DocumentStatus.SCANNING)


def _current(ports: DocumentPorts, key: str) -> Document | None:
    """The document `key` names. One settled already gives the ops alert its settling
    owed (SNS refused it then, so the message failed and came back): once, by its claim."""
    document = ports.documents.by_key(key)
    if document is None or document.status in _SETTLING or ports.ledger is None:
        return document  # without claims, a repeat could alert twice
    if document.status is DocumentStatus.INFECTED:
        _alert_once(ports, document.id, _infected_alert(document))
    return document


def _landed_again(ports: DocumentPorts, document: Document | None) -> Document | None:
    """The object of a document already served was written again (its upload form stays
    valid 15 minutes; the same bytes again change nothing): checked and scanned anew."""
    landed = ports.objects.fetch(document.object_key, _SCAN_LIMIT) if document else None
    if document is None or landed is None:
        return None
    problem = check_file(document, landed.head, landed.size, landed.sha256)
    verdict = ports.scanner.verdict(document.object_key, landed.body)
    return _replaced(ports, document, problem, verdict.infected)


def _replaced(
    ports: DocumentPorts,
    document: Document | None,
    problem: FileProblem | None,
    infected: bool | None,
) -> Document | None:
    """A settled document whose object was written again: bytes other than the ones
    declared, or malware found in them, and it is never served again (`rejected_file`,
    `infected`: malware wins), with `document.received` and the checklist, as on landing."""
    if document is None or document.status is DocumentStatus.INFECTED:
        return None
    if infected:
        return _settle(ports, document, problem, True)
    if problem is None or document.status not in SERVABLE:
        return None
    return _settle(ports, document, problem, False)


def _infected_alert(document: Document) -> OpsAlert:
    return OpsAlert(
        kind="document.infected",
        ticket_id=document.ticket_id,
        summary=f"Malware found in document {document.id}; it is never served",
        details={"document_id": document.id, "type": document.type},
    )


def _scan_failed_alert(document: Document, status: str) -> OpsAlert:
    return OpsAlert(
        kind="document.scan_failed",
        ticket_id=document.ticket_id,
        summary=f"The malware scan gave no verdict ({status}) on document "
        f"{document.id}; it stays scanning (never served) until it is scanned again",
        details={"document_id": document.id, "type": document.type, "scan": status},
    )


def _alert_once(ports: DocumentPorts, document_id: str, alert: OpsAlert) -> None:
    """The claim is taken before SNS is called and given back if the call fails, so the
    message's retry sends it instead of losing it (reactions.alert_ops on the stream)."""
    if ports.alerts is None:
        return
    if ports.ledger is not None and not ports.ledger.claim(document_id, alert.kind):
        return
    try:
        ports.alerts.alert(alert)
    except Exception:
        if ports.ledger is not None:
            ports.ledger.release(document_id, alert.kind)
        raise


def _settle(
    ports: DocumentPorts, document: Document, problem: FileProblem | None, infected: bool | None
) -> Document | None:
    now = ports.clock()
    if infected is None:
        infected = document.scan_infected
    if infected is None:  # the scan answers later: keep the checks' outcome
        checked = replace(document, checked=True, problem=problem, updated_at=now)
        return _save(ports, document, checked, [])
    status = landed_status(problem, infected)
    settled = replace(
        document,
        status=status,
        checked=True,
        problem=None if infected else problem,
        scan_infected=infected,
        updated_at=now,
    )
    events = [_received(ports, settled)]
    if infected:
        flagged = DocumentInfected(document_id=document.id, type=document.type)
        events.append(Event.of(ports.ids.event_id(), document.ticket_id, now, SYSTEM, flagged))
    saved = _save(ports, document, settled, events, with_ticket=True)
    if saved is not None and infected:
        _alert_once(ports, document.id, _infected_alert(document))
    return saved


def _received(ports: DocumentPorts, settled: Document) -> Event:
    """`document.received`: how a document that landed was settled."""
    received = DocumentReceived(
        document_id=settled.id,
        type=settled.type,
        status=settled.status.value,
        problem=settled.problem.value if settled.problem else None,
    )
    return Event.of(ports.ids.event_id(), settled.ticket_id, settled.updated_at, SYSTEM, received)


def _save(
    ports: DocumentPorts,
    before: Document,
    after: Document,
    events: list[Event],
    *,
    with_ticket: bool = False,
) -> Document | None:
    """Write the document (and the ticket's checklist); None when another delivery won."""
    changed = replace(after, version=before.version + 1)

    def write() -> Document | None:
        change = None
        if with_ticket:
            ticket = ports.tickets.get(before.ticket_id)
            change = _checklist_change(ports, ticket, changed) if ticket is not None else None
        try:
            ports.documents.save(changed, before.version, change, events)
        except VersionConflictError:
            current = ports.documents.get(before.ticket_id, before.id)
            if current is None or current.version != before.version:
                return None  # another delivery moved the document
            raise  # the ticket moved: read it again
        return changed

    return retry(
        write,
        attempts=DOCUMENT_ATTEMPTS,
        when=one_of(VersionConflictError),
        given_up=_contested,
    )


def _checklist_change(
    ports: DocumentPorts, ticket: Ticket, changed: Document
) -> TicketChange | None:
    if ticket.application is None:
        return None
    documents = [
        changed if doc.id == changed.id else doc for doc in ports.documents.for_ticket(ticket.id)
    ]
    application = with_documents(application_of(ticket), documents)
    if application == ticket.application:
        return None
    updated = replace(
        ticket, application=application, version=ticket.version + 1, updated_at=ports.clock()
    )
    return TicketChange(updated, ticket.version)


# --- erasure -----------------------------------------------------------------------------------


def erase_documents(ports: DocumentPorts, ticket: Ticket) -> None:
    """Erasure (SPEC 10, 11): delete the customer's document objects, blank their names."""
    for key in ports.documents.forget_filenames(ticket.customer_id, ticket.id):
        ports.objects.delete(key)
