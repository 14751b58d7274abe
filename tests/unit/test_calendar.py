"""Business calendar: hand-computed working time on mainland China's 2026 and 2027 calendar."""

import json
import random
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.calendar import (
    MAINLAND_CALENDAR_FILE,
    BusinessCalendar,
    CalendarFileError,
    library_days,
    load_calendar,
    read_calendar_file,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
URUMQI = ZoneInfo("Asia/Urumqi")
PROJECT_DIR = Path(__file__).resolve().parents[2]
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
WORKING_DAY = 8 * HOUR


def at(year, month, day, hour=0, minute=0, *, zone=SHANGHAI):
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def days_from(first, last):
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


@pytest.fixture(scope="module")
def mainland():
    return load_calendar(years=[2026, 2027])


@pytest.fixture
def plain():
    """Mon-Fri 09:00-17:00 in Shanghai, no holiday at all."""
    return BusinessCalendar()


# Opening hours ------------------------------------------------------------------------------


def test_default_is_monday_to_friday_nine_to_five_in_shanghai(plain):
    assert plain.timezone == "Asia/Shanghai"
    week = [date(2026, 3, 9) + timedelta(days=n) for n in range(7)]  # Mon 9 .. Sun 15 March
    assert [plain.is_working_day(day) for day in week] == [True] * 5 + [False] * 2
    assert plain.opening(date(2026, 3, 10)) == (at(2026, 3, 10, 9), at(2026, 3, 10, 17))
    assert plain.opening(date(2026, 3, 14)) is None


def test_opening_is_aware_in_the_calendar_zone(plain):
    opens, closes = plain.opening(date(2026, 3, 10))
    assert opens.tzinfo == SHANGHAI
    assert opens.utcoffset() == closes.utcoffset() == 8 * HOUR


def test_hours_cannot_be_changed_behind_the_calendar_s_back(plain):
    with pytest.raises(TypeError):
        plain.hours[5] = (time(9), time(12))


@pytest.mark.parametrize(
    "hours",
    [{}, {0: (time(17), time(9))}, {1: (time(9), time(9))}, {7: (time(9), time(17))}],
    ids=["no-hours", "closes-before-opening", "empty-day", "no-such-weekday"],
)
def test_nonsense_hours_are_refused(hours):
    with pytest.raises(ValueError, match="hours"):
        BusinessCalendar(hours=hours)


def test_an_unknown_zone_is_refused_when_the_calendar_is_built():
    with pytest.raises(LookupError):
        BusinessCalendar(timezone="Asia/Atlantis")


# Adding working time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        (at(2026, 3, 10, 10), HOUR, at(2026, 3, 10, 11)),
        (at(2026, 3, 10, 22), HOUR, at(2026, 3, 11, 10)),  # night: counts from 09:00
        (at(2026, 3, 11, 2, 30), HOUR, at(2026, 3, 11, 10)),  # small hours, same day
        (at(2026, 3, 10, 7, 30), 30 * MINUTE, at(2026, 3, 10, 9, 30)),
        (at(2026, 3, 10, 11, 30), 2 * HOUR, at(2026, 3, 10, 13, 30)),  # no lunch break
        (at(2026, 3, 10, 16), HOUR, at(2026, 3, 10, 17)),  # due at closing, not next morning
        (at(2026, 3, 10, 16, 50), 15 * MINUTE, at(2026, 3, 11, 9, 5)),
        (at(2026, 3, 13, 16), 2 * HOUR, at(2026, 3, 16, 10)),  # Friday into Monday
        (at(2026, 3, 14, 12), HOUR, at(2026, 3, 16, 10)),  # Saturday counts from Monday
        (at(2026, 3, 9, 10), 2 * WORKING_DAY, at(2026, 3, 11, 10)),
        (at(2026, 3, 12, 9), 5 * WORKING_DAY, at(2026, 3, 18, 17)),
    ],
)
def test_working_time_on_a_calendar_without_holidays(plain, start, duration, due):
    assert plain.add_working_time(start, duration) == due


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # Friday before the Spring Festival: Fri 7h + in-lieu Sat 14th 8h, then Tue 24th.
        (at(2026, 2, 13, 10), 2 * WORKING_DAY, at(2026, 2, 24, 10)),
        (at(2026, 2, 13, 16, 50), 15 * MINUTE, at(2026, 2, 14, 9, 5)),  # Sat 14th is worked
        (at(2026, 2, 14, 20), HOUR, at(2026, 2, 24, 10)),  # evening of the in-lieu Saturday
        (at(2026, 2, 18, 11), HOUR, at(2026, 2, 24, 10)),  # in the middle of the festival
        (at(2026, 10, 3, 14), HOUR, at(2026, 10, 8, 10)),  # in the middle of National Day
        (at(2026, 9, 30, 10), 2 * WORKING_DAY, at(2026, 10, 9, 10)),  # 7h + Oct 8 8h + 1h
        (at(2026, 9, 18, 10), 2 * WORKING_DAY, at(2026, 9, 21, 10)),  # Sun 20 Sep is worked
        (at(2026, 4, 30, 16), WORKING_DAY, at(2026, 5, 6, 16)),  # Labour Day May 1-5
        (at(2026, 4, 3, 16), 2 * HOUR, at(2026, 4, 7, 10)),  # Qingming Apr 4-6
        (at(2025, 12, 31, 16), 2 * HOUR, at(2026, 1, 4, 10)),  # New Year; Sun Jan 4 worked
        (at(2026, 9, 24, 16), 2 * HOUR, at(2026, 9, 28, 10)),  # Mid-Autumn Fri Sep 25
        (at(2027, 2, 4, 16), 2 * HOUR, at(2027, 2, 11, 10)),  # 2027 Spring Festival Feb 5-10
    ],
)
def test_working_time_skips_mainland_holidays_and_works_in_lieu_days(
    mainland, start, duration, due
):
    assert mainland.add_working_time(start, duration) == due


def test_input_with_a_utc_offset_gives_a_result_in_the_calendar_zone(plain):
    received = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    due = plain.add_working_time(received, HOUR)
    assert due == at(2026, 3, 11, 10)
    assert due.tzinfo == SHANGHAI
    assert plain.add_working_time(datetime(2026, 3, 10, 1, 30, tzinfo=UTC), HOUR) == at(
        2026, 3, 10, 10, 30
    )


def test_a_zero_duration_is_the_start_itself_even_when_closed(mainland):
    saturday_night = datetime(2026, 10, 3, 19, 0, tzinfo=UTC)
    due = mainland.add_working_time(saturday_night, timedelta(0))
    assert due == saturday_night
    assert due.tzinfo == SHANGHAI


def test_negative_working_time_is_refused(plain):
    with pytest.raises(ValueError, match="negative"):
        plain.add_working_time(at(2026, 3, 10, 10), -MINUTE)


def test_naive_datetimes_are_refused(plain):
    with pytest.raises(ValueError, match="aware"):
        plain.add_working_time(datetime(2026, 3, 10, 10), HOUR)
    with pytest.raises(ValueError, match="aware"):
        plain.working_time_between(at(2026, 3, 10, 10), datetime(2026, 3, 10, 11))


# Working time between two moments ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "worked"),
    [
        (at(2026, 3, 10, 10), at(2026, 3, 10, 15, 30), 5 * HOUR + 30 * MINUTE),
        (at(2026, 3, 10, 22), at(2026, 3, 11, 9, 45), 45 * MINUTE),
        (at(2026, 3, 13, 15), at(2026, 3, 16, 10), 3 * HOUR),  # across a weekend
        (at(2026, 3, 14, 8), at(2026, 3, 15, 20), timedelta(0)),  # all weekend
        (at(2026, 3, 10, 12), at(2026, 3, 10, 12), timedelta(0)),
        (at(2026, 3, 10, 15), at(2026, 3, 10, 11), timedelta(0)),  # end before start
        (at(2026, 3, 11, 10), at(2026, 3, 10, 10), timedelta(0)),
    ],
)
def test_working_time_between_on_a_calendar_without_holidays(plain, start, end, worked):
    assert plain.working_time_between(start, end) == worked


@pytest.mark.parametrize(
    ("start", "end", "worked"),
    [
        (at(2026, 9, 30, 15), at(2026, 10, 8, 11), 4 * HOUR),  # National Day week
        (at(2026, 4, 3, 16), at(2026, 4, 7, 10), 2 * HOUR),  # weekend + Qingming Monday
        # Thu 5h, Fri 8h, in-lieu Sat 8h, festival 0, Tue 8h, Wed 3h.
        (at(2026, 2, 12, 12), at(2026, 2, 25, 12), 32 * HOUR),
        (at(2026, 10, 2, 9), at(2026, 10, 7, 17), timedelta(0)),
    ],
)
def test_working_time_between_across_weekends_and_holidays(mainland, start, end, worked):
    assert mainland.working_time_between(start, end) == worked


def test_working_time_between_takes_any_offset(plain):
    start = datetime(2026, 3, 13, 7, 0, tzinfo=UTC)  # Fri 15:00 Shanghai
    end = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # Mon 10:00 Shanghai
    assert plain.working_time_between(start, end) == 3 * HOUR


# Mainland 2026 and 2027 -----------------------------------------------------------------------

IN_LIEU_2026 = {
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
}
CLOSED_2026 = (
    days_from(date(2026, 1, 1), date(2026, 1, 3))
    | days_from(date(2026, 2, 15), date(2026, 2, 23))
    | days_from(date(2026, 4, 4), date(2026, 4, 6))
    | days_from(date(2026, 5, 1), date(2026, 5, 5))
    | days_from(date(2026, 6, 19), date(2026, 6, 21))
    | days_from(date(2026, 9, 25), date(2026, 9, 27))
    | days_from(date(2026, 10, 1), date(2026, 10, 7))
)


def test_2026_matches_the_state_council_notice(mainland):
    for day in days_from(date(2026, 1, 1), date(2026, 12, 31)):
        expected = day in IN_LIEU_2026 or (day.weekday() < 5 and day not in CLOSED_2026)
        assert mainland.is_working_day(day) == expected, day


def test_2026_has_248_working_days(mainland):
    # 261 weekdays - 19 weekday holidays + 6 weekend days worked in lieu.
    year = days_from(date(2026, 1, 1), date(2026, 12, 31))
    assert sum(mainland.is_working_day(day) for day in year) == 248


def test_the_only_days_worked_in_lieu_are_2026_s_six(mainland):
    assert mainland.workdays == IN_LIEU_2026


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 1, 1), False),
        (date(2027, 1, 4), True),
        (date(2027, 2, 5), False),  # Spring Festival's eve
        (date(2027, 2, 8), False),
        (date(2027, 2, 10), False),  # make-up for Feb 6-7 falling on a weekend
        (date(2027, 2, 11), True),
        (date(2027, 4, 5), False),
        (date(2027, 5, 4), False),
        (date(2027, 5, 5), True),
        (date(2027, 6, 9), False),
        (date(2027, 9, 15), False),
        (date(2027, 10, 5), False),
        (date(2027, 10, 6), True),
    ],
)
def test_2027_statutory_holidays_are_closed(mainland, day, working):
    assert mainland.is_working_day(day) == working


def test_the_shipped_file_and_the_library_agree_on_every_day_of_2026():
    library = library_days([2026])
    from_library = BusinessCalendar(holidays=library.holidays, workdays=library.workdays)
    bank = read_calendar_file(MAINLAND_CALENDAR_FILE)
    from_file = BusinessCalendar(holidays=bank.holidays, workdays=bank.workdays)
    for day in days_from(date(2026, 1, 1), date(2026, 12, 31)):
        assert from_file.is_working_day(day) == from_library.is_working_day(day), day


def test_the_shipped_file_marks_2027_as_provisional():
    bank = read_calendar_file(MAINLAND_CALENDAR_FILE)
    assert bank.years == {2026, 2027}
    assert bank.published_years == {2026}


# A branch in another zone ---------------------------------------------------------------------


@pytest.fixture
def urumqi_branch(mainland):
    ten_to_six = {weekday: (time(10), time(18)) for weekday in range(5)}
    return mainland.for_timezone("Asia/Urumqi").with_hours(ten_to_six)


def test_a_branch_keeps_the_holiday_dates(mainland, urumqi_branch):
    assert urumqi_branch.holidays == mainland.holidays
    assert urumqi_branch.workdays == mainland.workdays
    assert urumqi_branch.opening(date(2026, 2, 14)) == (
        at(2026, 2, 14, 10, zone=URUMQI),
        at(2026, 2, 14, 18, zone=URUMQI),
    )


def test_a_branch_counts_on_its_own_clock(urumqi_branch):
    # 19:00 in Beijing is 17:00 in Urumqi: 1h on Friday, then the in-lieu Saturday from 10:00.
    due = urumqi_branch.add_working_time(at(2026, 2, 13, 19), 2 * HOUR)
    assert due == at(2026, 2, 14, 11, zone=URUMQI)
    assert due.utcoffset() == 6 * HOUR
    # 01:00 on Oct 8 in Beijing is still Oct 7, a holiday, in Urumqi.
    assert urumqi_branch.add_working_time(at(2026, 10, 8, 1), HOUR) == at(
        2026, 10, 8, 11, zone=URUMQI
    )


def test_a_branch_measures_working_time_on_its_own_clock(mainland, urumqi_branch):
    start, end = at(2026, 3, 13, 12), at(2026, 3, 13, 20)  # Beijing times
    assert urumqi_branch.working_time_between(start, end) == 8 * HOUR
    assert mainland.working_time_between(start, end) == 5 * HOUR


def test_a_branch_open_on_saturdays_closes_on_holiday_weekends(mainland):
    saturdays = {**mainland.hours, 5: (time(10), time(14))}
    branch = mainland.with_hours(saturdays)
    assert branch.opening(date(2026, 3, 14)) == (at(2026, 3, 14, 10), at(2026, 3, 14, 14))
    assert branch.opening(date(2026, 2, 21)) is None  # inside the Spring Festival
    # Worked in lieu, a Saturday is a full working day.
    assert branch.opening(date(2026, 2, 14)) == (at(2026, 2, 14, 9), at(2026, 2, 14, 17))


def test_working_time_is_real_time_when_clocks_go_forward():
    # London springs forward at 01:00 on Sun 29 March 2026: 00:00-03:00 lasts two hours.
    night_shift = BusinessCalendar(timezone="Europe/London", hours={6: (time(0), time(3))})
    london = ZoneInfo("Europe/London")
    start, end = at(2026, 3, 28, 12, zone=london), at(2026, 3, 30, 12, zone=london)
    assert night_shift.working_time_between(start, end) == 2 * HOUR
    assert night_shift.add_working_time(start, 2 * HOUR) == at(2026, 3, 29, 3, zone=london)


# Properties -----------------------------------------------------------------------------------


def random_moments(calendar, rng, count, *, open_only):
    moments: list[datetime] = []
    while len(moments) < count:
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(2 * 365))
        opening = calendar.opening(day)
        if opening is None and open_only:
            continue
        first, last = opening or (at(day.year, day.month, day.day), None)
        span = (last - first) if last else timedelta(days=1)
        minutes = rng.randrange(int(span / MINUTE))
        moments.append(first + minutes * MINUTE)
    return moments


def random_duration(rng):
    return rng.randrange(5 * 8 * 60) * MINUTE


@pytest.mark.parametrize("open_only", [True, False], ids=["open-hours", "any-time"])
@pytest.mark.parametrize("branch", ["Asia/Shanghai", "Asia/Urumqi"])
def test_working_time_between_undoes_add_working_time(mainland, open_only, branch):
    calendar = mainland.for_timezone(branch)
    rng = random.Random(20260214)
    for start in random_moments(calendar, rng, 300, open_only=open_only):
        duration = random_duration(rng)
        due = calendar.add_working_time(start.astimezone(UTC), duration)
        assert calendar.working_time_between(start, due) == duration, (start, duration)


def test_a_due_moment_with_work_to_do_lies_within_opening_hours(mainland):
    rng = random.Random(7)
    for start in random_moments(mainland, rng, 300, open_only=False):
        due = mainland.add_working_time(start, random_duration(rng) + MINUTE)
        opens, closes = mainland.opening(due.date())
        assert opens < due <= closes, (start, due)


def test_adding_in_two_steps_is_adding_the_sum(mainland):
    rng = random.Random(11)
    for start in random_moments(mainland, rng, 300, open_only=False):
        first, second = random_duration(rng), random_duration(rng)
        in_two_steps = mainland.add_working_time(mainland.add_working_time(start, first), second)
        assert in_two_steps == mainland.add_working_time(start, first + second), start


# Loading the bank's file ----------------------------------------------------------------------

FIRST_ENTRY_LINE = 5


def write_calendar(tmp_path, *entries, provisional="[]"):
    """A calendar file whose n-th entry (from 0) sits on line FIRST_ENTRY_LINE + n."""
    days = ",\n".join(f"    {entry}" for entry in entries)
    text = (
        '{\n  "notes": ["test calendar"],\n'
        f'  "provisional_years": {provisional},\n'
        f'  "days": [\n{days}\n  ]\n}}\n'
    )
    path = tmp_path / "calendar.json"
    path.write_text(text, encoding="utf-8")
    return path


def day(iso, kind, name="x"):
    return json.dumps({"date": iso, "type": kind, "name": name})


def test_the_write_helper_lays_entries_where_the_tests_expect(tmp_path):
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"), day("2026-01-02", "holiday"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "2026-01-01" in lines[FIRST_ENTRY_LINE - 1]
    assert "2026-01-02" in lines[FIRST_ENTRY_LINE]


def test_the_bank_s_file_wins_over_the_library(tmp_path):
    path = write_calendar(
        tmp_path,
        day("2026-10-07", "workday", "National Day, branch open by decision"),
        day("2026-10-08", "closure", "Core banking migration"),
        day("2026-05-09", "holiday", "Not worked after all"),
    )
    calendar = load_calendar(path, years=[2026])
    assert calendar.is_working_day(date(2026, 10, 7))  # the library says holiday
    assert not calendar.is_working_day(date(2026, 10, 8))  # an ordinary Thursday
    assert not calendar.is_working_day(date(2026, 5, 9))  # the library says worked in lieu
    assert not calendar.is_working_day(date(2026, 10, 6))  # still the library's holiday
    assert calendar.is_working_day(date(2026, 2, 14))  # still the library's in-lieu day


def test_a_holiday_and_a_closure_on_one_day_agree(tmp_path):
    path = write_calendar(
        tmp_path, day("2026-10-08", "closure"), day("2026-10-08", "holiday", "again")
    )
    assert read_calendar_file(path).holidays == {date(2026, 10, 8)}


@pytest.mark.parametrize(
    ("bad_entry", "problem"),
    [
        (day("2026-02-30", "holiday"), "bad date '2026-02-30'"),
        (day("2026/02/14", "holiday"), "bad date"),
        (day("20260214", "holiday"), "bad date"),
        ('{"type": "holiday", "name": "no date"}', "bad date None"),
        ('{"date": 20260214, "type": "holiday"}', "bad date 20260214"),
        (day("2026-02-14", "vacation"), "unknown type 'vacation'"),
        ('{"date": "2026-02-14"}', "unknown type None"),
        ('{"date": "2026-02-14", "type": "holiday"}, {"date": "2026-02-15"}', "one entry per line"),
    ],
)
def test_a_bad_entry_is_reported_by_file_and_line(tmp_path, bad_entry, problem):
    path = write_calendar(
        tmp_path, day("2026-01-01", "holiday"), day("2026-01-02", "holiday"), bad_entry
    )
    with pytest.raises(CalendarFileError) as raised:
        read_calendar_file(path)
    assert raised.value.line == FIRST_ENTRY_LINE + 2
    assert str(raised.value).startswith(f"{path}, line {FIRST_ENTRY_LINE + 2}: ")
    assert problem in str(raised.value)


def test_conflicting_types_for_one_date_name_both_lines(tmp_path):
    path = write_calendar(
        tmp_path,
        day("2026-02-14", "workday"),
        day("2026-02-16", "holiday"),
        day("2026-02-14", "holiday"),
    )
    with pytest.raises(CalendarFileError) as raised:
        read_calendar_file(path)
    assert raised.value.line == FIRST_ENTRY_LINE + 2
    assert f"a workday on line {FIRST_ENTRY_LINE}" in str(raised.value)


def test_a_file_that_is_not_json_is_reported_at_the_broken_line(tmp_path):
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"), day("2026-01-02", "holiday"))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[FIRST_ENTRY_LINE - 1] = lines[FIRST_ENTRY_LINE - 1].removesuffix(",")
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(CalendarFileError, match="not JSON") as raised:
        read_calendar_file(path)
    assert raised.value.line == FIRST_ENTRY_LINE + 1


def test_an_entry_spread_over_lines_is_refused(tmp_path):
    spread = '{"date": "2026-01-02",\n     "type": "holiday"}'
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"), spread)
    with pytest.raises(CalendarFileError, match="on a line of its own") as raised:
        read_calendar_file(path)
    assert raised.value.line == FIRST_ENTRY_LINE - 1  # the "days" line


@pytest.mark.parametrize("text", ["[]", '{"days": {}}', '{"notes": []}'])
def test_a_file_without_a_days_list_is_refused(tmp_path, text):
    path = tmp_path / "calendar.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarFileError, match="days"):
        read_calendar_file(path)


def test_provisional_years_must_be_years(tmp_path):
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"), provisional='"2027"')
    with pytest.raises(CalendarFileError, match="provisional_years") as raised:
        read_calendar_file(path)
    assert raised.value.line == 3


# Years without data ---------------------------------------------------------------------------


def test_the_shipped_calendar_warns_only_about_unpublished_2027():
    warnings: list[str] = []
    load_calendar(years=[2025, 2026, 2027], log=warnings.append)
    assert warnings == [
        "calendar: no published holiday schedule for 2027; using statutory holidays, "
        "in-lieu working days unknown"
    ]


def test_years_default_to_the_years_in_the_file():
    warnings: list[str] = []
    calendar = load_calendar(log=warnings.append)
    assert len(warnings) == 1
    assert "2027" in warnings[0]
    assert calendar.workdays == IN_LIEU_2026


def test_a_year_only_the_library_estimates_is_closed_on_statutory_days_with_a_warning(tmp_path):
    warnings: list[str] = []
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"))
    calendar = load_calendar(path, years=[2028], log=warnings.append)
    assert not calendar.is_working_day(date(2028, 10, 2))  # National Day, a Monday
    assert warnings == [
        "calendar: no published holiday schedule for 2028; using statutory holidays, "
        "in-lieu working days unknown"
    ]


def test_a_year_without_any_data_is_monday_to_friday_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "holidays", None)  # the library is not installed
    warnings: list[str] = []
    path = write_calendar(tmp_path, day("2026-10-01", "holiday"))
    calendar = load_calendar(path, years=[2026, 2028], log=warnings.append)
    assert warnings == ["calendar: no holiday data for 2028; Mon-Fri are working days"]
    assert calendar.is_working_day(date(2028, 10, 2))
    assert not calendar.is_working_day(date(2028, 10, 7))  # a Saturday
    assert not calendar.is_working_day(date(2026, 10, 1))


def test_loading_without_a_log_is_quiet(tmp_path):
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"))
    assert load_calendar(path, years=[2031]).timezone == "Asia/Shanghai"


def test_load_calendar_builds_a_branch_calendar(tmp_path):
    path = write_calendar(tmp_path, day("2026-01-01", "holiday"))
    assert load_calendar(path, timezone="Asia/Urumqi", years=[2026]).zone == URUMQI


# Cold start -----------------------------------------------------------------------------------


def test_importing_the_calendar_loads_neither_the_library_nor_zoneinfo():
    probe = (
        "import sys, chalicelib.domain.calendar; "
        "print(sorted(m for m in ('holidays', 'zoneinfo', 'dateutil') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip() == "[]"
