"""Erasure on request: anonymize a customer's records, keep the statistics (SPEC 10)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime

import msgspec

from chalicelib.domain.audit import ERASE_CUSTOMER, AuditEntry
from chalicelib.domain.errors import ConflictError, ForbiddenError, NotFoundError
from chalicelib.domain.events import CommentAdded, Event, SurveyEvent, TicketCreated
from chalicelib.domain.identity import Caller, Role, is_customer_id
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.privacy import (
    anonymization_event,
    anonymized_event,
    anonymized_ticket,
    erasable,
    is_anonymized,
    retention_expiry,
)
from chalicelib.domain.surveys import survey_id
from chalicelib.domain.ticket import Ticket
from chalicelib.service.audit import AuditPorts
from chalicelib.service.ports import (
    ListQuery,
    NotificationStore,
    PrivacyStore,
    SmsIndex,
    StartKey,
    SurveyStore,
    TicketRepository,
    VersionConflictError,
)
from chalicelib.service.retries import ERASURE_ATTEMPTS, retrying

_PAGE = 100
_MAX_ID = 128


class InboxErasure(ABC):
    """Email and SMS in (SPEC 12) keep records outside the ticket's partition."""

    @abstractmethod
    def forget_item(self, item_id: str) -> str | None:
        """Blank a triage inbox item's sender, subject, text, attachment names and
        Message-ID; returns the key of its stored raw message, if any (None: no item)."""

    @abstractmethod
    def forget_thread(self, ticket_id: str) -> None:
        """Delete the customer's last Message-ID and References kept for the ticket."""


class RawMailStore(ABC):
    """The inbound bucket, where SES stores each received message whole."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the stored message (gone already: fine)."""


class PrivacyPorts(msgspec.Struct, frozen=True):
    tickets: TicketRepository
    store: PrivacyStore
    notifications: NotificationStore
    audit: AuditPorts
    # Deletes a ticket's document objects and blanks their file names (SPEC 11).
    forget_documents: Callable[[Ticket], None] | None = None
    sms_index: SmsIndex | None = None  # the SMS sent, by number (SPEC 12)
    inbox: InboxErasure | None = None  # inbox items linked or ticketed, mail threads
    raw_mail: RawMailStore | None = None  # the stored raw messages (SPEC 12)
    survey_store: SurveyStore | None = None  # the customer's survey cooldown


# Per-ticket steps run before the ticket and its events are rewritten, with the ticket
# and its events (survey ids are in the survey.* events' data). Records kept outside
# the ticket's partition plug in here, e.g. blanking a survey record's comment.
TicketErasureStep = Callable[[Ticket, list[Event], PrivacyPorts], None]


def forget_survey_comments(ticket: Ticket, events: list[Event], ports: PrivacyPorts) -> None:
    """Survey records live outside the ticket's partition: blank their comments too, and
    end a survey still waiting, so its link takes no answer after the erasure. One survey
    per resolution: a pending one has no event naming it yet."""
    about_surveys = (event.payload_as(SurveyEvent) for event in events)
    surveyed = {about.survey_id for about in about_surveys if about is not None and about.survey_id}
    surveyed.update(survey_id(ticket.id, n) for n in range(1, ticket.resolutions + 1))
    for surveyed_id in sorted(surveyed):
        ports.store.forget_survey_comment(surveyed_id)


def forget_documents(ticket: Ticket, events: list[Event], ports: PrivacyPorts) -> None:
    """Documents' bytes live in the bucket and their file names on the table."""
    if ports.forget_documents is not None:
        ports.forget_documents(ticket)


def forget_sms_links(ticket: Ticket, events: list[Event], ports: PrivacyPorts) -> None:
    """The SMS index and the phone lookup link the ticket's number (hashed) to the
    customer: drop both."""
    if not ticket.contact.phone:
        return
    ports.tickets.forget_phone(phone_key(ticket.contact.phone), ticket.id)
    if ports.sms_index is not None:
        ports.sms_index.forget(phone_key(ticket.contact.phone), ticket.customer_id)


def forget_inbound_mail(ticket: Ticket, events: list[Event], ports: PrivacyPorts) -> None:
    """Email and SMS in: the inbox items staff linked to the ticket or opened it from
    (their events name them), the stored raw messages of those and of the verified email
    replies, and the Message-IDs kept to thread the desk's answers."""
    if ports.inbox is None:
        return
    keys: set[str] = set()
    for event in events:
        origin = event.payload_as(TicketCreated) or event.payload_as(CommentAdded)
        if origin is None:
            continue
        if origin.inbox_id:
            key = ports.inbox.forget_item(origin.inbox_id)
            keys.update([key] if key else [])
        if origin.mail_source:
            keys.add(origin.mail_source)
    ports.inbox.forget_thread(ticket.id)
    if ports.raw_mail is not None:
        for key in sorted(keys):
            if not key.startswith(SMS_SOURCE):  # an SMS's item keeps no stored message
                ports.raw_mail.delete(key)


SMS_SOURCE = "sms:"

TICKET_ERASURE_STEPS: tuple[TicketErasureStep, ...] = (
    forget_survey_comments,
    forget_sms_links,
    forget_documents,
    forget_inbound_mail,
)


class Erasure(msgspec.Struct, frozen=True):
    customer_id: str
    tickets: int  # the customer's tickets, all anonymized now
    anonymized_now: int  # by this request (0 when repeated)
    preferences_deleted: bool
    at: datetime


def erase_customer(ports: PrivacyPorts, caller: Caller, customer_id: str) -> Erasure:
    """Anonymize every ticket of the customer (all closed or cancelled, else 409), their
    events and stored responses, delete their preferences; counters stay. Repeatable."""
    if not is_customer_id(customer_id) or (caller.is_customer and caller.id != customer_id):
        raise NotFoundError("No such customer")  # a malformed id names no one: not echoed
    if caller.role is not Role.AUDITOR:
        raise ForbiddenError(f"The {caller.role.value} role may not request erasure")
    tickets = _all_tickets(ports.tickets, customer_id)
    if not tickets and ports.notifications.preferences(customer_id) is None:
        raise NotFoundError(f"No customer {customer_id}")
    blocking = sorted(ticket.id for ticket in tickets if not erasable(ticket))
    if blocking:
        raise ConflictError(
            f"The customer has {len(blocking)} open or resolved ticket(s): "
            + ", ".join(blocking[:10])
        )
    anonymized = sum(1 for ticket in tickets if _erase_ticket(ports, caller, ticket.id))
    _no_ticket_opened_meanwhile(ports.tickets, customer_id, {ticket.id for ticket in tickets})
    deleted = ports.store.forget_preferences(customer_id)
    if ports.survey_store is not None:
        ports.survey_store.forget_cooldown(customer_id)  # when they last answered a survey
    now = ports.audit.clock()
    entry = AuditEntry(
        ports.audit.ids.event_id(), now, caller, ERASE_CUSTOMER, customer_id=customer_id
    )
    ports.audit.log.record(entry, retention_expiry(now, ports.audit.retention))
    return Erasure(customer_id, len(tickets), anonymized, deleted, now)


def _no_ticket_opened_meanwhile(
    repository: TicketRepository, customer_id: str, erased: set[str]
) -> None:
    """A ticket the customer opened while the erasure ran holds their data and is open:
    409 as before (the preferences its messages need stay); run again once it is finished."""
    opened = sorted(t.id for t in _all_tickets(repository, customer_id) if t.id not in erased)
    if opened:
        raise ConflictError(
            f"The customer opened {len(opened)} ticket(s) during the erasure: "
            + ", ".join(opened[:10])
        )


def _all_tickets(repository: TicketRepository, customer_id: str) -> list[Ticket]:
    """Every ticket of the customer: Query on the by_customer index, page by page."""
    found: list[Ticket] = []
    start_key: StartKey | None = None
    while True:
        page = repository.query_tickets(ListQuery("customer", customer_id, None, _PAGE, start_key))
        found.extend(page.items)
        if page.next_key is None:
            return found
        start_key = page.next_key


def _erase_ticket(ports: PrivacyPorts, caller: Caller, ticket_id: str) -> bool:
    def attempt() -> Ticket | None:
        ticket = ports.tickets.get(ticket_id)
        if ticket is None:
            return None
        events = ports.tickets.events(ticket_id)
        if is_anonymized(events):
            return None
        for step in TICKET_ERASURE_STEPS:
            step(ticket, events, ports)
        rewritten = [changed for event in events if (changed := anonymized_event(event))]
        now = ports.audit.clock()
        added = [anonymization_event(ticket, ports.audit.ids.event_id(), caller, now)]
        # A late notification record or the sweep may write first: read again.
        ports.store.anonymize_ticket(
            ticket.version, anonymized_ticket(ticket, now), rewritten, added
        )
        return ticket

    erased = retrying(
        attempt, attempts=ERASURE_ATTEMPTS, also=(VersionConflictError,), busy=_changing
    )
    if erased is None:
        return False
    retrying(
        lambda: _written_meanwhile(ports, erased),
        attempts=ERASURE_ATTEMPTS,
        also=(VersionConflictError,),
        busy=_changing,
    )
    return True


def _written_meanwhile(ports: PrivacyPorts, erased: Ticket) -> None:
    """A notification settling while the erasure ran may have written its outcome (the
    masked address) and linked the number after the erasure read the ticket. Its write
    is refused once the ticket is anonymized, so one more read, after that, finds every
    such record: rewrite them, and drop the number's link again (`erased`: the ticket as
    it was, with its number). Those records are timeline-only and the ticket is
    anonymized already: nothing of it changes, so no version and no event (SPEC 1, 5);
    `ticket.anonymized` was written with the change it records."""
    forget_sms_links(erased, [], ports)
    current = ports.tickets.get(erased.id)
    late = [
        changed for event in ports.tickets.events(erased.id) if (changed := anonymized_event(event))
    ]
    if current is None or not late:
        return
    ports.store.anonymize_records(current.id, current.version, late)


def _changing() -> ConflictError:
    return ConflictError("The customer's tickets are changing; retry the erasure")
