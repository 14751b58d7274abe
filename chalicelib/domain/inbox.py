"""The triage inbox (SPEC section 12): inbound messages no ticket took by itself. Pure.

An item is `open` until staff open a ticket from it (`ticketed`), add it to a ticket
(`linked`) or throw it away (`discarded`); each of those happens once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from chalicelib.domain.contact import mask_email, mask_phone
from chalicelib.domain.fields import shared_fields
from chalicelib.domain.mail import Attachment
from chalicelib.domain.ticket import isoformat


class InboxStatus(StrEnum):
    OPEN = "open"
    TICKETED = "ticketed"
    LINKED = "linked"
    DISCARDED = "discarded"


class TriageReason(StrEnum):
    """Why a message waits for a person, the first that applies (SPEC 12)."""

    FAILED_VERDICT = "failed_verdict"
    SENDER_MISMATCH = "sender_mismatch"
    UNKNOWN_SENDER = "unknown_sender"
    NO_REFERENCE = "no_reference"
    UNMATCHED_SMS = "unmatched_sms"
    # A text about a ticket from a number more than one customer uses: whose reply it is
    # cannot be told (contact numbers are not verified), so staff read it.
    AMBIGUOUS_SENDER = "ambiguous_sender"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Outcome(StrEnum):
    """What became of an inbound email or text (logged; a text's is kept with its handled
    mark)."""

    COMMENTED = "commented"
    NEW_TICKET = "new_ticket"  # an email replying about a closed or cancelled ticket
    OPTED_OUT = "opted_out"  # a text asking for no more SMS
    SURVEY_ANSWERED = "survey_answered"  # a text with a score
    TRIAGED = "triaged"
    DUPLICATE = "duplicate"  # a redelivery: already handled
    GONE = "gone"  # the stored email no longer exists


INBOX_STATUSES = tuple(InboxStatus)
TRIAGE_REASONS = tuple(TriageReason)


class InboxAttachment(Attachment, frozen=True):
    """An attachment kept with the item as metadata; `location` names where its bytes
    are (the stored message in the inbound bucket), so a document can be made from it."""

    location: str | None = None


class InboxItem(msgspec.Struct, frozen=True):
    id: str  # M-...
    channel: Channel
    sender: str  # the full address or number: shown masked only
    subject: str | None  # email only
    text: str
    received_at: datetime
    status: InboxStatus
    reason: TriageReason
    attachments: tuple[InboxAttachment, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. oversize_attachments_dropped, html_converted
    message_id: str | None = None  # the sender's Message-ID (email), to answer in thread
    source: str | None = None  # where the raw message is (the inbound bucket's key)
    ticket_id: str | None = None  # set once ticketed or linked
    handled_by: str | None = None
    handled_at: datetime | None = None
    discard_reason: str | None = None
    version: int = 1


def inbox_id_for(source: str) -> str:
    """The same id for the same stored message: a redelivered notification finds the
    item it already made instead of making a second one."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:26].upper()
    return f"M-{digest}"


def masked_sender(item: InboxItem) -> str:
    if item.channel is Channel.SMS and item.sender.startswith("+"):
        return mask_phone(item.sender)
    if "@" in item.sender:
        return mask_email(item.sender)
    return "***"


def item_summary(item: InboxItem) -> dict[str, Any]:
    """An item as the list shows it (`from` masked like contacts)."""
    view: dict[str, Any] = {
        "id": item.id,
        "channel": item.channel.value,
        "from": masked_sender(item),
        "received_at": isoformat(item.received_at),
        "status": item.status.value,
        "reason": item.reason.value,
    }
    if item.channel is Channel.EMAIL:
        view["subject"] = item.subject or ""
    if item.ticket_id is not None:
        view["ticket_id"] = item.ticket_id
    return view


def item_view(item: InboxItem) -> dict[str, Any]:
    """One item in full: the new text and its attachments' metadata."""
    view = item_summary(item)
    view["text"] = item.text
    view["attachments"] = [shared_fields(a, Attachment) for a in item.attachments]
    view["notes"] = list(item.notes)
    return view
