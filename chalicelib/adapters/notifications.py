"""Customer notifications: SMS through SNS, email through SES, and their records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection

from chalicelib.adapters.dynamo import ERASED_SK, event_to_item, ticket_pk
from chalicelib.adapters.models import (
    DeferredItem,
    DeliveryItem,
    ErasureMarkerItem,
    EventItem,
    PreferencesItem,
)
from chalicelib.adapters.transactions import Refused, Transaction, written
from chalicelib.domain.events import Event, NotificationOutcome
from chalicelib.domain.mail import MailThread, OutgoingEmail, build_mime
from chalicelib.service.ports import (
    Clock,
    DeferredNotification,
    DeliveryClaim,
    NotificationError,
    NotificationStore,
    Notifier,
    TicketErasedError,
)

# A claim is kept this long after it was taken or settled (a redelivery within the
# stream's 24 h finds it); a claim deferred to quiet hours is kept until it is re-taken.
DELIVERY_TTL = timedelta(hours=24)
DEFERRED_PARTITION = "DEFERRED"
_RETRYABLE = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottlingException",
}


class AwsNotifier(Notifier):
    def __init__(self, sns_client: Any, ses_client: Any, sender: str, clock: Clock) -> None:
        self._sns = sns_client
        self._ses = ses_client
        self._sender = sender
        self._clock = clock  # the Date header

    def send_sms(self, phone: str, text: str) -> str:
        response = _call(
            self._sns.publish,
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
            },
        )
        return str(response["MessageId"])

    def send_email(
        self, address: str, subject: str, text: str, html: str, thread: MailThread | None = None
    ) -> str:
        thread = thread or MailThread()
        raw = build_mime(
            OutgoingEmail(
                sender=self._sender,
                to=address,
                subject=subject,
                text=text,
                html=html,
                date=self._clock(),
                reply_to=thread.reply_to,
                in_reply_to=thread.in_reply_to,
                references=thread.references,
            )
        )
        # SendRawEmail: only a raw message lets the desk set Reply-To, In-Reply-To and
        # References. The recipient comes from the To header (no Destinations list).
        response = _call(self._ses.send_raw_email, Source=self._sender, RawMessage={"Data": raw})
        return str(response["MessageId"])

    def sms_opted_out(self, phone: str) -> bool:
        response = _call(self._sns.check_if_phone_number_is_opted_out, phoneNumber=phone)
        return bool(response.get("isOptedOut"))


def _call(operation: Any, **kwargs: Any) -> Any:
    """Provider errors become NotificationError; their text never reaches a client."""
    try:
        return operation(**kwargs)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        raise NotificationError(code, retryable=code in _RETRYABLE) from error
    except BotoCoreError as error:
        raise NotificationError(type(error).__name__, retryable=True) from error


class DynamoNotificationStore(NotificationStore):
    def __init__(self, connection: Connection, clock: Clock) -> None:
        self._connection = connection  # for the transactions
        self._clock = clock

    def preferences(self, customer_id: str) -> dict[str, Any] | None:
        try:
            item = PreferencesItem.get(f"CUSTOMER#{customer_id}", "PREFERENCES")
        except PreferencesItem.DoesNotExist:
            return None
        quiet = None
        if item.quiet_start and item.quiet_end:
            quiet = {"start": item.quiet_start, "end": item.quiet_end}
        return {
            "sms": bool(item.sms),
            "email": bool(item.email),
            "locale": item.locale,
            "quiet_hours": quiet,
        }

    def save_preferences(self, customer_id: str, preferences: dict[str, Any]) -> None:
        quiet = preferences.get("quiet_hours") or {}
        PreferencesItem(
            pk=f"CUSTOMER#{customer_id}",
            sk="PREFERENCES",
            sms=int(preferences["sms"]),
            email=int(preferences["email"]),
            locale=preferences.get("locale"),
            quiet_start=quiet.get("start"),
            quiet_end=quiet.get("end"),
            updated_at=self._clock(),
        ).save()

    def claim_delivery(self, event_id: str, now: datetime) -> DeliveryClaim | None:
        item = DeliveryItem(
            pk=f"DELIVERY#{event_id}",
            sk="DELIVERY",
            state="pending",
            claimed_at=now,
            expires_at=_expiry(now),
        )
        if not written(lambda: item.save(condition=DeliveryItem.pk.does_not_exist())):
            return None
        return DeliveryClaim(event_id, "pending", now)

    def delivery(self, event_id: str) -> DeliveryClaim | None:
        try:
            item = DeliveryItem.get(f"DELIVERY#{event_id}", "DELIVERY", consistent_read=True)
        except DeliveryItem.DoesNotExist:
            return None
        return DeliveryClaim(event_id, item.state, item.claimed_at)

    def settle_delivery(self, event_id: str, state: str, now: datetime) -> None:
        DeliveryItem(pk=f"DELIVERY#{event_id}", sk="DELIVERY").update(actions=_settled(state, now))

    def record_outcome(
        self, outcome: Event, state: str, now: datetime, *, unless_erased: bool = True
    ) -> bool:
        item = event_to_item(outcome)
        about = outcome.payload_as(NotificationOutcome)
        source = about.source_event if about else ""
        try:
            with Transaction(self._connection) as writes:
                if unless_erased:
                    # Erasure writes the marker in the transaction that anonymizes the
                    # ticket, and DynamoDB orders the two transactions (both name the
                    # marker): an outcome after it is refused, one before it is found by
                    # the erasure's last read. 2 WCU; the ticket item would be 4.
                    writes.condition_check(
                        "erased",
                        ErasureMarkerItem,
                        ticket_pk(outcome.ticket_id),
                        ERASED_SK,
                        ErasureMarkerItem.pk.does_not_exist(),
                    )
                writes.save("outcome", item, condition=EventItem.pk.does_not_exist())
                # A claim that has an outcome already keeps it, whoever wrote it, and
                # nothing more is written. (A claim gone, expired: written anew.)
                writes.update(
                    "claim",
                    DeliveryItem(pk=f"DELIVERY#{source}", sk="DELIVERY"),
                    actions=[*_settled(state, now), DeliveryItem.outcome_id.set(outcome.id)],
                    condition=DeliveryItem.outcome_id.does_not_exist(),
                )
        except Refused as refused:
            if "claim" in refused.names:
                return False
            raise TicketErasedError(outcome.ticket_id) from refused
        return True

    def resume_deferred(self, event_id: str, now: datetime) -> bool:
        return written(
            lambda: DeliveryItem(pk=f"DELIVERY#{event_id}", sk="DELIVERY").update(
                actions=[
                    DeliveryItem.state.set("pending"),
                    DeliveryItem.claimed_at.set(now),
                    DeliveryItem.expires_at.set(_expiry(now)),
                ],
                condition=DeliveryItem.state == "deferred",
            )
        )

    def defer(self, notice: DeferredNotification) -> None:
        DeferredItem(
            pk=DEFERRED_PARTITION,
            sk=_deferred_sk(notice),
            event_id=notice.event_id,
            ticket_id=notice.ticket_id,
            send_at=notice.send_at,
        ).save()

    def deferred_due(self, now: datetime, limit: int) -> list[DeferredNotification]:
        items = DeferredItem.query(
            DEFERRED_PARTITION, DeferredItem.sk <= f"{_utc_key(now)}#~", limit=limit
        )
        return [DeferredNotification(i.event_id, i.ticket_id, i.send_at) for i in items]

    def forget_deferred(self, notice: DeferredNotification) -> None:
        DeferredItem(pk=DEFERRED_PARTITION, sk=_deferred_sk(notice)).delete()


def _expiry(moment: datetime) -> int:
    return int((moment + DELIVERY_TTL).timestamp())


def _settled(state: str, now: datetime) -> list[Any]:
    """A deferred claim loses its expiry: however long the schedule cannot send (an
    outage), the claim is still there to be re-taken, and the notice is never forgotten.
    Any other state is kept DELIVERY_TTL from now."""
    expiry = DeliveryItem.expires_at
    return [
        DeliveryItem.state.set(state),
        DeliveryItem.settled_at.set(now),
        expiry.remove() if state == "deferred" else expiry.set(_expiry(now)),
    ]


def _utc_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deferred_sk(notice: DeferredNotification) -> str:
    return f"{_utc_key(notice.send_at)}#{notice.event_id}"
