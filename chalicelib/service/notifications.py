"""Telling the customer: one message per event, to the channel they allow, once.

A delivery claim is written before the provider is called. A redelivered
event finds the claim and sends nothing; a claim still `pending` on
redelivery means the earlier attempt died between claim and outcome, so it
becomes `notification.unknown` and an ops alert instead of a blind resend.

The outcome (sent, skipped, failed, unknown) has an id derived from the event it
reports on, and is written in one transaction with the claim it settles: the
first outcome wins, a redelivery never adds a second. Once the ticket is
anonymized (an erasure), nothing personal is written about it: the outcome is
written as the erasure would have left it, and a message not yet sent is not
sent (`notification.skipped`, reason `erased`). A failed or unknown outcome is written
before its ops alert, which has a claim of its own: an alert SNS refused is sent by the
redelivery, and never turns a known outcome into `unknown`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import msgspec
from msgspec.structs import replace

from chalicelib.domain.events import (
    AppointmentRescheduled,
    AppointmentSlot,
    Event,
    EventType,
    NotificationFailed,
    NotificationOutcome,
    NotificationSent,
    NotificationSkipped,
    NotificationUnknown,
    SurveyRound,
)
from chalicelib.domain.identity import SYSTEM
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.notifications import (
    DEFAULT_TIMEZONE,
    ERASED_CUSTOMER,
    Choice,
    MissingValueError,
    Preferences,
    choose_channel,
    message_locale,
    next_send_time,
    parse_quiet_hours,
    render_email,
    render_sms,
    template_for,
)
from chalicelib.domain.privacy import anonymized_event, is_erased
from chalicelib.domain.sms_policy import SmsPolicy
from chalicelib.domain.surveys import code_digest, new_code
from chalicelib.domain.ticket import Ticket
from chalicelib.logs import logger
from chalicelib.service.inbound_mail import ReplyThreading, outgoing_thread, remember_sent
from chalicelib.service.ports import (
    DeferredNotification,
    NotificationError,
    NotificationStore,
    Notifier,
    OpsAlert,
    OpsAlerter,
    ReactionLedger,
    ReplyKeysUnavailableError,
    SmsIndex,
    SmsQuota,
    SmsSent,
    SurveyCodeStore,
    TicketErasedError,
)
from chalicelib.service.retries import SEND_ATTEMPTS, SEND_BACKOFF_SECONDS, backoff, retry, retrying
from chalicelib.service.sms_guard import SmsGuard, guard_sms
from chalicelib.service.tickets import TicketAccess, TicketReads

DEFERRED_BATCH = 100
# No run lives longer (Lambda's longest timeout): a claim taken longer ago and still
# pending belongs to a run that died.
ABANDONED_AFTER = timedelta(minutes=15)
# A run takes no further notice this close to its Lambda's timeout (one send and its
# retries fit): a run killed mid-send leaves a message whose fate is unknown.
RESERVE_SECONDS = 5.0


class NotificationPorts(TicketAccess, frozen=True):
    store: NotificationStore
    notifier: Notifier
    public_base_url: str
    alerts: OpsAlerter | None = None
    sleep: Callable[[float], None] = msgspec.field(default=time.sleep)
    survey_codes: SurveyCodeStore | None = None
    # Email threading (SPEC 12): Reply-To token, In-Reply-To, and the sent ids kept.
    mail_threading: ReplyThreading | None = None
    # The SMS sent, by number: what a customer's text back is matched by (SPEC 12).
    sms_index: SmsIndex | None = None
    # Where and how often the desk texts (security review H2; service/sms_guard.py).
    sms_policy: SmsPolicy = msgspec.field(default_factory=SmsPolicy)
    sms_quota: SmsQuota | None = None
    # Claims on the ops alert a failed or unknown outcome owes (one per notice): an alert
    # SNS refused is sent by the redelivery, once. None: sent by the first attempt only.
    ledger: ReactionLedger | None = None
    # The stream batch's tickets (service/reactions.for_one_batch): a notice's own read
    # serves the batch's later reactions. None (the deferred-notice schedule): not kept.
    ticket_reads: TicketReads | None = None


def notify(event: Event, ports: NotificationPorts) -> None:
    """React to one event from the stream (idempotent by event id)."""
    template = template_for(event)
    if template is None:
        return
    if ports.store.claim_delivery(event.id, ports.clock()) is None:
        _after_redelivery(event, template, ports)
        return
    _deliver(event, template, ports, quiet_hours_checked=False)


def send_deferred(ports: NotificationPorts, time_left: Callable[[], float] | None = None) -> int:
    """Send what waited for quiet hours to end (the schedule calls this); `time_left`:
    the seconds the invocation has left, the rest waits for the next run."""
    sent = 0
    for notice in ports.store.deferred_due(ports.clock(), DEFERRED_BATCH):
        if time_left is not None and time_left() < RESERVE_SECONDS:
            break
        # Re-take the claim first: overlapping runs, or a run after a crash, send nothing twice.
        if ports.store.resume_deferred(notice.event_id, ports.clock()):
            event = ports.tickets.event(notice.ticket_id, notice.event_id)
            template = template_for(event) if event else None
            if event is not None and template is not None:
                _deliver(event, template, ports, quiet_hours_checked=True)
                sent += 1
        elif not _done_elsewhere(notice, ports):
            continue  # a run is sending it now; that run forgets the notice
        ports.store.forget_deferred(notice)
    return sent


def _done_elsewhere(notice: DeferredNotification, ports: NotificationPorts) -> bool:
    """A notice whose claim could not be re-taken: settled by another run (True), being
    sent by a run still alive (False), or taken by a run that died before settling it
    (a timeout, a refused read): that one is `notification.unknown` and an ops alert,
    as on the stream; never forgotten in silence, never resent blindly (True)."""
    claim = ports.store.delivery(notice.event_id)
    if claim is None:
        _claim_lost(notice, ports)
        return True
    if claim.state in _ALERTING:  # the alert it owes, if SNS refused it then
        event = ports.tickets.event(notice.ticket_id, notice.event_id)
        template = template_for(event) if event else None
        if event is not None and template is not None:
            _alert_owed(event, template, ports)
        return True
    if claim.state != "pending":
        return True
    if ports.clock() - claim.claimed_at < ABANDONED_AFTER:
        return False
    event = ports.tickets.event(notice.ticket_id, notice.event_id)
    template = template_for(event) if event else None
    if event is not None and template is not None:
        _after_redelivery(event, template, ports)
    return True


def _claim_lost(notice: DeferredNotification, ports: NotificationPorts) -> None:
    """A waiting notice whose claim is gone: only its expiry removes a claim, and a
    deferred claim has none, so a run re-took it and its 24 h passed (a long outage)
    before anyone settled it. Its outcome, if recorded, says what happened; without
    one, the message may or may not have gone out: `notification.unknown` and an ops
    alert, never forgotten in silence, never resent blindly."""
    if _outcome_recorded(notice, ports):
        return
    event = ports.tickets.event(notice.ticket_id, notice.event_id)
    template = template_for(event) if event else None
    if event is not None and template is not None:
        _unknown(event, template, ports)


def _outcome_recorded(notice: DeferredNotification, ports: NotificationPorts) -> bool:
    """Whether the ticket's timeline holds an outcome of the notice (a rare path: the
    claim that would say so has expired, so the ticket's events are read once)."""
    events = ports.tickets.events(notice.ticket_id)
    outcomes = (event.payload_as(NotificationOutcome) for event in events)
    return any(
        outcome is not None and outcome.source_event == notice.event_id for outcome in outcomes
    )


def customer_preferences(store: NotificationStore, customer_id: str) -> Preferences | None:
    stored = store.preferences(customer_id)
    if stored is None:
        return None
    return Preferences(
        sms=bool(stored["sms"]),
        email=bool(stored["email"]),
        locale=stored.get("locale"),
        quiet_hours=parse_quiet_hours(stored.get("quiet_hours")),
    )


def _deliver(
    event: Event, template: str, ports: NotificationPorts, *, quiet_hours_checked: bool
) -> None:
    ticket = _read_after_claim(event, ports)
    if ticket is None:
        ports.store.settle_delivery(event.id, "skipped", ports.clock())
        return
    if is_erased(ticket):
        _skipped(event, template, ERASED_CUSTOMER, ports)
        return
    preferences = customer_preferences(ports.store, ticket.customer_id)
    choice = choose_channel(ticket.contact, preferences)
    if choice.skip_reason is not None:
        _skipped(event, template, choice.skip_reason, ports)
        return
    if not quiet_hours_checked and _deferred(event, preferences, ports):
        return
    choice = after_provider_opt_out(choice, ticket, preferences, ports.notifier)
    guard = SmsGuard(ports.sms_policy, ports.sms_quota, ports.alerts, ports.clock)
    choice = guard_sms(choice, ticket, preferences, event.id, guard)
    if choice.skip_reason is not None:
        _skipped(event, template, choice.skip_reason, ports)
        return
    channel, destination = str(choice.channel), str(choice.destination)
    locale = message_locale(ticket.contact, preferences)
    values = _values(event, ticket, ports, locale)
    masked = str(choice.masked)
    outgoing = _Outgoing(
        channel, destination, masked, locale, values, ticket.customer_id, ticket_id=ticket.id
    )
    _send(event, template, ports, outgoing)


def _read_after_claim(event: Event, ports: NotificationPorts) -> Ticket | None:
    """The ticket read now, after the claim, never a copy read before it (a stream batch
    keeps one): an erasure committed before the claim is seen. The batch's later
    reactions use this read."""
    if ports.ticket_reads is not None:
        return ports.ticket_reads.fresh(event.ticket_id)
    return ports.tickets.get(event.ticket_id)


class _Outgoing(msgspec.Struct, frozen=True):
    channel: str
    destination: str
    masked: str
    locale: str
    values: Mapping[str, str]
    customer_id: str = ""
    ticket_id: str = ""


def _deferred(event: Event, preferences: Preferences | None, ports: NotificationPorts) -> bool:
    now = ports.clock()
    # An appointment's messages wait on the branch's clock; others on the bank's.
    appointment = event.payload_as(AppointmentSlot) or event.payload_as(AppointmentRescheduled)
    zone = (appointment.timezone if appointment else None) or DEFAULT_TIMEZONE
    send_at = next_send_time(now, preferences.quiet_hours if preferences else None, zone)
    if send_at <= now:
        return False
    ports.store.defer(DeferredNotification(event.id, event.ticket_id, send_at))
    ports.store.settle_delivery(event.id, "deferred", now)
    logger.info("notification deferred", extra={"event_id": event.id})
    return True


def after_provider_opt_out(
    choice: Choice, ticket: Ticket, preferences: Preferences | None, notifier: Notifier
) -> Choice:
    """The channel once the provider's opt-out list is heard: a STOP reply withdraws
    SMS consent only, so email may still be allowed."""
    if choice.channel != "sms" or not _opted_out_at_provider(str(choice.destination), notifier):
        return choice
    without_sms = replace(preferences or Preferences(), sms=False)
    fallback = choose_channel(ticket.contact, without_sms)
    return fallback if fallback.skip_reason is None else replace(fallback, skip_reason="opted_out")


def _opted_out_at_provider(phone: str, notifier: Notifier) -> bool:
    try:
        return notifier.sms_opted_out(phone)
    except NotificationError:
        return False  # the send itself will fail and be recorded if SNS is down


def _send(event: Event, template: str, ports: NotificationPorts, outgoing: _Outgoing) -> None:
    try:
        message_id = _with_retries(lambda: _provider_call(template, ports, outgoing), ports)
    except NotificationError as error:
        _failed(event, template, outgoing.channel, error.reason, ports)
        return
    except MissingValueError:
        # A template needs a value this event does not carry: retrying cannot help.
        _failed(event, template, outgoing.channel, "template_values_missing", ports)
        return
    # The number is linked before the outcome is written: an erasure that finished
    # meanwhile refuses the outcome, and the link is dropped again (_forget_sms).
    _remember_sms(event, ports, outgoing)
    sent = NotificationSent(
        source_event=event.id,
        channel=outgoing.channel,
        template=template,
        to=outgoing.masked,
        provider_message_id=message_id,
    )
    if not _record(event, ports, sent, "sent"):
        _forget_sms(ports, outgoing)
    logger.info(
        "notification sent",
        extra={"event_id": event.id, "template": template, "channel": outgoing.channel},
    )


def _remember_sms(event: Event, ports: NotificationPorts, outgoing: _Outgoing) -> None:
    """Index an SMS by its number (hashed), so a text back finds this ticket."""
    if outgoing.channel != "sms" or ports.sms_index is None:
        return
    survey_round = event.payload_as(SurveyRound)
    sent = SmsSent(
        phone_key=phone_key(outgoing.destination),
        ticket_id=event.ticket_id,
        customer_id=outgoing.customer_id,
        at=ports.clock(),
        event_id=event.id,
        survey_id=survey_round.survey_id if survey_round is not None else None,
    )
    ports.sms_index.remember(sent)


def _forget_sms(ports: NotificationPorts, outgoing: _Outgoing) -> None:
    if outgoing.channel == "sms" and ports.sms_index is not None:
        ports.sms_index.forget(phone_key(outgoing.destination), outgoing.customer_id)


def _provider_call(template: str, ports: NotificationPorts, outgoing: _Outgoing) -> str:
    if outgoing.channel == "sms":
        return ports.notifier.send_sms(
            outgoing.destination, render_sms(template, outgoing.locale, outgoing.values)
        )
    email = render_email(template, outgoing.locale, outgoing.values)
    threading = ports.mail_threading
    try:
        thread = outgoing_thread(threading, outgoing.ticket_id) if threading else None
    except ReplyKeysUnavailableError as error:
        # Without its Reply-To token a reply could not find the ticket: retry, then fail.
        raise NotificationError("reply_token_unavailable", retryable=True) from error
    message_id = ports.notifier.send_email(
        outgoing.destination, email.subject, email.text, email.html, thread
    )
    if threading is not None:
        remember_sent(threading, outgoing.ticket_id, message_id, ports.clock())
    return message_id


def _with_retries(call: Callable[[], str], ports: NotificationPorts) -> str:
    """The provider's answer; a retryable refusal is tried again after a backoff."""
    pause = backoff(ports.sleep, SEND_BACKOFF_SECONDS)
    return retry(call, attempts=SEND_ATTEMPTS, when=_retryable_send, pause=pause)


def _retryable_send(error: Exception) -> bool:
    return isinstance(error, NotificationError) and error.retryable


def _skipped(event: Event, template: str, reason: str, ports: NotificationPorts) -> None:
    skipped = NotificationSkipped(source_event=event.id, template=template, reason=reason)
    _record(event, ports, skipped, "skipped")


def _failed(
    event: Event, template: str, channel: str, reason: str, ports: NotificationPorts
) -> None:
    """The provider refused the message: `notification.failed`, then the ops alert. The
    outcome is written first: it is known now, and an alert SNS refuses (the same SNS the
    SMS went to may be down) must not turn it into `unknown` on the redelivery."""
    failed = NotificationFailed(
        source_event=event.id, channel=channel, template=template, reason=reason
    )
    _record(event, ports, failed, "failed")
    _alert_owed(event, template, ports, reason=reason)


def _after_redelivery(event: Event, template: str, ports: NotificationPorts) -> None:
    claim = ports.store.delivery(event.id)
    if claim is None:
        return
    if claim.state == "pending":
        _unknown(event, template, ports)
    elif claim.state in _ALERTING:
        _alert_owed(event, template, ports)  # if SNS refused it the first time
    # otherwise already settled: a redelivery sends nothing


def _unknown(event: Event, template: str, ports: NotificationPorts) -> None:
    _record(event, ports, NotificationUnknown(source_event=event.id, template=template), "unknown")
    _alert_owed(event, template, ports, reason="")


# The outcomes that owe ops an alert (SPEC 7), and what it says.
_ALERTING = {
    "failed": (EventType.NOTIFICATION_FAILED, "notification failed ({template}{reason})"),
    "unknown": (
        EventType.NOTIFICATION_UNKNOWN,
        "notification outcome unknown ({template}); check the provider before resending",
    ),
}
_ALERT_CLAIM = "notice-alert"


def _alert_owed(
    event: Event, template: str, ports: NotificationPorts, *, reason: str | None = None
) -> None:
    """The ops alert the notice's settled outcome owes, once. `reason` None: a redelivery
    (the first attempt wrote the outcome, and its alert may have failed): without a ledger
    it was the first attempt's to send. The claim is taken before SNS is called and given
    back if the call fails, so the stream's retry sends it instead of losing it."""
    if ports.alerts is None or (reason is None and ports.ledger is None):
        return
    claim = ports.store.delivery(event.id)
    if claim is None or claim.state not in _ALERTING:
        return  # another outcome won (a concurrent run): it alerted if it owed one
    if ports.ledger is not None and not ports.ledger.claim(event.id, _ALERT_CLAIM):
        return
    kind, summary = _ALERTING[claim.state]
    told = f", {reason}" if reason else ""
    try:
        _alert(ports, kind, event, summary.format(template=template, reason=told))
    except Exception:
        if ports.ledger is not None:
            ports.ledger.release(event.id, _ALERT_CLAIM)
        raise


def _record(
    event: Event, ports: NotificationPorts, outcome: NotificationOutcome, state: str
) -> bool:
    """Write the outcome with the claim it settles. False when the ticket was anonymized
    meanwhile: the outcome is then written as the erasure leaves records (no address,
    no reason), and the skip that says so (`erased`) as it is: it holds nothing personal.
    An outcome already there (a redelivery, a concurrent run) stays the only one."""
    now = ports.clock()
    entry = Event.of(ports.ids.event_id(), event.ticket_id, now, SYSTEM, outcome)
    try:
        retrying(
            lambda: ports.store.record_outcome(
                entry, state, now, unless_erased=not _tells_erasure(outcome)
            )
        )
    except TicketErasedError:
        retrying(
            lambda: ports.store.record_outcome(
                anonymized_event(entry) or entry, state, now, unless_erased=False
            )
        )
        return False
    return True


def _tells_erasure(outcome: NotificationOutcome) -> bool:
    return isinstance(outcome, NotificationSkipped) and outcome.reason == ERASED_CUSTOMER


def _alert(ports: NotificationPorts, kind: str, event: Event, summary: str) -> None:
    if ports.alerts is not None:
        ports.alerts.alert(
            OpsAlert(
                kind, event.ticket_id, f"{summary} on {event.ticket_id}", {"event_id": event.id}
            )
        )


def _values(event: Event, ticket: Ticket, ports: NotificationPorts, locale: str) -> dict[str, str]:
    values = {
        key: str(value)
        for key, value in event.data.items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    # A value given per locale (an appointment's branch name) is told in the message's.
    values.update(
        {
            key: str(value[locale])
            for key, value in event.data.items()
            if isinstance(value, dict) and isinstance(value.get(locale), str)
        }
    )
    values.update({"reference": ticket.reference, "public_base_url": ports.public_base_url})
    survey_round = event.payload_as(SurveyRound)
    if survey_round is not None and ports.survey_codes is not None:
        values["code"] = issue_survey_code(
            ports.survey_codes, survey_round.survey_id, ports.clock()
        )
    return values


def issue_survey_code(store: SurveyCodeStore, survey_id: str, now: datetime) -> str:
    """A fresh random code for this message; only its hash is kept, before the message
    goes out, so the link works as soon as it arrives. A message that then fails leaves
    an unused hash behind; the codes of messages already sent keep working."""
    code = new_code()
    store.add_code(survey_id, code_digest(code), now)
    return code
