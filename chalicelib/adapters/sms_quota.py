"""Daily SMS counters (security review H2): one item per number and per customer a day.

- `SMSQUOTA#NUMBER#<sha256 of the number>` / `DAY#<yyyy-mm-dd>`
- `SMSQUOTA#CUSTOMER#<customer id>` / `DAY#<yyyy-mm-dd>`

`sent` counts the SMS of that day (the bank's day, Asia/Shanghai); `alerted_at` marks the
day's one ops alert. Both items of a message are counted in one TransactWriteItems,
each an UpdateItem `ADD sent 1` conditional on `sent < limit`: both counters move or
neither does, and two messages at the same moment cannot both take the last one. The
items expire (TTL) two days after their day began; a new day is a new key, so nothing
depends on when DynamoDB deletes them.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.expressions.update import Action

from chalicelib.adapters.models import SmsQuotaItem
from chalicelib.adapters.transactions import Refused, Transaction, written
from chalicelib.domain.sms_policy import CUSTOMER, NUMBER
from chalicelib.service.ports import Clock, SmsCount, SmsQuota


def quota_pk(counter: str, key: str) -> str:
    """`counter`: number (key: the number's SHA-256) or customer (key: their id)."""
    return f"SMSQUOTA#{counter.upper()}#{key}"


def _day_sk(day: str) -> str:
    return f"DAY#{day}"


def _item(counter: str, key: str, day: str) -> SmsQuotaItem:
    return SmsQuotaItem(pk=quota_pk(counter, key), sk=_day_sk(day))


class DynamoSmsQuota(SmsQuota):
    def __init__(self, connection: Connection, clock: Clock) -> None:
        self._connection = connection  # for the transaction
        self._clock = clock

    def take(self, sms: SmsCount, per_number: int, per_customer: int) -> str | None:
        expires_at = int(sms.expires_at.timestamp())
        try:
            with Transaction(self._connection) as writes:
                for counter, key, limit in (
                    (NUMBER, sms.phone_key, per_number),
                    (CUSTOMER, sms.customer_id, per_customer),
                ):
                    writes.update(
                        counter,
                        _item(counter, key, sms.day),
                        # The event id makes each message's write (and its request
                        # token) its own: two SMS a minute apart are two counts.
                        actions=[
                            SmsQuotaItem.item_type.set(SmsQuotaItem),
                            SmsQuotaItem.sent.add(1),
                            SmsQuotaItem.last_event_id.set(sms.event_id),
                            SmsQuotaItem.expires_at.set(expires_at),
                        ],
                        condition=SmsQuotaItem.sent.does_not_exist() | (SmsQuotaItem.sent < limit),
                    )
        except Refused as refused:
            return NUMBER if NUMBER in refused.names else CUSTOMER
        return None

    def claim_alert(self, counter: str, key: str, day: str, expires_at: datetime) -> bool:
        item = _item(counter, key, day)
        actions: list[Action] = [
            SmsQuotaItem.item_type.set(SmsQuotaItem),
            SmsQuotaItem.alerted_at.set(self._clock()),
            SmsQuotaItem.expires_at.set(int(expires_at.timestamp())),
        ]
        return written(
            lambda: item.update(actions=actions, condition=SmsQuotaItem.alerted_at.does_not_exist())
        )

    def release_alert(self, counter: str, key: str, day: str) -> None:
        _item(counter, key, day).update(actions=[SmsQuotaItem.alerted_at.remove()])

    def count(self, counter: str, key: str, day: str) -> int:
        """The day's count (0 before its first SMS): for tests and ops."""
        try:
            item = SmsQuotaItem.get(quota_pk(counter, key), _day_sk(day), consistent_read=True)
        except SmsQuotaItem.DoesNotExist:
            return 0
        return int(item.sent or 0)
