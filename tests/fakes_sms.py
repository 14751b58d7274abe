"""In-memory fakes of the inbound SMS and event export ports (SPEC 12)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.inbound_sms import InboundSms
from chalicelib.domain.inbox import TriageReason
from chalicelib.domain.sms_policy import CUSTOMER, NUMBER
from chalicelib.service.ports import (
    BusEntry,
    EventBus,
    EventBusError,
    SmsCount,
    SmsIndex,
    SmsQuota,
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


class InMemorySmsQuota(SmsQuota):
    """Daily counters by (counter, key, day): both move or neither, like the transaction."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str, str], int] = {}
        self.alerted: set[tuple[str, str, str]] = set()

    def take(self, sms: SmsCount, per_number: int, per_customer: int) -> str | None:
        number, customer = (NUMBER, sms.phone_key, sms.day), (CUSTOMER, sms.customer_id, sms.day)
        if self.sent.get(number, 0) >= per_number:
            return NUMBER
        if self.sent.get(customer, 0) >= per_customer:
            return CUSTOMER
        for counter in (number, customer):
            self.sent[counter] = self.sent.get(counter, 0) + 1
        return None

    def claim_alert(self, counter: str, key: str, day: str, expires_at: datetime) -> bool:
        if (counter, key, day) in self.alerted:
            return False
        self.alerted.add((counter, key, day))
        return True

    def release_alert(self, counter: str, key: str, day: str) -> None:
        self.alerted.discard((counter, key, day))


class RecordingTriage(Triage):
    def __init__(self) -> None:
        self.items: dict[str, tuple[str, str, datetime]] = {}
        self.reasons: dict[str, TriageReason] = {}

    def triage_sms(self, sms: InboundSms, reason: TriageReason) -> None:
        self.items.setdefault(sms.message_id, (sms.sender, sms.body, sms.received_at))
        self.reasons.setdefault(sms.message_id, reason)


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
