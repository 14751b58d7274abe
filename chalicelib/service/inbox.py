"""The triage inbox (SPEC section 12): what no ticket took by itself waits for staff.

`triage(ports, item)` is how any channel puts a message there (email here, SMS from the
SMS intake). Staff then open a ticket from an item, add it to a ticket as the customer's
comment (vouching for the sender: audited with the staff actor), or discard it; each
item is handled once (a second try is a 409), in one transaction with its ticket write.

An email's attachments become documents from the stream, not the request: the handled
item's transaction writes the ticket's event naming each document to come by its id (the
outbox), and `make_inbox_documents`, a reaction to that event, makes them from the stored
message, at least once and idempotently (the ids). A failure after the settle can no
longer lose them: the stream retries the reaction until it is done, and a ticket resolved
or waiting for an approval by then still takes them (only the 20-document cap, reached by
uploads meanwhile, leaves one as metadata, logged).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.documents import Document, DocumentStatus
from chalicelib.domain.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from chalicelib.domain.events import CommentAdded, Event, TicketCreated
from chalicelib.domain.identity import STAFF_ROLES, WORKING_ROLES, Caller, Role
from chalicelib.domain.inbound_sms import InboundSms
from chalicelib.domain.inbox import Channel, InboxItem, InboxStatus, TriageReason, inbox_id_for
from chalicelib.domain.lifecycle import add_comment
from chalicelib.domain.mail import payloads
from chalicelib.domain.privacy import is_erased, retention_expiry
from chalicelib.domain.sla import start_clocks
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.logs import logger
from chalicelib.service.audit import AuditPorts, record_inbox_list_read
from chalicelib.service.documents import DocumentPorts
from chalicelib.service.mail_documents import (
    Planned,
    as_metadata,
    make_documents,
    notes,
    plan,
)
from chalicelib.service.ports import (
    InboxItemChangedError,
    InboxStore,
    MailSource,
    Page,
    ReferenceTakenError,
    StartKey,
    TicketChange,
    Triage,
    VersionConflictError,
)
from chalicelib.service.retries import retrying
from chalicelib.service.tickets import TicketPorts, get_ticket, open_with_new_ids

_ITEM_ID = re.compile(r"M-[0-9A-Za-z]{1,40}")
LINK = "inbox_link"
TICKET = "inbox_ticket"
DISCARD = "inbox_discard"


class InboxPorts(msgspec.Struct, frozen=True):
    store: InboxStore
    tickets: TicketPorts | None = None  # the routes' actions need these two
    audit: AuditPorts | None = None
    # An email's PDF/JPEG/PNG attachments become documents of the ticket staff open or
    # link (read again from the stored message, by the stream's reaction to the event
    # the settle wrote); without these they stay metadata.
    documents: DocumentPorts | None = None
    mail: MailSource | None = None
    mail_bucket: str | None = None


def triage(ports: InboxPorts, item: InboxItem) -> bool:
    """Put a message in the triage inbox; False when that item is already there (a
    redelivery of the same message, by its id)."""
    return ports.store.put(item)


class SmsToInbox(Triage):
    """The SMS intake's triage (service/inbound_sms.py) as items of this inbox."""

    def __init__(self, store: InboxStore) -> None:
        self._store = store

    def triage_sms(self, sms: InboundSms, reason: TriageReason) -> None:
        item = InboxItem(
            id=inbox_id_for(f"sms:{sms.message_id}"),
            channel=Channel.SMS,
            sender=sms.sender,
            subject=None,
            text=sms.body,
            received_at=sms.received_at,
            status=InboxStatus.OPEN,
            reason=reason,
            source=f"sms:{sms.message_id}",
        )
        triage(InboxPorts(self._store), item)


def check_reader(caller: Caller) -> None:
    """Agents, supervisors and auditors read the inbox; customers may not (403)."""
    if caller.role not in STAFF_ROLES:
        raise ForbiddenError(f"The {caller.role.value} role may not use the triage inbox")


def list_items(
    ports: InboxPorts, caller: Caller, status: str, limit: int, start_key: StartKey | None
) -> Page[InboxItem]:
    """Items in one status, newest first (agents, supervisors, auditors)."""
    check_reader(caller)
    page = ports.store.page(status, limit, start_key)
    if ports.audit is not None:
        shown = [(item.id, item.ticket_id) for item in page.items]
        record_inbox_list_read(ports.audit, caller, shown, status)
    return page


def get_item(ports: InboxPorts, caller: Caller, item_id: str) -> InboxItem:
    check_reader(caller)
    item = ports.store.get(item_id) if _ITEM_ID.fullmatch(item_id) else None
    if item is None:
        raise NotFoundError(f"No inbox item {item_id[:42]}")
    return item


def _actionable(ports: InboxPorts, caller: Caller, item_id: str) -> InboxItem:
    """404, then 403 (auditors read only), then the body's 400 is the caller's."""
    item = get_item(ports, caller, item_id)
    if caller.role not in WORKING_ROLES:
        raise ForbiddenError(f"The {caller.role.value} role may not handle inbox items")
    return item


def check_worker(ports: InboxPorts, caller: Caller, item_id: str) -> None:
    """The checks before a body is read: the item exists (404), the role works it (403)."""
    _actionable(ports, caller, item_id)


def _still_open(item: InboxItem) -> None:
    if item.status is not InboxStatus.OPEN:
        raise ConflictError(f"The message was already handled ({item.status.value})")


def _handled(item: InboxItem, caller: Caller, ports: TicketPorts, status: InboxStatus) -> InboxItem:
    return replace(
        item,
        status=status,
        handled_by=caller.id,
        handled_at=ports.clock(),
        version=item.version + 1,
    )


def _ports(ports: InboxPorts) -> tuple[TicketPorts, AuditPorts]:
    assert ports.tickets is not None and ports.audit is not None, "the routes need both"
    return ports.tickets, ports.audit


def open_ticket_from(
    ports: InboxPorts, caller: Caller, item_id: str, body: dict[str, Any]
) -> Ticket:
    """Open a ticket for the customer staff name: the message is its description, the
    sender its contact (preferred on that channel)."""
    tickets, audit = _ports(ports)

    def attempt() -> Ticket:
        item = _actionable(ports, caller, item_id)
        _still_open(item)
        now = tickets.clock()
        ticket, created = open_with_new_ids(_request(item, body), caller, tickets.ids, now)
        planned = _plan(ports, item, None)
        data = dict(created.data, inbox_id=item.id)  # the item, for erasure
        if planned:
            data["attachments"] = as_metadata(planned)
        created = replace(created, data=data)
        if tickets.sla is not None:
            ticket = replace(ticket, sla=start_clocks(ticket, tickets.sla))
        handled = replace(
            _handled(item, caller, tickets, InboxStatus.TICKETED),
            ticket_id=ticket.id,
            notes=item.notes + notes(planned),
        )
        with _unless_handled_meanwhile():
            ports.store.settle(handled, item.version, new_ticket=ticket, events=[created])
        _audit(audit, caller, TICKET, ticket.id, created.id, inbox_id=item.id)
        return ticket  # its documents come from the stream (make_inbox_documents)

    return retrying(attempt, also=(ReferenceTakenError,))


def _request(item: InboxItem, body: dict[str, Any]) -> TicketRequest:
    subject = body.get("subject") or item.subject or _first_line(item.text) or "Inbound message"
    return TicketRequest(
        channel=item.channel.value,
        kind=body["kind"],
        category=body["category"],
        subject=subject[:200],
        description=item.text[:5000],
        contact=_contact(item),
        customer_id=body["customer_id"],
    )


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", line)[:80]


def _contact(item: InboxItem) -> dict[str, str] | None:
    if item.channel is Channel.EMAIL and "@" in item.sender:
        return {"email": item.sender, "preferred": "email"}
    if item.channel is Channel.SMS and item.sender.startswith("+"):
        return {"phone": item.sender, "preferred": "sms"}
    return None


def link(ports: InboxPorts, caller: Caller, item_id: str, ticket_id: str) -> InboxItem:
    """Add the message to a ticket as its customer's comment: staff vouch for the
    sender, so the audit log records the staff member who did it."""
    tickets, audit = _ports(ports)

    def attempt() -> InboxItem:
        item = _actionable(ports, caller, item_id)
        ticket = _linkable(tickets, caller, ticket_id)
        _still_open(item)
        now = tickets.clock()
        changed, events = add_comment(
            ticket,
            item.text or "(no text)",
            False,
            _owner(ticket),
            now=now,
            new_event_id=tickets.ids.event_id,
        )
        changed = tickets.track(ticket, changed, now)
        planned = _plan(ports, item, ticket)
        data = dict(events[0].data, channel=item.channel.value, inbox_id=item.id)
        if planned:
            data["attachments"] = as_metadata(planned)
        events[0] = replace(events[0], data=data)
        handled = replace(
            _handled(item, caller, tickets, InboxStatus.LINKED),
            ticket_id=ticket.id,
            notes=item.notes + notes(planned),
        )
        # A comment that changes nothing else still checks the ticket's version.
        change = TicketChange(changed if changed is not None else ticket, ticket.version)
        with _unless_handled_meanwhile():
            ports.store.settle(handled, item.version, change=change, events=events)
        _audit(audit, caller, LINK, ticket.id, events[0].id, inbox_id=item.id)
        return handled  # its documents come from the stream (make_inbox_documents)

    return retrying(attempt, also=(VersionConflictError,))


def _plan(ports: InboxPorts, item: InboxItem, ticket: Ticket | None) -> list[Planned]:
    """Which attachments become documents: staff vouch for the sender by opening or
    linking, so they follow the text (SPEC 12), within the ticket's 20 documents. The
    stored message they come from is read now, before anything is written: S3 out of
    reach is a 503 with nothing half-done; the message gone (the bucket's lifecycle)
    leaves them metadata. The documents themselves are made by the stream."""
    if not item.attachments:
        return []
    if ports.documents is not None and ports.mail is not None and item.source:
        held = len(ports.documents.documents.for_ticket(ticket.id)) if ticket is not None else 0
        planned = plan(item.attachments, item.source, ticket, held)
        if not any(one.document_id for one in planned):
            return planned
        if ports.mail.read(ports.mail_bucket or "", item.source) is not None:
            return planned
        logger.warning("inbox attachments gone", extra={"inbox_id": item.id})
    return [replace(one, document_id=None) for one in plan(item.attachments, "", None, 0)]


def make_inbox_documents(ports: InboxPorts, event: Event) -> int:
    """The stream's reaction to a ticket opened from, or a comment linked from, an inbox
    item: the documents its event names (by id), made from the stored message. At least
    once and idempotent: a document made already is not made again (one whose bytes a
    stopped attempt did not store gets them); S3 or DynamoDB out of reach fails the
    record, and the stream retries it. Returns how many documents were made or completed.

    Made as the staff member who opened the ticket, or, for a link, as the ticket's owner
    (the comment is recorded as theirs; the staff member who vouched is in the audit log)."""
    inbox_id, planned = _announced(event)
    if not planned or ports.documents is None or ports.mail is None:
        return 0
    documents = ports.documents
    ticket = documents.tickets.get(event.ticket_id)
    if ticket is None or is_erased(ticket):
        return 0  # the erasure deleted the stored message and what was made of it
    held = {document.id: document for document in documents.documents.for_ticket(ticket.id)}
    missing = [one for one in planned if _still_to_make(held.get(str(one.document_id)))]
    item = ports.store.get(inbox_id) if missing else None
    if item is None or not item.source:
        return 0
    stored = ports.mail.read(ports.mail_bucket or "", item.source)
    if stored is None:  # the bucket's lifecycle deleted it meanwhile: metadata only
        logger.warning("inbox attachments gone", extra={"inbox_id": item.id})
        return 0
    maker = event.actor if event.actor.role in WORKING_ROLES else _owner(ticket)
    made = make_documents(documents, maker, ticket, missing, payloads(stored.raw))
    logger.info("inbox attachments", extra={"ticket_id": ticket.id, "documents": made})
    return made


def _announced(event: Event) -> tuple[str, list[Planned]]:
    """The inbox item an event names, and the documents it names: its attachments that
    have an id (none for an event from no inbox item)."""
    origin = event.payload_as(TicketCreated) or event.payload_as(CommentAdded)
    if origin is None or not origin.inbox_id or not isinstance(origin.attachments, list):
        return "", []
    return str(origin.inbox_id), [
        Planned(
            filename=str(entry.get("filename", "")),
            content_type=str(entry.get("content_type", "")),
            size=int(entry.get("size", 0)),
            index=index,
            document_id=str(entry["document_id"]),
        )
        for index, entry in enumerate(origin.attachments)
        if isinstance(entry, dict) and entry.get("document_id")
    ]


def _still_to_make(document: Document | None) -> bool:
    return document is None or document.status is DocumentStatus.PENDING_UPLOAD


def _owner(ticket: Ticket) -> Caller:
    return Caller(role=Role.CUSTOMER, id=ticket.customer_id)


def _linkable(tickets: TicketPorts, caller: Caller, ticket_id: str) -> Ticket:
    try:
        return get_ticket(tickets, caller, ticket_id)
    except NotFoundError:
        raise ValidationError([FieldError("ticket_id", "names no ticket")]) from None


def discard(ports: InboxPorts, caller: Caller, item_id: str, reason: str) -> InboxItem:
    tickets, audit = _ports(ports)
    item = _actionable(ports, caller, item_id)
    _still_open(item)
    handled = replace(_handled(item, caller, tickets, InboxStatus.DISCARDED), discard_reason=reason)
    with _unless_handled_meanwhile():
        ports.store.settle(handled, item.version)
    _audit(audit, caller, DISCARD, None, f"{item.id}-discard", inbox_id=item.id)
    return handled


@contextmanager
def _unless_handled_meanwhile() -> Iterator[None]:
    """The handled item's write: 409 when the message was handled since it was read."""
    try:
        yield
    except InboxItemChangedError:
        raise ConflictError("The message was handled meanwhile") from None


def _audit(
    audit: AuditPorts,
    caller: Caller,
    action: str,
    ticket_id: str | None,
    entry_id: str,
    *,
    inbox_id: str,
) -> None:
    now = audit.clock()
    entry = AuditEntry(
        f"{entry_id}-{action}", now, caller, action, ticket_id=ticket_id, inbox_id=inbox_id
    )
    audit.log.record(entry, retention_expiry(now, audit.retention))
