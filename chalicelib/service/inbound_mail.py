"""Email in and the threading of email out (SPEC section 12).

Out: every desk email carries `Reply-To: reply+<token>@<inbound domain>` and, when the
customer wrote to us on the ticket, `In-Reply-To`/`References` naming their last mail;
the SES message id of what was sent is kept against the ticket.

In: a stored message becomes the customer's comment only when it names one ticket (a
valid reply token, or In-Reply-To/References naming a desk email), its `From` is that
ticket's contact email and SES's verdicts pass. Everything else goes to the triage inbox
with the first reason that applies. A redelivered message changes nothing twice: the
comment is written with a receipt for the stored message, a triage item's id is derived
from it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import msgspec
from msgspec.structs import replace

from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbox import (
    Channel,
    InboxAttachment,
    InboxItem,
    InboxStatus,
    Outcome,
    TriageReason,
    inbox_id_for,
)
from chalicelib.domain.lifecycle import add_comment
from chalicelib.domain.mail import (
    MAX_MAIL_BYTES,
    InboundMail,
    MailThread,
    parse_mail,
    payloads,
    reply_address,
    ticket_of_token,
    token_in,
)
from chalicelib.domain.sla import start_clocks
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.logs import logger
from chalicelib.service.documents import DocumentPorts
from chalicelib.service.inbox import InboxPorts, triage
from chalicelib.service.mail_documents import Planned, as_metadata, make_documents, plan
from chalicelib.service.ports import (
    MailSource,
    MailThreads,
    ReferenceTakenError,
    ReplyKeys,
    StoredMail,
    VersionConflictError,
)
from chalicelib.service.retries import retrying
from chalicelib.service.tickets import TicketPorts, open_with_new_ids

_SUBJECT_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NEW_TICKET_KIND = {"appointment": "consultation"}  # a reply about a visit is a question


class ReplyThreading(msgspec.Struct, frozen=True):
    """What email out needs to thread: where replies go, and what was sent."""

    threads: MailThreads
    keys: ReplyKeys
    domain: str


def outgoing_thread(threading: ReplyThreading, ticket_id: str) -> MailThread:
    """The headers of a desk email about this ticket."""
    key = threading.keys.signing_keys()[0]
    reply_to = reply_address(key, ticket_id, threading.domain)
    last = threading.threads.thread(ticket_id)
    if last is None:
        return MailThread(reply_to=reply_to)
    message_id, references = last
    return MailThread(
        reply_to=reply_to,
        in_reply_to=f"<{message_id}>",
        references=tuple(f"<{reference}>" for reference in references),
    )


def remember_sent(
    threading: ReplyThreading, ticket_id: str, message_id: str, now: datetime
) -> None:
    threading.threads.remember_sent(message_id, ticket_id, now)


class InboundPorts(msgspec.Struct, frozen=True):
    tickets: TicketPorts
    threads: MailThreads
    keys: ReplyKeys
    mail: MailSource
    inbox: InboxPorts
    domain: str
    documents: DocumentPorts | None = None  # attachments become documents (SPEC 12)


def receive_stored(ports: InboundPorts, bucket: str, key: str) -> Outcome:
    """Handle one message SES stored in the inbound bucket (idempotent by its key)."""
    stored = ports.mail.read(bucket, key)
    if stored is None:
        return Outcome.GONE
    mail = parse_mail(stored.raw, oversize=stored.size > MAX_MAIL_BYTES)
    return receive(ports, mail, stored)


def receive(ports: InboundPorts, mail: InboundMail, stored: StoredMail) -> Outcome:
    """Comment, new ticket or triage: the first rule of SPEC 12 that applies."""
    if not mail.verdicts_pass:
        return _triage(ports, mail, stored, TriageReason.FAILED_VERDICT)
    ticket = _referenced_ticket(ports, mail)
    if ticket is not None:
        if not _from_contact(mail, ticket):
            return _triage(ports, mail, stored, TriageReason.SENDER_MISMATCH)
        if mail.oversize:
            # Over 10 MB: staff look first (SPEC 12). No reason of the SPEC's says "too
            # large"; the item's note does, and `no_reference` keeps it with the unmatched.
            return _triage(ports, mail, stored, TriageReason.NO_REFERENCE)
        return _from_customer(ports, mail, stored, ticket)
    known = mail.sender is not None and ports.threads.customer_of_sender(mail.sender) is not None
    reason = TriageReason.NO_REFERENCE if known else TriageReason.UNKNOWN_SENDER
    return _triage(ports, mail, stored, reason)


def _referenced_ticket(ports: InboundPorts, mail: InboundMail) -> Ticket | None:
    """The ticket a valid token or a desk email's message id names (a forged token
    names none)."""
    token = token_in(mail.recipients, ports.domain)
    ticket_id = ticket_of_token(ports.keys.signing_keys(), token) if token else None
    if ticket_id is None:
        ticket_id = ports.threads.ticket_of_sent(mail.referenced_ses_ids())
    return ports.tickets.repository.get(ticket_id) if ticket_id else None


def _from_contact(mail: InboundMail, ticket: Ticket) -> bool:
    contact = ticket.contact.email
    return bool(mail.sender and contact and mail.sender.lower() == contact.strip().lower())


def _from_customer(
    ports: InboundPorts, mail: InboundMail, stored: StoredMail, ticket: Ticket
) -> Outcome:
    taken: list[tuple[Ticket, list[Planned]]] = []

    def attempt() -> Outcome:
        taken.clear()
        current = ports.tickets.repository.get(ticket.id) or ticket
        if current.is_finished:
            planned = _plan(ports, mail, stored, None)
            written = _open_follow_up(ports, mail, current, stored.key, planned)
            outcome = Outcome.NEW_TICKET
            opened = written or _opened_before(ports, current, stored.key)
            if opened is not None:
                taken.append((opened, planned))
        else:
            planned = _plan(ports, mail, stored, current)
            # A redelivery finds the comment written: its documents are made again, by
            # their ids, in case the first delivery stopped before them.
            taken.append((current, planned))
            written = current if _comment(ports, mail, current, stored.key, planned) else None
            outcome = Outcome.COMMENTED
        if written is None:
            return Outcome.DUPLICATE
        if mail.message_id:
            ports.threads.remember_received(current.id, mail.message_id, mail.references)
        logger.info("inbound email taken", extra={"ticket_id": current.id, "outcome": outcome})
        return outcome

    outcome = retrying(attempt, also=(VersionConflictError, ReferenceTakenError))
    for target, planned in taken:
        _attach(ports, stored, target, planned)
    return outcome


def _plan(
    ports: InboundPorts, mail: InboundMail, stored: StoredMail, ticket: Ticket | None
) -> list[Planned]:
    """Which attachments become documents (none without the document ports)."""
    if ports.documents is None:  # metadata only
        return [replace(one, document_id=None) for one in plan(mail.attachments, "", None, 0)]
    held = len(ports.documents.documents.for_ticket(ticket.id)) if ticket is not None else 0
    return plan(mail.attachments, stored.key, ticket, held)


def _attach(
    ports: InboundPorts, stored: StoredMail, ticket: Ticket, planned: list[Planned]
) -> None:
    if ports.documents is None or not any(one.document_id for one in planned):
        return
    current = ports.tickets.repository.get(ticket.id) or ticket
    made = make_documents(
        ports.documents, _customer(current), current, planned, payloads(stored.raw)
    )
    logger.info("inbound email attachments", extra={"ticket_id": current.id, "documents": made})


def receipt_for(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _customer(ticket: Ticket) -> Caller:
    return Caller(role=Role.CUSTOMER, id=ticket.customer_id)


def _comment(
    ports: InboundPorts, mail: InboundMail, ticket: Ticket, source: str, planned: list[Planned]
) -> bool:
    """The customer's comment, with every effect one has (waiting -> in progress)."""
    tickets = ports.tickets
    now = tickets.clock()
    changed, events = add_comment(
        ticket, _body(mail), False, _customer(ticket), now=now, new_event_id=tickets.ids.event_id
    )
    changed = tickets.track(ticket, changed, now)
    events[0] = _by_email(events[0], planned, source)
    return ports.threads.receive(
        receipt_for(source),
        ticket_id=ticket.id,
        expected_version=ticket.version,
        changed=changed,
        events=events,
    )


def _open_follow_up(
    ports: InboundPorts, mail: InboundMail, parent: Ticket, source: str, planned: list[Planned]
) -> Ticket | None:
    """A reply about a closed or cancelled ticket opens a new one pointing at it."""
    tickets = ports.tickets
    now = tickets.clock()
    request = TicketRequest(
        channel="email",
        kind=_NEW_TICKET_KIND.get(parent.kind, parent.kind),
        category=parent.category,
        subject=_subject(mail, parent),
        description=_body(mail),
        contact={"email": str(mail.sender), "preferred": "email", "locale": parent.contact.locale},
    )
    ticket, created = open_with_new_ids(request, _customer(parent), tickets.ids, now)
    ticket = replace(ticket, parent_id=parent.id)
    if tickets.sla is not None:
        ticket = replace(ticket, sla=start_clocks(ticket, tickets.sla))
    created = _by_email(created, planned, source)
    written = ports.threads.receive_new(receipt_for(source), ticket=ticket, events=[created])
    return ticket if written else None


def _opened_before(ports: InboundPorts, parent: Ticket, source: str) -> Ticket | None:
    """The ticket an earlier delivery of this stored message opened about `parent` (a
    redelivery): its documents are made again, by their ids, in case that delivery
    stopped before them."""
    taken_by = ports.threads.taken_by(receipt_for(source))
    if taken_by is None or taken_by == parent.id:
        return None  # not taken, or commented on the parent before it was finished
    return ports.tickets.repository.get(taken_by)


def _by_email(event: Event, planned: list[Planned], source: str) -> Event:
    # The stored raw mail's key: erasure deletes it with the ticket's other records.
    data = dict(event.data, channel=Channel.EMAIL.value, mail_source=source)
    if planned:
        # PDF/JPEG/PNG up to 10 MB become documents (made right after this write, their
        # ids named here); anything else stays metadata: the bytes stay in the inbound
        # bucket until its lifecycle rule deletes them.
        data["attachments"] = as_metadata(planned)
    return replace(event, data=data)


def _body(mail: InboundMail) -> str:
    return mail.text or "(no new text)"


def _subject(mail: InboundMail, parent: Ticket) -> str:
    subject = _SUBJECT_UNSAFE.sub(" ", mail.subject).strip()[:200]
    return subject or parent.subject


def _triage(
    ports: InboundPorts, mail: InboundMail, stored: StoredMail, reason: TriageReason
) -> Outcome:
    item = InboxItem(
        id=inbox_id_for(stored.key),
        channel=Channel.EMAIL,
        sender=mail.sender or "",
        subject=_SUBJECT_UNSAFE.sub(" ", mail.subject).strip()[:200],
        text=mail.text,
        received_at=ports.tickets.clock(),
        status=InboxStatus.OPEN,
        reason=reason,
        attachments=tuple(
            InboxAttachment(a.filename, a.content_type, a.size, stored.key)
            for a in mail.attachments
        ),
        notes=mail.notes,
        message_id=mail.message_id,
        source=stored.key,
    )
    if not triage(ports.inbox, item):
        return Outcome.DUPLICATE
    logger.info("inbound email triaged", extra={"inbox_id": item.id, "reason": reason.value})
    return Outcome.TRIAGED
