"""The SMS policy at the moment a message would be texted (domain/sms_policy.py).

The notifier asks once it has chosen SMS (after consent, quiet hours and the provider's
opt-out list): a number outside the allowed country codes, or a number or customer at
its daily quota, gets no SMS. The message then goes by email when the customer allows
it and gave an address (as for any SMS the customer cannot take, SPEC 7); otherwise
the notification is skipped with the policy's reason. The quota is counted before the
provider is called, so a crash between the two over-counts, never under-counts.

Ops hear of a refused number (or customer) once a day: the alert is claimed on the
day's counter item first; an alert SNS refuses is given back and logged, never raised
(the message's own outcome is already decided, and a raise would make the stream's
retry report it as unknown), so the next refusal that day alerts instead.
"""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.notifications import SMS, Choice, Preferences, choose_channel
from chalicelib.domain.sms_policy import (
    CUSTOMER,
    DESTINATION_NOT_ALLOWED,
    NUMBER,
    QUOTA_EXCEEDED,
    SmsPolicy,
    number_prefix,
    quota_day,
    quota_expiry,
)
from chalicelib.domain.ticket import Ticket
from chalicelib.logs import logger
from chalicelib.service.ports import Clock, OpsAlert, OpsAlerter, SmsCount, SmsQuota
from chalicelib.service.retries import retrying


class SmsGuard(msgspec.Struct, frozen=True):
    policy: SmsPolicy
    quota: SmsQuota | None  # None: no daily counting (the allow-list still holds)
    alerts: OpsAlerter | None
    clock: Clock


class _Refusal(msgspec.Struct, frozen=True):
    reason: str  # the notification.skipped reason
    counter: str  # whose day the alert is about: number or customer
    key: str  # the number's hash or the customer's id
    details: dict[str, str]


def guard_sms(
    choice: Choice, ticket: Ticket, preferences: Preferences | None, event_id: str, guard: SmsGuard
) -> Choice:
    """The channel once the SMS policy is heard: the SMS as chosen (now counted), email
    instead, or a skip with the policy's reason."""
    if choice.channel != SMS or choice.destination is None:
        return choice
    day = quota_day(guard.clock())
    count = SmsCount(
        phone_key(choice.destination), ticket.customer_id, day, event_id, quota_expiry(day)
    )
    refusal = _refusal(choice.destination, count, guard)
    if refusal is None:
        return choice
    _alert_once(guard, refusal, ticket.id, count)
    without_sms = replace(preferences or Preferences(), sms=False)
    fallback = choose_channel(ticket.contact, without_sms)
    return fallback if fallback.skip_reason is None else Choice(skip_reason=refusal.reason)


def _refusal(phone: str, count: SmsCount, guard: SmsGuard) -> _Refusal | None:
    policy, quota = guard.policy, guard.quota
    if not policy.allows(phone):
        prefix = {"number_prefix": number_prefix(phone)}
        return _Refusal(DESTINATION_NOT_ALLOWED, NUMBER, count.phone_key, prefix)
    if quota is None:
        return None
    full = retrying(lambda: quota.take(count, policy.per_number, policy.per_customer))
    if full is None:
        return None
    if full == NUMBER:
        details = {"counter": NUMBER, "limit": str(policy.per_number), "day": count.day}
        return _Refusal(QUOTA_EXCEEDED, NUMBER, count.phone_key, details)
    details = {"counter": CUSTOMER, "limit": str(policy.per_customer), "day": count.day}
    details["customer_id"] = count.customer_id
    return _Refusal(QUOTA_EXCEEDED, CUSTOMER, count.customer_id, details)


def _alert_once(guard: SmsGuard, refusal: _Refusal, ticket_id: str, count: SmsCount) -> None:
    alerts, quota = guard.alerts, guard.quota
    if alerts is None:
        return
    claimed = quota is None or quota.claim_alert(
        refusal.counter, refusal.key, count.day, count.expires_at
    )
    if not claimed:
        return  # this number's (or customer's) alert of the day went out already
    summary = f"SMS refused ({refusal.reason}; one alert per {refusal.counter} a day)"
    alert = OpsAlert(
        f"sms.{refusal.reason.removeprefix('sms_')}",  # sms.quota_exceeded, ...
        ticket_id,
        f"{summary} on {ticket_id}",
        {"event_id": count.event_id, **refusal.details},
    )
    try:
        alerts.alert(alert)
    except Exception:  # noqa: BLE001 - any provider failure: give the alert back, go on
        if quota is not None:
            quota.release_alert(refusal.counter, refusal.key, count.day)
        logger.warning(
            "sms refusal alert not sent",
            extra={"event_id": count.event_id, "reason": refusal.reason},
        )
