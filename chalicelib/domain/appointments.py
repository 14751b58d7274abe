"""Branch appointments: branches, their 30-minute slots, and which slot may be booked.

Pure: the business calendar says when a branch is open (its own hours on the
bank's working days, read on the branch's clock); seats are counted elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec

from chalicelib.domain.calendar import BusinessCalendar, OpeningHours
from chalicelib.domain.errors import SlotNotOfferedError
from chalicelib.domain.notifications import EN_US, ZH_CN, local_slot_time
from chalicelib.domain.ticket import Ticket, isoformat

SLOT_LENGTH = timedelta(minutes=30)
MIN_NOTICE = timedelta(hours=1)
HORIZON = timedelta(days=30)
MAX_OPEN_APPOINTMENTS = 3
APPOINTMENT = "appointment"

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Branch(msgspec.Struct, frozen=True):
    id: str
    name: str
    timezone: str
    address: str
    counters: int
    hours: OpeningHours
    names: Mapping[str, str] = msgspec.field(default_factory=dict)  # per locale, for messages

    def name_in(self, locale: str) -> str:
        return self.names.get(locale) or self.name

    def calendar(self, bank: BusinessCalendar) -> BusinessCalendar:
        """The bank's working days, this branch's hours, on this branch's clock."""
        return bank.for_timezone(self.timezone).with_hours(self.hours)

    def view(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "address": self.address,
        }


def parse_hours(spec: Mapping[str, Any]) -> dict[int, tuple[time, time]]:
    """`{"mon-fri": ["09:00", "17:00"], "sat": ["09:00", "12:00"]}` -> weekday -> hours."""
    hours: dict[int, tuple[time, time]] = {}
    for days, (opens, closes) in spec.items():
        first, _, last = days.partition("-")
        start, end = _WEEKDAYS.index(first), _WEEKDAYS.index(last or first)
        for weekday in range(start, end + 1):
            hours[weekday] = (time.fromisoformat(opens), time.fromisoformat(closes))
    return hours


class Slot(msgspec.Struct, frozen=True):
    start: datetime  # UTC
    end: datetime

    @property
    def key(self) -> str:
        return isoformat(self.start) or ""


def _bookable_window(now: datetime) -> tuple[datetime, datetime]:
    return now + MIN_NOTICE, now + HORIZON


def slots_on(calendar: BusinessCalendar, day: date, now: datetime) -> list[Slot]:
    """The bookable slots of one branch-local day: none on a closed day, none past or too far."""
    opening = calendar.opening(day)
    if opening is None:
        return []
    earliest, latest = _bookable_window(now)
    opens, closes = (moment.astimezone(UTC) for moment in opening)
    slots = []
    start = opens
    while start + SLOT_LENGTH <= closes:
        if earliest <= start <= latest:
            slots.append(Slot(start, start + SLOT_LENGTH))
        start += SLOT_LENGTH
    return slots


def offered_slot(calendar: BusinessCalendar, slot_start: datetime, now: datetime) -> Slot:
    """The slot starting at `slot_start` (any offset), or SlotNotOfferedError saying why."""
    start = slot_start.astimezone(UTC)
    day = calendar.local_day(start)
    local = start.astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")
    opening = calendar.opening(day)
    if opening is None:
        raise SlotNotOfferedError(f"The branch is closed on {day.isoformat()}")
    opens, closes = (moment.astimezone(UTC) for moment in opening)
    if not opens <= start <= closes - SLOT_LENGTH:
        raise SlotNotOfferedError(f"{local} (branch time) is outside the branch's opening hours")
    if (start - opens) % SLOT_LENGTH:
        raise SlotNotOfferedError(
            f"{local} (branch time) is not a slot boundary: slots start every 30 minutes "
            f"from {opening[0].strftime('%H:%M')}"
        )
    earliest, latest = _bookable_window(now)
    if start < earliest:
        raise SlotNotOfferedError("The slot is in the past or less than one hour ahead")
    if start > latest:
        raise SlotNotOfferedError("The slot is more than 30 days ahead")
    return Slot(start, start + SLOT_LENGTH)


def appointment_of(branch: Branch, slot: Slot) -> dict[str, str]:
    """What the ticket records (SPEC 5: `appointment`)."""
    return {"branch_id": branch.id, "slot_start": slot.key, "slot_end": isoformat(slot.end) or ""}


def slot_of(ticket: Ticket) -> Slot:
    appointment = ticket.appointment or {}
    start = datetime.fromisoformat(appointment["slot_start"]).astimezone(UTC)
    return Slot(start, start + SLOT_LENGTH)


def event_data(branch: Branch, slot: Slot) -> dict[str, Any]:
    """What the booked, rescheduled and reminded messages need: the branch's name in
    each locale, the slot on the branch's wall clock, the zone for quiet hours."""
    return {
        "branch_id": branch.id,
        "slot_start": slot.key,
        "slot_end": isoformat(slot.end),
        "slot_time": local_slot_time(slot.start, branch.timezone),
        "timezone": branch.timezone,
        "branch_name": {locale: branch.name_in(locale) for locale in (ZH_CN, EN_US)},
    }


def holds_seat(ticket: Ticket, at: datetime) -> bool:
    """An appointment holds its counter seat, and one of the customer's places, while it is
    open and its slot is still ahead. A slot that has passed is history: its seat can no
    longer be booked, and it no longer keeps the customer from booking another (SPEC 9 is
    silent; a branch counts the visits still to come). An appointment resolved or cancelled
    before its slot gives the seat back; reopened before its slot, it takes it again."""
    return ticket.is_open and ticket.appointment is not None and slot_of(ticket).start > at


def upcoming(holds: Mapping[str, datetime], at: datetime, *, besides: str) -> int:
    """How many of a customer's seat-holding appointments (ticket id -> slot start) are
    still ahead at `at`, leaving out `besides` (the one taking a seat now)."""
    return sum(1 for ticket_id, start in holds.items() if start > at and ticket_id != besides)


def branch_from(record: Mapping[str, Any]) -> Branch:
    """A branch from its stored attributes (local/data/branches.json when seeded)."""
    names = {EN_US: str(record["name"])}
    if record.get("name_zh"):
        names[ZH_CN] = str(record["name_zh"])
    return Branch(
        id=str(record["id"]),
        name=str(record["name"]),
        timezone=str(record["timezone"]),
        address=str(record["address"]),
        counters=int(record["counters"]),
        hours=parse_hours(record["hours"]),
        names=names,
    )
