"""The follow-up survey (SPEC section 8): codes, states, who gets one, what an answer does.

Pure: the Step Functions workflow and the table live in adapters; the use cases
in ``chalicelib.service.surveys`` join them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import msgspec

from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.events import (
    Event,
    StatusChanged,
    SurveyInvited,
    SurveyReminded,
    SurveyRound,
)
from chalicelib.domain.identity import WORKING_ROLES
from chalicelib.domain.statuses import Status

COOLDOWN = timedelta(days=30)  # no second invitation within 30 days of an answer
LOW_SCORE = 2  # a score at or below this opens a service-recovery ticket
RECOVERY_QUEUE = "service-recovery"
MAX_COMMENT = 1000
CODE_BYTES = 16  # 128 bits
_CODE = re.compile(r"[A-Za-z0-9_-]{22}")


class SurveyState(StrEnum):
    PENDING = "pending"  # created, waiting out the delay
    INVITED = "invited"  # the workflow is waiting for the answer (first window)
    REMINDED = "reminded"  # the reminder went out (second window)
    ANSWERED = "answered"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the ticket was reopened: answers like an expired one


OPEN_STATES = frozenset({SurveyState.INVITED, SurveyState.REMINDED})
# The round each waiting state stands for: its code and its message.
ROUNDS = {SurveyState.INVITED: 1, SurveyState.REMINDED: 2}
ROUND_EVENTS: dict[int, type[SurveyRound]] = {1: SurveyInvited, 2: SurveyReminded}


class Survey(msgspec.Struct, frozen=True):
    id: str
    ticket_id: str
    customer_id: str
    resolution: int
    state: SurveyState
    locale: str
    created_at: datetime
    task_token: str | None = None
    score: int | None = None
    answered_at: datetime | None = None
    settled: bool = False  # the expiry has been recorded on the ticket
    rounds: frozenset[int] = frozenset()  # rounds whose event and code are written

    @property
    def public_status(self) -> str:
        """What the customer's page says: open, answered, or expired (withdrawn too)."""
        if self.state in OPEN_STATES:
            return "open"
        if self.state is SurveyState.ANSWERED:
            return "answered"
        return "expired"


def survey_id(ticket_id: str, resolution: int) -> str:
    """One survey per resolution; also the execution's name, so a redelivery cannot
    start a second one and ops find a ticket's surveys by its id in the console."""
    return f"{ticket_id}-r{resolution}"


def new_code() -> str:
    """A fresh code for a survey link: 128 random bits, URL-safe (22 characters).

    Random, so nothing (no key, no id) lets anyone compute another survey's code;
    the table keeps only its SHA-256. Every message gets its own code (the
    invitation, the reminder); each stays valid until the survey ends.
    """
    return secrets.token_urlsafe(CODE_BYTES)


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def well_formed_code(code: str) -> bool:
    return bool(_CODE.fullmatch(code))


def skip_reason(
    channel_skip: str | None, last_answered_at: datetime | None, now: datetime
) -> str | None:
    """Why no invitation goes out, or None: no usable channel (the customer's
    consent), or an answer to another survey in the last 30 days."""
    if channel_skip is not None:
        return channel_skip
    if last_answered_at is not None and now - last_answered_at < COOLDOWN:
        return "cooldown"
    return None


class Answer(msgspec.Struct, frozen=True):
    score: int
    comment: str | None


def parse_answer(body: Any, *, from_form: bool = False) -> Answer:
    """A checked answer; every offending field is named (nothing is recorded on error).

    JSON must carry the score as a number; the page's form sends it as text.
    """
    if not isinstance(body, dict):
        raise ValidationError([FieldError("body", "must be an object with score and comment")])
    errors = [FieldError(name, "is not a field of an answer") for name in sorted(body)]
    errors = [error for error in errors if error.path not in ("score", "comment")]
    score = _score(body.get("score"), from_form)
    if score is None:
        errors.append(FieldError("score", "must be a whole number from 1 to 5"))
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors.append(FieldError("comment", "must be text"))
    elif isinstance(comment, str) and len(comment) > MAX_COMMENT:
        errors.append(FieldError("comment", f"must be at most {MAX_COMMENT} characters"))
    if errors:
        raise ValidationError(errors)
    assert score is not None
    text = comment.strip() if isinstance(comment, str) else ""
    return Answer(score=score, comment=text or None)


def _score(value: Any, from_form: bool) -> int | None:
    if isinstance(value, bool):
        return None
    if from_form and isinstance(value, str) and re.fullmatch(r"[1-5]", value.strip()):
        value = int(value)
    if isinstance(value, int) and 1 <= value <= 5:
        return value
    return None


def needs_recovery(score: int) -> bool:
    return score <= LOW_SCORE


_RECOVERY_SUBJECTS = {
    "zh-CN": "服务回访跟进：{reference}（满意度评分 {score}）",
    "en-US": "Service recovery: {reference} (survey score {score})",
}


def recovery_subject(reference: str, score: int, locale: str) -> str:
    """The follow-up ticket's subject, in the customer's language (they see it too)."""
    template = _RECOVERY_SUBJECTS.get(locale, _RECOVERY_SUBJECTS["zh-CN"])
    return template.format(reference=reference, score=score)


def resolver_of(events: Iterable[Event], resolution: int) -> str:
    """Who resolved the ticket the `resolution`-th time (a survey asks about that one
    resolution): the staff actor of that resolution's status change, whoever holds the
    ticket now (a supervisor resolving an agent's ticket, an escalated ticket resolved
    unassigned). "" when the timeline has no such change."""
    for event in events:
        moved = event.payload_as(StatusChanged)
        if (
            moved is not None
            and moved.to_status == Status.RESOLVED
            and moved.resolution_count == resolution
            and event.actor.role in WORKING_ROLES
        ):
            return event.actor.id
    return ""
