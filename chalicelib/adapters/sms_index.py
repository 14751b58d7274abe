"""The SMS the desk sent, by number, and the inbound texts handled (SPEC 12).

Keys hold the number's SHA-256 only (`SMSTO#<hash>`), never the number:

- `SMSTO#<hash>` / `AT#<time>#<event id>`: one SMS sent, kept 7 days (TTL); newest
  first is a descending key-range query (moto never expires TTL, so the query also
  bounds the time itself);
- `SMSTO#<hash>` / `CUSTOMER#<id>`: the customer the desk texted at that number, for a
  STOP reply, kept `CUSTOMER_LINK_TTL` after the last SMS;
- `SMSIN#<inboundMessageId>` / `HANDLED`: an inbound text acted on (7 days).

A text no rule matches goes to the triage inbox (service/inbox.SmsToInbox).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.adapters.mapping import fields_except, values_of
from chalicelib.adapters.models import InboundSmsItem, SmsCustomerItem, SmsSentItem
from chalicelib.service.ports import SmsIndex, SmsSent

SENT_TTL = timedelta(days=7)
CUSTOMER_LINK_TTL = timedelta(days=400)  # STOP finds customers texted in the last 13 months
HANDLED_TTL = timedelta(days=7)  # longer than SQS keeps a message (4 days by default)


def _key_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expiry(moment: datetime, ttl: timedelta) -> int:
    return int((moment + ttl).timestamp())


def sms_pk(phone_key: str) -> str:
    return f"SMSTO#{phone_key}"


def inbound_pk(message_id: str) -> str:
    return f"SMSIN#{message_id}"


# SmsSent fields the item stores under the same name, as they are.
_SENT_AS_IS = fields_except(SmsSent, "phone_key", "at")


class DynamoSmsIndex(SmsIndex):
    def remember(self, sent: SmsSent) -> None:
        SmsSentItem(
            pk=sms_pk(sent.phone_key),
            sk=f"AT#{_key_time(sent.at)}#{sent.event_id}",
            **values_of(sent, _SENT_AS_IS),
            sent_at=sent.at,
            expires_at=_expiry(sent.at, SENT_TTL),
        ).save()
        SmsCustomerItem(
            pk=sms_pk(sent.phone_key),
            sk=f"CUSTOMER#{sent.customer_id}",
            customer_id=sent.customer_id,
            last_sent_at=sent.at,
            expires_at=_expiry(sent.at, CUSTOMER_LINK_TTL),
        ).save()

    def recent(self, phone_key: str, since: datetime, limit: int) -> list[SmsSent]:
        items = SmsSentItem.query(
            sms_pk(phone_key),
            SmsSentItem.sk.between(f"AT#{_key_time(since)}", "AT#~"),
            scan_index_forward=False,
            limit=limit,
        )
        return [
            SmsSent(phone_key=phone_key, **values_of(item, _SENT_AS_IS), at=item.sent_at)
            for item in items
        ]

    def customers(self, phone_key: str) -> list[str]:
        items = SmsCustomerItem.query(sms_pk(phone_key), SmsCustomerItem.sk.startswith("CUSTOMER#"))
        return [item.customer_id for item in items]

    def forget(self, phone_key: str, customer_id: str) -> None:
        SmsCustomerItem(pk=sms_pk(phone_key), sk=f"CUSTOMER#{customer_id}").delete()
        for item in SmsSentItem.query(sms_pk(phone_key), SmsSentItem.sk.startswith("AT#")):
            if item.customer_id == customer_id:
                item.delete()

    def handled(self, message_id: str) -> bool:
        try:
            InboundSmsItem.get(inbound_pk(message_id), "HANDLED", consistent_read=True)
        except InboundSmsItem.DoesNotExist:
            return False
        return True

    def mark_handled(self, message_id: str, outcome: str, at: datetime) -> None:
        InboundSmsItem(
            pk=inbound_pk(message_id),
            sk="HANDLED",
            outcome=outcome,
            handled_at=at,
            expires_at=_expiry(at, HANDLED_TTL),
        ).save()
