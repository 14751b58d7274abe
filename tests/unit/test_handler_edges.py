"""Edges the event-driven handlers and the services they call really meet: a scheduled run
that dies halfway, a provider that fails once, a record delivered twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import open_ticket
from chalicelib.service.notifications import NotificationPorts, notify, send_deferred
from chalicelib.service.ports import DeferredNotification
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
LATE = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai: quiet hours
MORNING = datetime(2026, 11, 26, 0, 5, tzinfo=UTC)  # 08:05 in Shanghai
QUIET = {"sms": True, "email": True, "quiet_hours": {"start": "21:00", "end": "08:00"}}


def _deferred_notice() -> tuple[NotificationPorts, FixedClock, Event, DeferredNotification]:
    """A ticket.created message held back by quiet hours, due now."""
    repository = InMemoryTicketRepository()
    ticket, created = open_ticket(
        card_request({"phone": PHONE}),
        Caller(Role.CUSTOMER, "cust-1"),
        ticket_id="T-1",
        reference="SD-7K4Q9M2P",
        event_id="E-created",
        now=LATE,
    )
    repository.create(ticket, [created])
    store = InMemoryNotificationStore()
    store.save_preferences("cust-1", QUIET)
    clock = FixedClock(LATE)
    ports = NotificationPorts(
        tickets=repository,
        store=store,
        notifier=RecordingNotifier(),
        ids=SequentialIds(),
        clock=clock,
        public_base_url="https://sd.bankxyz.cn.co",
        alerts=RecordingOpsAlerter(),
        sleep=lambda _: None,
    )
    notify(created, ports)
    clock.now = MORNING
    [notice] = store.deferred_due(MORNING, 10)
    return ports, clock, created, notice


def _outcomes(ports: NotificationPorts) -> list[str]:
    return [e.type for e in ports.tickets.events("T-1") if e.type.startswith("notification.")]


# --- the deferred-notifications schedule ---------------------------------------------------


def test_a_deferred_run_that_died_after_taking_a_notice_does_not_drop_it_silently():
    ports, clock, _, notice = _deferred_notice()
    # The run took the notice (deferred -> pending) and then died: the Lambda timed out,
    # or a DynamoDB read was refused for capacity. It never sent, recorded nor forgot it.
    assert ports.store.resume_deferred(notice.event_id, clock.now)
    clock.advance(minutes=16)  # later runs, after that run's longest possible life

    send_deferred(ports)

    # Whether the message went out is unknown: as on the stream, the timeline and ops
    # are told (never a blind resend, never silence).
    assert _outcomes(ports) == ["notification.unknown"]
    assert [alert.kind for alert in ports.alerts.sent] == ["notification.unknown"]
    assert ports.store.deferred_due(clock.now, 10) == []
    send_deferred(ports)
    assert len(ports.alerts.sent) == 1 and ports.notifier.sent == []


def test_a_notice_another_run_is_sending_now_is_neither_forgotten_nor_called_unknown():
    ports, clock, created, notice = _deferred_notice()
    assert ports.store.resume_deferred(notice.event_id, clock.now)  # run A took it
    clock.advance(seconds=30)

    send_deferred(ports)  # run B, overlapping

    assert _outcomes(ports) == [] and ports.alerts.sent == []
    assert ports.store.deferred_due(clock.now, 10) == [notice]
    ports.store.settle_delivery(created.id, "sent", clock.now)  # run A finishes
    send_deferred(ports)
    assert ports.store.deferred_due(clock.now, 10) == []
    assert ports.alerts.sent == []
