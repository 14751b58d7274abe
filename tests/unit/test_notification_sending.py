"""The notification reaction: once per event, with consent, quiet hours, retries and records."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from msgspec.structs import replace

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.sms import segments
from chalicelib.domain.ticket import open_ticket
from chalicelib.logs import logger
from chalicelib.service.notifications import NotificationPorts, notify, send_deferred
from chalicelib.service.ports import NotificationError
from tests.fakes import (
    FixedClock,
    InMemoryNotificationStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingOpsAlerter,
    SequentialIds,
    card_request,
)

PHONE = "+8613812348000"
EMAIL = "jane.doe@example.com"
NOON_SHANGHAI = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def _setup(contact=None, *, notifier=None, preferences=None, clock=None):
    repository = InMemoryTicketRepository()
    request = card_request(contact if contact is not None else {"phone": PHONE, "email": EMAIL})
    ticket, created = open_ticket(
        request,
        Caller(Role.CUSTOMER, "cust-1"),
        ticket_id="T-1",
        reference="SD-7K4Q9M2P",
        event_id="E-created",
        now=NOON_SHANGHAI,
    )
    repository.create(ticket, [created])
    store = InMemoryNotificationStore(repository)
    if preferences is not None:
        store.save_preferences("cust-1", preferences)
    ports = NotificationPorts(
        tickets=repository,
        store=store,
        notifier=notifier or RecordingNotifier(),
        ids=SequentialIds(),
        clock=clock or FixedClock(NOON_SHANGHAI),
        public_base_url="https://sd.bankxyz.cn.co",
        alerts=RecordingOpsAlerter(),
        sleep=lambda _: None,
    )
    return ports, created


def _records(ports):
    return [(e.type, e.data) for e in ports.tickets.events("T-1") if e.type.startswith("notif")]


def test_a_created_ticket_sends_one_sms_with_the_reference_in_one_segment():
    ports, created = _setup()
    notify(created, ports)
    [message] = ports.notifier.sent
    assert (message.channel, message.to) == ("sms", PHONE)
    assert "SD-7K4Q9M2P" in message.text and "T-1" not in message.text
    assert segments(message.text) == 1
    [(kind, data)] = _records(ports)
    assert kind == "notification.sent"
    assert data["to"] == "+86 138****8000"
    assert (data["channel"], data["template"], data["provider_message_id"]) == (
        "sms",
        "ticket.created",
        "sms-1",
    )


def test_a_redelivered_event_sends_nothing_twice():
    ports, created = _setup()
    notify(created, ports)
    notify(created, ports)
    assert len(ports.notifier.sent) == 1
    assert len(_records(ports)) == 1


def test_a_claim_left_without_an_outcome_becomes_unknown_and_alerts_ops():
    ports, created = _setup()
    ports.store.claim_delivery(created.id, NOON_SHANGHAI)  # a crash right after the claim
    notify(created, ports)
    assert ports.notifier.sent == []
    assert [kind for kind, _ in _records(ports)] == ["notification.unknown"]
    assert [a.kind for a in ports.alerts.sent] == ["notification.unknown"]
    notify(created, ports)
    assert len(ports.alerts.sent) == 1


@pytest.mark.parametrize(
    ("contact", "preferences", "reason"),
    [
        ({"phone": PHONE, "preferred": "none"}, None, "not_requested"),
        ({}, None, "no_contact"),
        ({"phone": PHONE, "email": EMAIL}, {"sms": False, "email": False}, "opted_out"),
        ({"phone": PHONE}, {"sms": False, "email": True}, "opted_out"),
    ],
)
def test_nothing_is_sent_without_consent_or_contact(contact, preferences, reason):
    ports, created = _setup(contact, preferences=preferences)
    notify(created, ports)
    assert ports.notifier.sent == []
    assert _records(ports) == [
        (
            "notification.skipped",
            {"source_event": created.id, "template": "ticket.created", "reason": reason},
        )
    ]


def test_sms_switched_off_falls_back_to_email_in_the_preferred_locale():
    ports, created = _setup(preferences={"sms": False, "email": True, "locale": "en-US"})
    notify(created, ports)
    [message] = ports.notifier.sent
    assert (message.channel, message.to) == ("email", EMAIL)
    assert message.subject is not None and "SD-7K4Q9M2P" in message.subject
    assert _records(ports)[0][1]["to"] == "j***@example.com"


def test_a_number_that_replied_stop_is_not_texted_email_is_used_instead():
    ports, created = _setup(notifier=RecordingNotifier(opted_out=frozenset({PHONE})))
    notify(created, ports)
    assert [(m.channel, m.to) for m in ports.notifier.sent] == [("email", EMAIL)]


def test_a_number_that_replied_stop_without_an_email_gets_nothing():
    ports, created = _setup(
        {"phone": PHONE}, notifier=RecordingNotifier(opted_out=frozenset({PHONE}))
    )
    notify(created, ports)
    assert ports.notifier.sent == []
    assert _records(ports)[0][1]["reason"] == "opted_out"


def test_an_overlapping_deferred_run_sends_nothing_twice():
    late = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    clock = FixedClock(late)
    quiet = {"sms": True, "email": True, "quiet_hours": {"start": "21:00", "end": "08:00"}}
    ports, created = _setup(preferences=quiet, clock=clock)
    notify(created, ports)
    clock.now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    [notice] = ports.store.deferred_due(clock.now, 10)
    assert send_deferred(ports) == 1
    ports.store.defer(notice)  # a run that crashed before forgetting it, replayed
    assert send_deferred(ports) == 0
    assert len(ports.notifier.sent) == 1


def _taken_deferred_notice(clock: FixedClock):
    """A message held back by quiet hours, due now, that a run has re-taken (pending)."""
    quiet = {"sms": True, "email": True, "quiet_hours": {"start": "21:00", "end": "08:00"}}
    ports, created = _setup(preferences=quiet, clock=clock)
    notify(created, ports)
    clock.now = datetime(2026, 11, 26, 0, 5, tzinfo=UTC)  # 08:05 in Shanghai
    [notice] = ports.store.deferred_due(clock.now, 10)
    assert ports.store.resume_deferred(notice.event_id, clock.now)
    return ports, created, notice


def test_a_deferred_run_that_died_after_taking_a_notice_does_not_drop_it_silently():
    clock = FixedClock(datetime(2026, 11, 25, 14, 30, tzinfo=UTC))
    # The run took the notice and died (a Lambda timeout, a read refused for capacity):
    # it never sent, recorded nor forgot it.
    ports, _, _ = _taken_deferred_notice(clock)
    clock.advance(minutes=16)  # a later run, past that run's longest possible life
    send_deferred(ports)
    # Whether it went out is unknown: as on the stream, the timeline and ops are told
    # (never a blind resend, never silence).
    assert [kind for kind, _ in _records(ports)] == ["notification.unknown"]
    assert [a.kind for a in ports.alerts.sent] == ["notification.unknown"]
    assert ports.store.deferred_due(clock.now, 10) == []
    send_deferred(ports)
    assert len(ports.alerts.sent) == 1 and ports.notifier.sent == []


def test_a_notice_a_live_run_is_sending_is_neither_forgotten_nor_called_unknown():
    clock = FixedClock(datetime(2026, 11, 25, 14, 30, tzinfo=UTC))
    ports, created, notice = _taken_deferred_notice(clock)  # run A holds it
    clock.advance(seconds=30)
    send_deferred(ports)  # run B, overlapping
    assert _records(ports) == [] and ports.alerts.sent == []
    assert ports.store.deferred_due(clock.now, 10) == [notice]  # if A dies, it is found
    ports.store.settle_delivery(created.id, "sent", clock.now)  # run A finishes
    send_deferred(ports)
    assert ports.store.deferred_due(clock.now, 10) == [] and ports.alerts.sent == []


def test_a_deferred_run_takes_no_notice_it_has_no_time_left_to_send():
    clock = FixedClock(datetime(2026, 11, 25, 14, 30, tzinfo=UTC))
    quiet = {"sms": True, "email": True, "quiet_hours": {"start": "21:00", "end": "08:00"}}
    ports, created = _setup(preferences=quiet, clock=clock)
    notify(created, ports)
    clock.now = datetime(2026, 11, 26, 0, 5, tzinfo=UTC)
    assert send_deferred(ports, time_left=lambda: 4.0) == 0  # the Lambda times out soon
    assert ports.store.delivery(created.id).state == "deferred"  # untouched: no unknown
    assert send_deferred(ports, time_left=lambda: 14.0) == 1  # the next run sends it
    assert len(ports.notifier.sent) == 1


def test_quiet_hours_hold_the_message_until_the_window_opens():
    late = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    clock = FixedClock(late)
    quiet = {
        "sms": True,
        "email": True,
        "locale": None,
        "quiet_hours": {"start": "21:00", "end": "08:00"},
    }
    ports, created = _setup(preferences=quiet, clock=clock)
    notify(created, ports)
    assert ports.notifier.sent == []
    assert send_deferred(ports) == 0
    clock.now = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)  # 07:59 next morning
    assert send_deferred(ports) == 0
    clock.now = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    assert send_deferred(ports) == 1
    assert len(ports.notifier.sent) == 1
    assert send_deferred(ports) == 0
    notify(created, ports)  # a late redelivery of the original event
    assert len(ports.notifier.sent) == 1


def test_throttling_is_retried_with_backoff_then_sent():
    waits: list[float] = []
    ports, created = _setup(notifier=RecordingNotifier(failures=2))
    ports = replace(ports, sleep=waits.append)
    notify(created, ports)
    assert len(ports.notifier.sent) == 1
    assert waits == [0.5, 1.0]


def test_a_provider_that_keeps_failing_is_recorded_and_alerted_never_lost():
    ports, created = _setup(notifier=RecordingNotifier(failures=10))
    notify(created, ports)
    assert ports.notifier.attempts == 3
    [(kind, data)] = _records(ports)
    assert (kind, data["reason"], data["channel"]) == ("notification.failed", "Throttling", "sms")
    assert [a.kind for a in ports.alerts.sent] == ["notification.failed"]
    assert ports.tickets.get("T-1") is not None  # the ticket is untouched


def test_a_permanent_error_is_not_retried():
    ports, created = _setup(notifier=RecordingNotifier(failures=10, retryable=False))
    notify(created, ports)
    assert ports.notifier.attempts == 1


def test_events_that_do_not_notify_claim_nothing():
    ports, created = _setup()
    note = Event(
        "E-note",
        "T-1",
        EventType.COMMENT_ADDED,
        NOON_SHANGHAI,
        Caller(Role.AGENT, "a-1"),
        {"body": "internal", "internal": True},
    )
    closed = Event(
        "E-closed",
        "T-1",
        EventType.STATUS_CHANGED,
        NOON_SHANGHAI,
        Caller(Role.SUPERVISOR, "s-1"),
        {"from": "resolved", "to": "closed"},
    )
    for event in (note, closed):
        notify(event, ports)
    assert ports.notifier.sent == []
    assert ports.store.claims == {}


def test_the_send_path_logs_no_phone_email_or_message_body():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        for preferences in (None, {"sms": False, "email": True}):
            ports, created = _setup(preferences=preferences)
            notify(created, ports)
            failing, again = _setup(notifier=RecordingNotifier(failures=10))
            notify(again, failing)
    finally:
        logger.removeHandler(handler)  # type: ignore[attr-defined]
    logged = stream.getvalue()
    assert "notification sent" in logged  # the capture works
    for secret in (PHONE, "13812348000", EMAIL, "jane.doe", "SD-7K4Q9M2P"):
        assert secret not in logged


def test_the_sns_adapter_maps_throttling_to_a_retryable_error():
    import boto3

    from chalicelib.adapters.notifications import AwsNotifier

    sns = boto3.client(
        "sns", region_name="ap-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    ses = boto3.client(
        "ses", region_name="ap-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    notifier = AwsNotifier(sns, ses, "servicedesk@bank.example", lambda: datetime.now(UTC))
    with Stubber(sns) as stub:
        stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        stub.add_response(
            "publish",
            {"MessageId": "m-1"},
            {
                "PhoneNumber": PHONE,
                "Message": "hi",
                "MessageAttributes": {
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
                },
            },
        )
        with pytest.raises(NotificationError) as raised:
            notifier.send_sms(PHONE, "hi")
        assert raised.value.retryable and raised.value.reason == "Throttling"
        assert notifier.send_sms(PHONE, "hi") == "m-1"
    with Stubber(sns) as stub:
        stub.add_client_error("publish", service_error_code="InvalidParameter")
        with pytest.raises(NotificationError) as permanent:
            notifier.send_sms(PHONE, "hi")
        assert not permanent.value.retryable
        assert permanent.value.reason == "InvalidParameter"
    assert json.dumps(permanent.value.reason)  # a short code, never the provider's text
