"""Complaints under the regulator's rules (SPEC section 13): codes, the deadline ladder
with four eyes on the second extension, and the suspended clock.

Pure: the code file's text is passed in; nothing here reads files or the time. The
ticket's `complaint` object is a Struct stored on the ticket; `review_of` and
`reviewed_by` live on the ticket itself and are only shown inside `complaint`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec.structs import replace

from chalicelib.domain.counters import report_day
from chalicelib.domain.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    IllegalTransitionError,
)
from chalicelib.domain.events import (
    ClockResumed,
    ClockSuspended,
    ComplaintClassified,
    ExtensionRequested,
    Payload,
    SlaExtended,
    StatusChanged,
)
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.statuses import Action, Status

if TYPE_CHECKING:
    from chalicelib.domain.ticket import Ticket

COMPLAINT = "complaint"
# Receipt + 15 days; first extension: 30; second (two supervisors): 60 (SPEC 13).
LADDER = (timedelta(days=15), timedelta(days=30), timedelta(days=60))
MAX_EXTENSIONS = len(LADDER) - 1
REVIEW_WINDOW_DAYS = 30
SUSPENSION_REASONS = ("external_appraisal", "testing", "assessment")
UNCLASSIFIED = "unclassified"
CODE_FAMILIES = ("business", "cause")
LOCALES = ("zh-CN", "en-US")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# The regulator's report (domain/complaint_report.py): a conclusion's column is the days
# from receipt (the suspended time left out, as for the deadlines) up to 15, 30 or 60, or
# later; the owner's cancel is a withdrawal.
DAY_BUCKETS = ((15, "within_15_days"), (30, "within_30_days"), (60, "within_60_days"))
LATER = "later"
WITHDRAWN = "withdrawn"


class ClassificationRequiredError(ConflictError):
    """A complaint is resolved only once it has a business type and a cause."""


class FourEyesError(ForbiddenError):
    """The supervisor who asked for the second extension may not also approve it."""


class DeadlinePassedError(IllegalTransitionError):
    """The regulatory deadline has passed: stopping or extending the clock now would hide
    the breach (409 `deadline-passed`)."""


class CodeFileError(ValueError):
    """The complaint code file cannot be used; the message says where."""


class ExtensionRequest(msgspec.Struct, frozen=True):
    """A second extension asked for by one supervisor, waiting for another."""

    at: datetime
    by: str


class Conclusion(msgspec.Struct, frozen=True):
    """A complaint's first conclusion (first resolution, the owner's withdrawal or a merge)
    as the regulator's report counts it: its Asia/Shanghai day, its column and the
    classification it had then (None: unclassified). Recorded with the action and never
    changed: the report reads it whenever its reaction runs, and a later `classify` (after
    a reopening) carries day and column in its event, the report moving the count."""

    day: str
    outcome: str
    business: str | None = None
    cause: str | None = None


class Complaint(msgspec.Struct, frozen=True):
    """The regulatory facts of a complaint ticket."""

    business: str | None = None
    cause: str | None = None
    extensions: int = 0  # applied: 0-2
    extension_requested: ExtensionRequest | None = None
    suspended_at: datetime | None = None  # set while the clock is stopped
    suspended_seconds: int = 0  # every finished suspension, added up
    # A reopening restarts the clock (None: it runs from receipt).
    clock_started_at: datetime | None = None
    concluded: Conclusion | None = None  # the report's record; a reopening keeps it

    @property
    def clock_suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def classified(self) -> bool:
        return bool(self.business and self.cause)

    def suspended_until(self, now: datetime) -> int:
        """Seconds suspended so far, the running suspension included."""
        running = int((now - self.suspended_at).total_seconds()) if self.suspended_at else 0
        return self.suspended_seconds + max(0, running)


def complaint_of(ticket: Ticket) -> Complaint:
    """The ticket's complaint facts; a complaint stored before they existed reads as an
    unclassified one (once extended if the old single extension was used)."""
    if ticket.complaint is not None:
        return ticket.complaint
    return Complaint(extensions=1 if ticket.sla.extended else 0)


def regulatory_due(
    received_at: datetime, complaint: Complaint, *, review: bool = False
) -> datetime:
    """Receipt (or the reopening) + 15/30/60 days (a review: 30 days from the request) +
    every finished suspension (SPEC 13)."""
    step = LADDER[1] if review else LADDER[complaint.extensions]
    start = complaint.clock_started_at or received_at
    return start + step + timedelta(seconds=complaint.suspended_seconds)


def deadline_now(ticket: Ticket, now: datetime) -> datetime:
    """The regulatory deadline as it stands at `now`: a running suspension holds it back."""
    complaint = complaint_of(ticket)
    due = regulatory_due(ticket.received_at, complaint, review=ticket.review_of is not None)
    return due + timedelta(seconds=complaint.suspended_until(now) - complaint.suspended_seconds)


def clock_suspended(ticket: Ticket) -> bool:
    return ticket.complaint is not None and ticket.complaint.clock_suspended


def awaits_second_supervisor(ticket: Ticket) -> bool:
    """An extension request recorded and not applied yet (the API answers 202)."""
    return ticket.complaint is not None and ticket.complaint.extension_requested is not None


def complaint_view(ticket: Ticket) -> dict[str, Any]:
    complaint = complaint_of(ticket)
    request = complaint.extension_requested
    return {
        "business": complaint.business,
        "cause": complaint.cause,
        "extensions": complaint.extensions,
        "extension_requested": (
            {"at": _isoformat(request.at), "by": request.by} if request else None
        ),
        "clock_suspended": complaint.clock_suspended,
        "review_of": ticket.review_of,
        "reviewed_by": ticket.reviewed_by,
    }


def _isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def suspension_errors(params: Mapping[str, Any]) -> list[FieldError]:
    reason = params.get("reason")
    if _given(reason) and reason not in SUSPENSION_REASONS:
        return [FieldError("reason", f"must be one of {', '.join(SUSPENSION_REASONS)}")]
    return []


# --- the code file ----------------------------------------------------------------------------


def _given(value: Any) -> bool:
    """Present and not blank (a blank one is reported as required instead)."""
    return bool(str(value or "").strip())


class ComplaintCode(msgspec.Struct, frozen=True):
    code: str
    name: Mapping[str, str]


class ComplaintCodes(msgspec.Struct, frozen=True):
    """Business types and causes the bank classifies complaints by (JR/T 0169-2018)."""

    business: tuple[ComplaintCode, ...]
    cause: tuple[ComplaintCode, ...]

    def codes(self, family: str) -> frozenset[str]:
        return frozenset(entry.code for entry in getattr(self, family))

    def errors(self, params: Mapping[str, Any]) -> list[FieldError]:
        """400s naming each field whose code the file does not list."""
        return [
            FieldError(family, f"is not a known {family} code (GET /v1/complaint-codes)")
            for family in CODE_FAMILIES
            if _given(params.get(family)) and params[family] not in self.codes(family)
        ]

    def view(self) -> dict[str, list[dict[str, Any]]]:
        return {
            family: [{"code": e.code, "name": dict(e.name)} for e in getattr(self, family)]
            for family in CODE_FAMILIES
        }


def parse_codes(text: str, source: str = "complaint-codes.json") -> ComplaintCodes:
    """Codes from JSON: {"business": [{"code", "name": {"zh-CN", "en-US"}}], "cause": [...]}.
    A bad entry raises CodeFileError naming it."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise CodeFileError(f"{source}: not JSON ({error})") from error
    if not isinstance(document, dict):
        raise CodeFileError(f"{source}: expected an object")
    unknown = sorted(key for key in document if key not in CODE_FAMILIES and key[:1] != "_")
    if unknown:
        raise CodeFileError(f"{source}: unknown key {unknown[0]!r}")
    return ComplaintCodes(
        business=_family(document.get("business"), f"{source}: business"),
        cause=_family(document.get("cause"), f"{source}: cause"),
    )


def _family(entries: Any, where: str) -> tuple[ComplaintCode, ...]:
    if not isinstance(entries, list) or not entries:
        raise CodeFileError(f"{where}: expected a non-empty list")
    codes = tuple(_entry(entry, f"{where}[{index}]") for index, entry in enumerate(entries))
    seen: set[str] = set()
    for index, entry in enumerate(codes):
        if entry.code in seen:
            raise CodeFileError(f"{where}[{index}]: duplicate code {entry.code!r}")
        seen.add(entry.code)
    return codes


def _entry(entry: Any, where: str) -> ComplaintCode:
    if not isinstance(entry, dict) or set(entry) != {"code", "name"}:
        raise CodeFileError(f"{where}: expected exactly the keys code and name")
    code, name = entry["code"], entry["name"]
    if not isinstance(code, str) or not _CODE.match(code) or code == UNCLASSIFIED:
        raise CodeFileError(f"{where}: code {code!r} must be lower-case letters, digits, '-'")
    if not isinstance(name, dict) or set(name) != set(LOCALES):
        raise CodeFileError(f"{where} ({code}): name needs exactly {' and '.join(LOCALES)}")
    if not all(isinstance(text, str) and text.strip() for text in name.values()):
        raise CodeFileError(f"{where} ({code}): every name must be non-empty text")
    return ComplaintCode(code, dict(name))


# --- the actions (lifecycle.RULES names them; these are their checks and effects) -------------


def refusal(ticket: Ticket, action: str) -> str | None:
    """Why a complaint action may not run on this ticket now (a 409), or None."""
    if ticket.kind != COMPLAINT:
        return "only complaints have a regulatory clock"
    complaint = complaint_of(ticket)
    if action == Action.EXTEND and ticket.review_of is not None:
        return "a review has its own 30 days"  # domain/reviews.py
    if action == Action.EXTEND and complaint.extensions >= MAX_EXTENSIONS:
        return f"already extended {MAX_EXTENSIONS} times"
    if action == Action.SUSPEND_CLOCK and complaint.clock_suspended:
        return "the clock is already suspended"
    if action == Action.RESUME_CLOCK and not complaint.clock_suspended:
        return "the clock is running"
    return None


# Actions that would move a deadline already passed, and so hide its breach.
_HOLDING_THE_DEADLINE = frozenset({Action.SUSPEND_CLOCK, Action.EXTEND})


def check_deadline(ticket: Ticket, action: str, now: datetime) -> None:
    """A clock cannot be stopped or extended once its deadline has passed (409
    `deadline-passed`): the decision is late, and the breach stays on the record."""
    if action not in _HOLDING_THE_DEADLINE or ticket.kind != COMPLAINT:
        return
    due = deadline_now(ticket, now)
    if due <= now:
        raise DeadlinePassedError(
            action, ticket.status, f"the regulatory deadline {_isoformat(due)} has passed"
        )


def reopen_refusal(ticket: Ticket) -> str | None:
    """A complaint under review is not reopened: the review, by other staff, decides it
    now (their recusal was fixed when it opened), and its outcome is final."""
    if ticket.kind == COMPLAINT and ticket.reviewed_by is not None:
        return f"the complaint is under review ({ticket.reviewed_by})"
    return None


def check_four_eyes(ticket: Ticket, action: str, caller: Caller) -> None:
    """The second extension needs a second supervisor (403 `four-eyes`)."""
    if action != Action.EXTEND or ticket.complaint is None:
        return
    request = ticket.complaint.extension_requested
    if request is not None and request.by == caller.id:
        raise FourEyesError("You asked for this extension; another supervisor must approve it")


def classify(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    complaint = complaint_of(ticket)
    changed = replace(complaint, business=params["business"], cause=params["cause"])
    payload = ComplaintClassified(
        action=Action.CLASSIFY,
        business=params["business"],
        cause=params["cause"],
        previous_business=complaint.business,
        previous_cause=complaint.cause,
        concluded_on=complaint.concluded.day if complaint.concluded else None,
        concluded_as=complaint.concluded.outcome if complaint.concluded else None,
    )
    return replace(ticket, complaint=changed), payload


def extend(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    """First call: 30 days. Then a request, applied (60 days) by another supervisor."""
    complaint = complaint_of(ticket)
    request = complaint.extension_requested
    if complaint.extensions == 1 and request is None:
        asked = replace(complaint, extension_requested=ExtensionRequest(now, caller.id))
        payload = ExtensionRequested(action=Action.EXTEND, reason=params["reason"])
        return replace(ticket, complaint=asked), payload
    applied = replace(complaint, extensions=complaint.extensions + 1, extension_requested=None)
    due = regulatory_due(ticket.received_at, applied)
    extended = SlaExtended(
        action=Action.EXTEND,
        reason=params["reason"],
        resolution_due=due.isoformat(),
        extensions=applied.extensions,
        due_date=report_day(due),
        requested_by=request.by if request else None,
        reopened=True if complaint.clock_started_at is not None else None,
    )
    sla = replace(ticket.sla, resolution_due=due)
    return replace(ticket, complaint=applied, sla=sla), extended


def suspend_clock(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    stopped = replace(complaint_of(ticket), suspended_at=now)
    payload = ClockSuspended(
        action=Action.SUSPEND_CLOCK, reason=params["reason"], note=params.get("note") or None
    )
    return replace(ticket, complaint=stopped), payload


def resume_clock(
    ticket: Ticket, params: Mapping[str, Any], caller: Caller, now: datetime
) -> tuple[Ticket, Payload]:
    complaint = complaint_of(ticket)
    spent = complaint.suspended_until(now) - complaint.suspended_seconds
    running = _ended_suspension(complaint, now)
    due = regulatory_due(ticket.received_at, running, review=ticket.review_of is not None)
    payload = ClockResumed(
        action=Action.RESUME_CLOCK,
        suspended_seconds=spent,
        resolution_due=due.isoformat(),
        due_date=report_day(due),
    )
    sla = replace(ticket.sla, resolution_due=due)
    return replace(ticket, complaint=running, sla=sla), payload


def _ended_suspension(complaint: Complaint, now: datetime) -> Complaint:
    if complaint.suspended_at is None:
        return complaint
    return replace(complaint, suspended_seconds=complaint.suspended_until(now), suspended_at=None)


def resolved(ticket: Ticket, now: datetime) -> Ticket:
    """A complaint's resolution needs its classification and ends its clock (`ended`).
    A review too (SPEC 13): it opens classified as the complaint it reviews."""
    if ticket.kind != COMPLAINT:
        return ticket
    if not complaint_of(ticket).classified:
        raise ClassificationRequiredError(
            "Classify the complaint (business and cause) before resolving it"
        )
    return ended(ticket, now)


def ended(ticket: Ticket, now: datetime) -> Ticket:
    """A complaint resolved, withdrawn, cancelled or merged has no running clock: a
    suspension ends, moving the deadline by the time suspended as `resume_clock` would
    (the report and the summary's met/late read it), and a second extension still
    waiting for its approver lapses with the period it was asked for."""
    if ticket.kind != COMPLAINT:
        return ticket
    complaint = complaint_of(ticket)
    if complaint.extension_requested is not None:
        complaint = replace(complaint, extension_requested=None)
        ticket = replace(ticket, complaint=complaint)
    if not complaint.clock_suspended:
        return ticket
    running = _ended_suspension(complaint, now)
    due = regulatory_due(ticket.received_at, running, review=ticket.review_of is not None)
    return replace(ticket, complaint=running, sla=replace(ticket.sla, resolution_due=due))


def suspended_in_total(ticket: Ticket) -> int | None:
    """What a complaint's conclusion records: every second its clock was stopped."""
    return complaint_of(ticket).suspended_seconds if ticket.kind == COMPLAINT else None


def reopened(ticket: Ticket, now: datetime) -> Ticket:
    """A reopened complaint gets a fresh clock from the reopening. Its decision was given
    and is counted (the report concludes it at the first resolution; a late one has
    its breach recorded already); reconsidering it is held to the regulator's measure
    for a decision again: 15 days (a review: 30), with its own extensions, each
    approved and told to the customer, and its own suspensions."""
    if ticket.kind != COMPLAINT:
        return ticket
    fresh = replace(
        complaint_of(ticket),
        clock_started_at=now,
        extensions=0,
        extension_requested=None,
        suspended_at=None,
        suspended_seconds=0,
    )
    due = regulatory_due(ticket.received_at, fresh, review=ticket.review_of is not None)
    return replace(ticket, complaint=fresh, sla=replace(ticket.sla, resolution_due=due))


def review_within_days(ticket: Ticket) -> int | None:
    """What a complaint's decision message tells the customer about a review."""
    # A review's outcome is final (domain/reviews.py): nothing more to ask for.
    return REVIEW_WINDOW_DAYS if ticket.kind == COMPLAINT and ticket.review_of is None else None


# --- the report's record of a conclusion ------------------------------------------------------


def conclusion_outcome(
    moved: StatusChanged, actor: Caller, ticket: Ticket, at: datetime
) -> str | None:
    """The report's column for a complaint's status change, or None when it concludes
    nothing: a later resolution, a staff cancellation, a closing (SPEC 13)."""
    if moved.to_status == Status.RESOLVED:
        return _bucket(moved, ticket, at) if moved.resolution_count == 1 else None
    if ticket.resolutions:
        return None  # concluded already, at its first resolution
    if moved.to_status == Status.CANCELLED and _by_owner(actor, ticket):
        return WITHDRAWN
    if moved.to_status == Status.CLOSED and moved.action == Action.MERGE:
        return _bucket(moved, ticket, at)
    return None


def _by_owner(actor: Caller, ticket: Ticket) -> bool:
    return actor.role is Role.CUSTOMER and actor.id == ticket.customer_id


def _bucket(moved: StatusChanged, ticket: Ticket, at: datetime) -> str:
    """The time suspended is the one the conclusion recorded: the ticket read by a later
    reaction may have been reopened since, its fresh clock suspended again or started
    over. (A conclusion written before it recorded that falls back to the ticket.)"""
    seconds = moved.total_suspended_seconds
    if seconds is None:
        seconds = complaint_of(ticket).suspended_until(at)
    return days_bucket(ticket.received_at, at, timedelta(seconds=seconds))


def days_bucket(received_at: datetime, concluded_at: datetime, suspended: timedelta) -> str:
    """The column of a conclusion: at most 15, 30 or 60 days after receipt, or later."""
    spent = concluded_at - received_at - suspended
    for days, name in DAY_BUCKETS:
        if spent <= timedelta(days=days):
            return name
    return LATER


def concluded(ticket: Ticket, moved: StatusChanged, caller: Caller, now: datetime) -> Ticket:
    """The changed ticket with its first conclusion recorded when this move is it. A
    review is counted apart (under `reviews`, by its event): nothing is recorded on it."""
    if ticket.kind != COMPLAINT or ticket.review_of is not None:
        return ticket
    complaint = complaint_of(ticket)
    if complaint.concluded is not None:
        return ticket
    outcome = conclusion_outcome(moved, caller, ticket, now)
    if outcome is None:
        return ticket
    record = Conclusion(report_day(now), outcome, complaint.business, complaint.cause)
    return replace(ticket, complaint=replace(complaint, concluded=record))
