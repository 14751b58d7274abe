"""The regulator's complaint report (SPEC section 13): its counters and its views. Pure.

Counters are kept as events arrive, like every report (domain/reports.py); a date
range is one key-range Query per family, never a scan:

- `complaint#received`  `<received day>#<business>#<cause>#<channel>`: +1 when a
  complaint is opened, under `unclassified`; a `classify` moves it (-1 / +1 on the
  same received day), so it is always counted under its current classification.
- `complaint#concluded` `<day>#<business>#<cause>#<channel>#<outcome>`: the first
  resolution, the owner's withdrawal (cancel) or a merge; outcome is the bucket of
  the days from receipt (the suspended time left out, as for the deadlines) or
  `withdrawn`. The buckets are disjoint: total = their sum. The action records it on
  the complaint (`complaints.Conclusion`, with the classification it had then); a
  `classify` after a reopening moves it as it moves the receipt (same day, same column).
- `complaint#extended`  `<day>#once|twice`: each applied extension of the complaint's
  first clock (once: the first step of the ladder, twice: the second); the fresh
  clock of a reopened complaint is not counted again.
- `complaint#reviews`   `<day>#requested|concluded`.

A review complaint (its ticket has `review_of`) is counted only under `reviews`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.domain.complaints import (
    COMPLAINT,
    DAY_BUCKETS,
    LATER,
    UNCLASSIFIED,
    WITHDRAWN,
    complaint_of,
    conclusion_outcome,
)
from chalicelib.domain.counters import CounterKey, report_day
from chalicelib.domain.events import (
    ComplaintClassified,
    Event,
    EventType,
    SlaExtended,
    StatusChanged,
    TicketCreated,
)
from chalicelib.domain.reports import ReportRange
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket

RECEIVED = "complaint#received"
CONCLUDED = "complaint#concluded"
EXTENDED = "complaint#extended"
REVIEWS = "complaint#reviews"
FAMILIES = (RECEIVED, CONCLUDED, EXTENDED, REVIEWS)

OUTCOMES = (*(name for _, name in DAY_BUCKETS), LATER, WITHDRAWN)
CSV_HEADER = ("business", "cause", "channel", "received", "concluded", *OUTCOMES)
EXTENSION_NAMES = {1: "once", 2: "twice"}


# --- counting (the stream reaction) -----------------------------------------------------------


def needs_ticket(event: Event) -> bool:
    """Whether this event may move a complaint counter (then the ticket is read)."""
    created = event.payload_as(TicketCreated)
    if created is not None:
        return created.kind == COMPLAINT
    if event.type in _NEED_TICKET:
        return True
    if event.type != EventType.STATUS_CHANGED:
        return False
    moved = event.payload_as(StatusChanged)
    return moved is not None and moved.to_status in _CONCLUDING


_NEED_TICKET = frozenset({EventType.COMPLAINT_CLASSIFIED, EventType.SLA_EXTENDED})
_CONCLUDING = frozenset({Status.RESOLVED, Status.CANCELLED, Status.CLOSED})


def complaint_counters(event: Event, ticket: Ticket | None) -> dict[CounterKey, int]:
    """Every complaint counter this event moves."""
    day = report_day(event.at)
    if event.type == EventType.REVIEW_REQUESTED:
        return {CounterKey(REVIEWS, f"{day}#requested"): 1}
    if ticket is None or ticket.kind != COMPLAINT:
        return {}
    return _of_complaint(event, ticket, day)


def _of_complaint(event: Event, ticket: Ticket, day: str) -> dict[CounterKey, int]:
    # A review is no new complaint: it is counted under reviews only.
    new_complaint = ticket.review_of is None
    received = report_day(ticket.received_at)
    match event.payload():
        case SlaExtended(extensions=extensions, reopened=None) if extensions in EXTENSION_NAMES:
            return {CounterKey(EXTENDED, f"{day}#{EXTENSION_NAMES[extensions]}"): 1}
        case StatusChanged() as moved:
            return _conclusion(event, moved, ticket, day)
        case TicketCreated() if new_complaint:
            return {_received(received, None, None, ticket.channel): 1}
        case ComplaintClassified() as classified if new_complaint:
            return _reclassified(classified, received, ticket.channel)
    return {}


def _received(day: str, business: str | None, cause: str | None, channel: str) -> CounterKey:
    return CounterKey(RECEIVED, f"{day}#{_classification(business, cause)}#{channel}")


def _classification(business: str | None, cause: str | None) -> str:
    return f"{business or UNCLASSIFIED}#{cause or UNCLASSIFIED}"


def _reclassified(moved: ComplaintClassified, day: str, channel: str) -> dict[CounterKey, int]:
    """The receipt moves to the new classification; so does the conclusion of a reopened
    complaint, on its own day and in its own column (the event names them)."""
    before = _classification(moved.previous_business, moved.previous_cause)
    after = _classification(moved.business, moved.cause)
    if before == after:
        return {}
    moves = {
        CounterKey(RECEIVED, f"{day}#{before}#{channel}"): -1,
        CounterKey(RECEIVED, f"{day}#{after}#{channel}"): 1,
    }
    if moved.concluded_on and moved.concluded_as:
        on, outcome = moved.concluded_on, moved.concluded_as
        moves[CounterKey(CONCLUDED, f"{on}#{before}#{channel}#{outcome}")] = -1
        moves[CounterKey(CONCLUDED, f"{on}#{after}#{channel}#{outcome}")] = 1
    return moves


def _conclusion(
    event: Event, moved: StatusChanged, ticket: Ticket, day: str
) -> dict[CounterKey, int]:
    outcome = conclusion_outcome(moved, event.actor, ticket, event.at)
    if outcome is None:
        return {}
    if ticket.review_of is not None:
        first = moved.to_status == Status.RESOLVED
        return {CounterKey(REVIEWS, f"{day}#concluded"): 1} if first else {}
    # Where the action recorded it: the ticket read now may have been reopened and
    # classified again since (that classify moves the count). A conclusion written before
    # the record falls back to the ticket as read.
    complaint = complaint_of(ticket)
    record = complaint.concluded
    if record is not None:
        day, outcome = record.day, record.outcome
        classification = _classification(record.business, record.cause)
    else:
        classification = _classification(complaint.business, complaint.cause)
    return {CounterKey(CONCLUDED, f"{day}#{classification}#{ticket.channel}#{outcome}"): 1}


# --- the report ---------------------------------------------------------------------------------

Slots = Iterable[tuple[str, int]]


def _split(slots: Slots) -> list[tuple[list[str], int]]:
    """(the values after the day, total) of each slot."""
    return [(slot[11:].split("#"), total) for slot, total in slots]


def _add(totals: dict[str, int], key: str, count: int) -> None:
    totals[key] = totals.get(key, 0) + count


def complaint_rows(counters: Mapping[str, Slots]) -> dict[tuple[str, str, str], dict[str, int]]:
    """(business, cause, channel) -> received, concluded and each outcome."""
    rows: dict[tuple[str, str, str], dict[str, int]] = {}

    def row(key: tuple[str, str, str]) -> dict[str, int]:
        return rows.setdefault(key, dict.fromkeys(CSV_HEADER[3:], 0))

    for (business, cause, channel), total in _split(counters.get(RECEIVED, ())):
        _add(row((business, cause, channel)), "received", total)
    for (business, cause, channel, outcome), total in _split(counters.get(CONCLUDED, ())):
        cells = row((business, cause, channel))
        _add(cells, "concluded", total)
        _add(cells, outcome, total)
    return rows


def complaint_report(period: ReportRange, counters: Mapping[str, Slots]) -> dict[str, Any]:
    """`GET /v1/reports/complaints` as JSON."""
    rows = complaint_rows(counters)
    by: dict[str, dict[str, int]] = {"business": {}, "cause": {}, "channel": {}}
    for (business, cause, channel), cells in rows.items():
        for name, value in (("business", business), ("cause", cause), ("channel", channel)):
            if cells["received"]:
                _add(by[name], value, cells["received"])
    concluded = {name: sum(cells[name] for cells in rows.values()) for name in OUTCOMES}
    extended = dict.fromkeys(EXTENSION_NAMES.values(), 0)
    for (name,), total in _split(counters.get(EXTENDED, ())):
        _add(extended, name, total)
    reviews = {"requested": 0, "concluded": 0}
    for (name,), total in _split(counters.get(REVIEWS, ())):
        _add(reviews, name, total)
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "received": {
            "total": sum(cells["received"] for cells in rows.values()),
            **{f"by_{name}": dict(sorted(values.items())) for name, values in by.items()},
        },
        "concluded": {"total": sum(concluded.values()), **concluded},
        "extended": extended,
        "reviews": reviews,
    }


def complaint_csv(counters: Mapping[str, Slots]) -> str:
    """One row per business x cause x channel with anything to count, sorted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for key, cells in sorted(complaint_rows(counters).items()):
        if any(cells.values()):
            writer.writerow([*key, *(cells[name] for name in CSV_HEADER[3:])])
    return out.getvalue()
