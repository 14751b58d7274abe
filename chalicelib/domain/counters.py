"""Report counters: which counts an event moves. Pure; the ledger applies them once."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache

import msgspec

from chalicelib.domain.calendar import zone_named
from chalicelib.domain.events import Event, TicketCreated

REPORT_TIMEZONE_NAME = "Asia/Shanghai"


@cache
def report_timezone() -> tzinfo:
    return zone_named(REPORT_TIMEZONE_NAME)


class CounterKey(msgspec.Struct, frozen=True, order=True):
    """A counter family (one DynamoDB partition) and a slot sorted by day inside it."""

    family: str
    slot: str


def report_day(moment: datetime) -> str:
    """Each event counts on its Asia/Shanghai calendar day."""
    return moment.astimezone(report_timezone()).date().isoformat()


def counters_for(event: Event) -> dict[CounterKey, int]:
    created = event.payload_as(TicketCreated)
    if created is None:
        return {}
    day = report_day(event.at)
    return {
        CounterKey("created#total", day): 1,
        CounterKey("created#channel", f"{day}#{created.channel}"): 1,
        CounterKey("created#kind", f"{day}#{created.kind}"): 1,
    }
