"""Slot generation and the slot rules on the business calendar's edges (SPEC section 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.appointments import (
    branch_from,
    offered_slot,
    parse_hours,
    slots_on,
)
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.errors import SlotNotOfferedError

URUMQI = ZoneInfo("Asia/Urumqi")  # +06:00 all year: no DST to trip over
HOLIDAY = date(2026, 10, 1)  # a Thursday
WORKED_SUNDAY = date(2026, 9, 27)
MONDAY = date(2026, 9, 28)
SATURDAY = date(2026, 10, 3)
BRANCH = {
    "id": "BR-UR-XJR",
    "name": "Urumqi Xinjiang Road Branch",
    "name_zh": "乌鲁木齐新疆路支行",
    "timezone": "Asia/Urumqi",
    "address": "88 Xinhua North Road, Urumqi",
    "counters": 2,
    "hours": {"mon-fri": ["10:00", "18:00"]},
}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=URUMQI)


@pytest.fixture
def calendar() -> BusinessCalendar:
    bank = BusinessCalendar(holidays=frozenset({HOLIDAY}), workdays=frozenset({WORKED_SUNDAY}))
    return branch_from(BRANCH).calendar(bank)


EARLY = local(date(2026, 9, 20), 8)  # a week before every day used here


def test_a_working_day_has_thirty_minute_slots_within_opening_hours(calendar):
    slots = slots_on(calendar, MONDAY, EARLY)
    assert len(slots) == 16
    assert slots[0].start == local(MONDAY, 10).astimezone(UTC)
    assert slots[-1].end == local(MONDAY, 18).astimezone(UTC)
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)


def test_holidays_and_weekends_have_none_but_a_weekend_day_worked_in_lieu_has_them(calendar):
    assert slots_on(calendar, HOLIDAY, EARLY) == []
    assert slots_on(calendar, SATURDAY, EARLY) == []
    worked = slots_on(calendar, WORKED_SUNDAY, EARLY)
    assert worked[0].start == local(WORKED_SUNDAY, 10).astimezone(UTC)
    assert len(worked) == 16


def test_a_branch_open_on_saturdays_offers_its_saturday_hours():
    hours = parse_hours({"mon-fri": ["09:00", "17:00"], "sat": ["09:00", "12:00"]})
    branch = BusinessCalendar(timezone="Asia/Shanghai", hours=hours)
    assert len(slots_on(branch, SATURDAY, EARLY)) == 6
    assert hours[0] == hours[4] != hours[5] and 6 not in hours


def test_slots_start_one_hour_ahead_at_the_earliest(calendar):
    assert slots_on(calendar, MONDAY, local(MONDAY, 11))[0].start == local(MONDAY, 12)
    assert slots_on(calendar, MONDAY, local(MONDAY, 11, 1))[0].start == local(MONDAY, 12, 30)
    assert slots_on(calendar, MONDAY, local(MONDAY, 17)) == []


def test_slots_end_thirty_days_ahead(calendar):
    now = local(MONDAY, 12) - timedelta(days=30)
    starts = [slot.start for slot in slots_on(calendar, MONDAY, now)]
    assert starts[-1] == local(MONDAY, 12)
    assert len(starts) == 5


def test_any_offset_naming_a_slot_start_is_the_slot(calendar):
    slot = offered_slot(
        calendar, datetime(2026, 9, 28, 13, 30, tzinfo=ZoneInfo("Asia/Tokyo")), EARLY
    )
    assert slot.start == local(MONDAY, 10, 30)
    assert slot.key == "2026-09-28T04:30:00+00:00"


@pytest.mark.parametrize(
    ("moment", "why"),
    [
        (local(MONDAY, 10, 10), "not a slot boundary"),
        (local(MONDAY, 9, 30), "outside"),
        (local(MONDAY, 18), "outside"),
        (local(HOLIDAY, 10), "closed on 2026-10-01"),
        (local(SATURDAY, 10), "closed"),
    ],
)
def test_slots_not_offered_say_why(calendar, moment, why):
    with pytest.raises(SlotNotOfferedError, match=why):
        offered_slot(calendar, moment, EARLY)


def test_the_last_slot_of_the_day_is_offered(calendar):
    assert offered_slot(calendar, local(MONDAY, 17, 30), EARLY).end == local(MONDAY, 18)


def test_past_near_and_far_slots_are_not_offered(calendar):
    with pytest.raises(SlotNotOfferedError, match="past or less than one hour"):
        offered_slot(calendar, local(MONDAY, 12), local(MONDAY, 11, 1))
    assert offered_slot(calendar, local(MONDAY, 12), local(MONDAY, 11)).start == local(MONDAY, 12)
    with pytest.raises(SlotNotOfferedError, match="more than 30 days"):
        offered_slot(calendar, local(MONDAY, 12), local(MONDAY, 11, 59) - timedelta(days=30))
