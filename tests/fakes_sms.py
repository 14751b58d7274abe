"""In-memory fakes of the inbound SMS and event export ports (SPEC 12)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.inbox import TriageReason
from chalicelib.service.ports import (
    BusEntry,
    EventBus,
    EventBusError,
    SmsIndex,
    SmsSent,
    Triage,
)


class InMemorySmsIndex(SmsIndex):
    def __init__(self) -> None:
        self.sent: list[SmsSent] = []
        self.outcomes: dict[str, str] = {}

    def remember(self, sent: SmsSent) -> None:
        self.sent.append(sent)

    def recent(self, phone_key: str, since: datetime, limit: int) -> list[SmsSent]:
        found = [s for s in self.sent if s.phone_key == phone_key and s.at >= since]
        return sorted(found, key=lambda s: (s.at, s.event_id), reverse=True)[:limit]

    def customers(self, phone_key: str) -> list[str]:
        return sorted({s.customer_id for s in self.sent if s.phone_key == phone_key})

    def forget(self, phone_key: str, customer_id: str) -> None:
        self.sent = [
            s for s in self.sent if (s.phone_key, s.customer_id) != (phone_key, customer_id)
        ]

    def handled(self, message_id: str) -> bool:
        return message_id in self.outcomes

    def mark_handled(self, message_id: str, outcome: str, at: datetime) -> None:
        self.outcomes[message_id] = outcome


class RecordingTriage(Triage):
    def __init__(self) -> None:
        self.items: dict[str, tuple[str, str, datetime]] = {}
        self.reasons: dict[str, TriageReason] = {}

    def triage_sms(
        self,
        sender: str,
        text: str,
        received_at: datetime,
        message_id: str,
        reason: TriageReason = TriageReason.UNMATCHED_SMS,
    ) -> None:
        self.items.setdefault(message_id, (sender, text, received_at))
        self.reasons.setdefault(message_id, reason)


class RecordingBus(EventBus):
    """Takes entries; refuses the next `failures` calls (as a partial failure would)."""

    def __init__(self, failures: int = 0) -> None:
        self.entries: list[BusEntry] = []
        self.failures = failures

    def put(self, entries: list[BusEntry]) -> None:
        if self.failures:
            self.failures -= 1
            raise EventBusError("1 of 1 entries refused: ['ThrottlingException']")
        self.entries.extend(entries)
