"""Business calendar: when the bank is open, and how much working time lies between moments.

Pure: the holidays library and zoneinfo are imported on first use, never at module import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec
from msgspec.structs import replace

BANK_TIMEZONE = "Asia/Shanghai"
MAINLAND_CALENDAR_FILE = Path(__file__).resolve().parents[1] / "data/calendars/cn-mainland.json"
NINE_TO_FIVE = (time(9), time(17))
MONDAY_TO_FRIDAY = range(5)
ONE_DAY = timedelta(days=1)
NO_TIME = timedelta(0)

OpeningHours = Mapping[int, tuple[time, time]]


def default_hours() -> OpeningHours:
    return dict.fromkeys(MONDAY_TO_FRIDAY, NINE_TO_FIVE)


@cache
def zone_named(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo  # loaded on first use: the API's cold start never needs it

    return ZoneInfo(name)


class BusinessCalendar(msgspec.Struct, frozen=True):
    """Opening hours per weekday in one zone, minus closed days, plus weekend days worked."""

    timezone: str = BANK_TIMEZONE
    hours: OpeningHours = msgspec.field(default_factory=default_hours)
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        zone_named(self.timezone)  # an unknown zone fails here, not in the middle of an SLA
        if not self.hours:
            raise ValueError("a business calendar needs opening hours on at least one weekday")
        for weekday, (opens, closes) in self.hours.items():
            if weekday not in range(7) or not opens < closes:
                raise ValueError(f"bad opening hours for weekday {weekday}: {opens}-{closes}")
        msgspec.structs.force_setattr(self, "hours", MappingProxyType(dict(self.hours)))

    @property
    def zone(self) -> tzinfo:
        return zone_named(self.timezone)

    def with_hours(self, hours: OpeningHours) -> BusinessCalendar:
        return replace(self, hours=hours)

    def for_timezone(self, timezone: str) -> BusinessCalendar:
        """A branch in another zone: same holiday dates, hours read on that zone's clock."""
        return replace(self, timezone=timezone)

    def hours_on(self, day: date) -> tuple[time, time] | None:
        if day in self.holidays:
            return None
        if day in self.workdays:
            # Worked in lieu, a weekend day is a full working day: the week's first day's hours.
            return self.hours[min(self.hours)]
        return self.hours.get(day.weekday())

    def is_working_day(self, day: date) -> bool:
        return self.hours_on(day) is not None

    def opening(self, day: date) -> tuple[datetime, datetime] | None:
        hours = self.hours_on(day)
        if hours is None:
            return None
        opens, closes = hours
        return datetime.combine(day, opens, self.zone), datetime.combine(day, closes, self.zone)

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time after `start`; closed time does not count.

        Started in closed time, the clock runs from the next opening. A zero duration
        returns `start` itself (in the calendar's zone), even when the bank is closed.
        """
        if duration < NO_TIME:
            raise ValueError(f"working time cannot be negative: {duration}")
        moment, remaining = _utc(start), duration
        for opens, closes in self._utc_openings_from(self.local_day(moment)):
            if not remaining:
                break
            begin = max(opens, moment)
            available = max(closes - begin, NO_TIME)
            moment = begin + min(remaining, available)
            remaining -= min(remaining, available)
        return moment.astimezone(self.zone)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end`; nothing when `end` is not after `start`."""
        begin, finish = _utc(start), _utc(end)
        total = NO_TIME
        for opens, closes in self._utc_openings_from(self.local_day(begin)):
            if opens >= finish:
                break
            total += max(min(closes, finish) - max(opens, begin), NO_TIME)
        return total

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _utc_openings_from(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        # Arithmetic in UTC: subtracting two datetimes of one zone ignores offset changes.
        while True:
            opening = self.opening(day)
            if opening is not None:
                yield _utc(opening[0]), _utc(opening[1])
            day += ONE_DAY


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"a business calendar needs aware datetimes, got {moment}")
    return moment.astimezone(UTC)


class CalendarFileError(ValueError):
    """An entry of a calendar file the bank must fix; names the file and the line."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class KnownDays(msgspec.Struct, frozen=True):
    """What one source knows: closed days, weekend days worked, years it has as published."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    published_years: frozenset[int] = frozenset()

    def overridden_by(self, other: KnownDays) -> KnownDays:
        return KnownDays(
            holidays=(self.holidays - other.workdays) | other.holidays,
            workdays=(self.workdays - other.holidays) | other.workdays,
            published_years=self.published_years | other.published_years,
        )

    @property
    def years(self) -> frozenset[int]:
        return frozenset(day.year for day in self.holidays | self.workdays)


def load_calendar(
    path: Path | None = None,
    *,
    timezone: str = BANK_TIMEZONE,
    years: Iterable[int] | None = None,
    log: Callable[[str], None] | None = None,
) -> BusinessCalendar:
    """The bank's calendar: library holidays for `years`, overridden by the bank's file.

    `years` defaults to the years the file lists. Each of them with no published schedule
    is reported through `log`; with no data at all it is a plain Mon-Fri year.
    """
    bank_days = read_calendar_file(path or MAINLAND_CALENDAR_FILE)
    wanted = sorted(set(years) if years is not None else bank_days.years)
    known = library_days(wanted).overridden_by(bank_days)
    report = log or _ignore
    for warning in unpublished_year_warnings(wanted, known):
        report(warning)
    return BusinessCalendar(timezone=timezone, holidays=known.holidays, workdays=known.workdays)


def library_days(years: Iterable[int]) -> KnownDays:
    """Mainland holidays from the `holidays` library; a year counts as published there
    when the library knows its in-lieu working days (every State Council notice has some)."""
    try:
        import holidays
    except ImportError:
        return KnownDays()
    wanted = set(years)
    china = holidays.country_holidays("CN", years=wanted)
    workdays = frozenset(day for day in china.weekend_workdays if day.year in wanted)
    return KnownDays(frozenset(china), workdays, frozenset(day.year for day in workdays))


def unpublished_year_warnings(years: Iterable[int], known: KnownDays) -> list[str]:
    return [
        f"calendar: no published holiday schedule for {year}; using statutory holidays, "
        "in-lieu working days unknown"
        if year in known.years
        else f"calendar: no holiday data for {year}; Mon-Fri are working days"
        for year in years
        if year not in known.published_years
    ]


def _ignore(message: str) -> None:
    pass


# The calendar file --------------------------------------------------------------------------

OPEN_TYPES = frozenset({"workday"})
CLOSED_TYPES = frozenset({"holiday", "closure"})


class DayEntry(msgspec.Struct, frozen=True):
    line: int
    day: date
    type: str

    @property
    def is_open(self) -> bool:
        return self.type in OPEN_TYPES


def read_calendar_file(path: Path) -> KnownDays:
    """The bank's days; every entry of "days" is one JSON object on a line of its own,
    so a bad entry is reported by its line number."""
    text = path.read_text(encoding="utf-8")
    document = _parse_document(path, text)
    entries = [_parse_entry(path, number, line) for number, line in _entry_lines(text)]
    if len(entries) != len(document["days"]):
        problem = 'each entry of "days" must be one JSON object on a line of its own'
        raise CalendarFileError(path, _line_of(text, '"days"'), problem)
    return _known_days(path, entries, _provisional_years(path, text, document))


def _parse_document(path: Path, text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CalendarFileError(path, error.lineno, f"not JSON: {error.msg}") from error
    if not isinstance(document, dict) or not isinstance(document.get("days"), list):
        raise CalendarFileError(path, 1, 'expected an object with a "days" list')
    return document


def _entry_lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        candidate = line.strip().removesuffix(",")
        if candidate.startswith("{") and candidate.endswith("}"):
            yield number, candidate


def _parse_entry(path: Path, number: int, line: str) -> DayEntry:
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as error:
        raise CalendarFileError(path, number, "one entry per line, please") from error
    kind, raw_date = fields.get("type"), fields.get("date")
    if kind not in OPEN_TYPES | CLOSED_TYPES:
        raise CalendarFileError(path, number, f"unknown type {kind!r}: holiday, closure, workday")
    day = _iso_date(raw_date)
    if day is None:
        raise CalendarFileError(path, number, f"bad date {raw_date!r}, expected YYYY-MM-DD")
    return DayEntry(number, day, kind)


def _iso_date(text: object) -> date | None:
    if not isinstance(text, str):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.isoformat() == text else None  # 3.11 also takes "20260214", "2026-W07-6"


def _known_days(path: Path, entries: list[DayEntry], provisional: set[int]) -> KnownDays:
    first_seen: dict[date, DayEntry] = {}
    for entry in entries:
        earlier = first_seen.setdefault(entry.day, entry)
        if earlier.is_open != entry.is_open:
            problem = f"{entry.day} is a {entry.type} here, a {earlier.type} on line {earlier.line}"
            raise CalendarFileError(path, entry.line, problem)
    return KnownDays(
        holidays=frozenset(day for day, entry in first_seen.items() if not entry.is_open),
        workdays=frozenset(day for day, entry in first_seen.items() if entry.is_open),
        published_years=frozenset({day.year for day in first_seen} - provisional),
    )


def _provisional_years(path: Path, text: str, document: dict[str, Any]) -> set[int]:
    """Years the file lists from the statutes before the State Council has published them."""
    years = document.get("provisional_years", [])
    if not isinstance(years, list) or not all(isinstance(year, int) for year in years):
        problem = '"provisional_years" must be a list of years'
        raise CalendarFileError(path, _line_of(text, '"provisional_years"'), problem)
    return set(years)


def _line_of(text: str, key: str) -> int:
    lines = text.splitlines()
    return next((number for number, line in enumerate(lines, start=1) if key in line), 1)
