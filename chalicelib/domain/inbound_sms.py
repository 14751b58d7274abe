"""Inbound SMS (SPEC section 12): what a customer's text means, read from AWS's payload.

AWS End User Messaging two-way messaging publishes each inbound text to SNS as a
JSON object (`originationNumber`, `destinationNumber`, `messageKeyword`,
`messageBody`, `inboundMessageId`, `previousPublishedMessageId`). This module reads
that object and decides what the text asks for; the use case acts on it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.ids import CROCKFORD

# Opt-out words (SPEC 12), compared after NFKC and case folding: full-width and
# lower-case forms count too.
STOP_KEYWORDS = frozenset({"stop", "td", "t", "退订"})
SURVEY_SCORES = frozenset({"1", "2", "3", "4", "5"})
MAX_BODY = 1600  # ten concatenated segments: more is no customer's reply
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What else may send a text: a short code or a sender id (a carrier's "10086", a bank's
# "95588", "BANKCN"). No customer the desk texted; the text goes to triage.
_SENDER_ID = re.compile(r"\+?[0-9A-Za-z]{3,20}")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class SmsIntent(StrEnum):
    OPT_OUT = "opt_out"  # STOP, TD, T, 退订
    SURVEY_SCORE = "survey_score"  # exactly one digit 1..5
    TEXT = "text"  # anything else with content
    EMPTY = "empty"  # nothing but white space


class MalformedSmsError(ValidationError):
    """The queue message is not AWS's inbound SMS object (a poison message)."""


class InboundSms(msgspec.Struct, frozen=True):
    message_id: str  # inboundMessageId: the idempotency key
    sender: str  # originationNumber: E.164, or a short code / sender id (from_phone False)
    recipient: str  # destinationNumber: the desk's number
    body: str
    received_at: datetime
    keyword: str = ""
    previous_message_id: str = ""  # previousPublishedMessageId, when AWS knows it

    @property
    def from_phone(self) -> bool:
        """Sent from a phone number (E.164): the only senders the desk may have texted."""
        return _E164.fullmatch(self.sender) is not None


def normalized(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def intent_of(text: str) -> SmsIntent:
    """What a text asks for. "5 stars", "05" or "6" are text, not a score."""
    plain = normalized(text)
    if not plain:
        return SmsIntent.EMPTY
    if plain.casefold() in STOP_KEYWORDS:
        return SmsIntent.OPT_OUT
    if plain in SURVEY_SCORES:
        return SmsIntent.SURVEY_SCORE
    return SmsIntent.TEXT


def survey_score(text: str) -> int | None:
    """The score a text gives (1..5), or None when it is no score."""
    return int(normalized(text)) if intent_of(text) is SmsIntent.SURVEY_SCORE else None


def phone_key(phone: str) -> str:
    """The number as an index key: its SHA-256, so no readable number is a key."""
    return hashlib.sha256(phone.strip().encode()).hexdigest()


def parse_inbound(body: str, received_at: datetime) -> InboundSms:
    """AWS's inbound SMS object, raw or inside an SNS envelope (raw delivery off)."""
    payload = _json_object(body)
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        payload = _json_object(payload["Message"])
    sender = payload.get("originationNumber")
    message_id = payload.get("inboundMessageId")
    text = payload.get("messageBody", "")
    errors = []
    if not isinstance(sender, str) or not _SENDER_ID.fullmatch(sender):
        errors.append(FieldError("originationNumber", "must be an E.164 number or a sender id"))
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        errors.append(FieldError("inboundMessageId", "must be a message id"))
    if not isinstance(text, str):
        errors.append(FieldError("messageBody", "must be text"))
    if errors:
        raise MalformedSmsError(errors)
    return InboundSms(
        message_id=str(message_id),
        sender=str(sender),
        recipient=_text(payload.get("destinationNumber")),
        body=str(text)[:MAX_BODY],
        received_at=received_at,
        keyword=_text(payload.get("messageKeyword")),
        previous_message_id=_text(payload.get("previousPublishedMessageId")),
    )


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        raise MalformedSmsError([FieldError("body", "must be a JSON object")]) from None
    if not isinstance(value, dict):
        raise MalformedSmsError([FieldError("body", "must be a JSON object")])
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def derived_event_id(at: datetime, *parts: str) -> str:
    """An event id (ULID form, so it sorts by time on the timeline) that the same
    inbound message always gives again: a redelivery writes the same entry, once."""
    millis = int(at.timestamp() * 1000) & (2**48 - 1)
    digest = int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:10], "big")
    number = (millis << 80) | digest
    return "E-" + "".join(CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))
