"""The desk's EventBridge bus `servicedesk`: PutEvents, partial failures as a retry."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.service.ports import BusEntry, EventBus, EventBusError

PUT_EVENTS_LIMIT = 10  # entries per PutEvents call


class EventBridgeBus(EventBus):
    def __init__(self, events_client: Any, bus_name: str) -> None:
        self._events = events_client
        self._bus_name = bus_name

    def put(self, entries: list[BusEntry]) -> None:
        for start in range(0, len(entries), PUT_EVENTS_LIMIT):
            self._put_batch(entries[start : start + PUT_EVENTS_LIMIT])

    def _put_batch(self, entries: list[BusEntry]) -> None:
        try:
            response = self._events.put_events(Entries=[self._entry(e) for e in entries])
        except (ClientError, BotoCoreError) as error:
            raise EventBusError(type(error).__name__) from error
        failed = int(response.get("FailedEntryCount", 0))
        if failed:
            # The codes only (e.g. ThrottlingException): the entries carry ticket data.
            codes = sorted(
                {str(e.get("ErrorCode")) for e in response.get("Entries", []) if "ErrorCode" in e}
            )
            raise EventBusError(f"{failed} of {len(entries)} entries refused: {codes}")

    def _entry(self, entry: BusEntry) -> dict[str, Any]:
        return {
            "Source": entry.source,
            "DetailType": entry.detail_type,
            "Detail": json.dumps(entry.detail, ensure_ascii=False, default=str),
            "EventBusName": self._bus_name,
            "Time": entry.at,
        }
