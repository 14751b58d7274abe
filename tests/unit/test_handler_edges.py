"""Edges the event-driven handlers and the services they call really meet: a scheduled run
that dies halfway, a provider that fails once, a record delivered twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from msgspec.structs import replace

from chalicelib.adapters.objects import GuardDutyScanner
from chalicelib.domain.documents import DocumentStatus
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import open_ticket
from chalicelib.handlers.uploads import handle_scan_results
from chalicelib.service.notifications import NotificationPorts, notify, send_deferred
from chalicelib.service.ports import DeferredNotification
from tests.documents_world import BUCKET, World, guardduty_event
from tests.fakes import (
    FixedClock,
    InMemoryNotificationStore,
    InMemoryReactionLedger,
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


# --- document scan results (EventBridge -> SQS) ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [("THREATS_FOUND", "document.infected"), ("ACCESS_DENIED", "document.scan_failed")],
)
def test_an_ops_alert_sns_refused_once_is_sent_by_the_retry_once(status: str, kind: str):
    world = World(scanner=GuardDutyScanner())
    world.ports = replace(world.ports, ledger=InMemoryReactionLedger())
    ticket = world.open()
    landed = world.upload(ticket)
    message = {"messageId": "g-1", "body": json.dumps(guardduty_event(landed["key"], status))}
    world.alerts.failures = 1  # SNS refuses the first publish

    # The document is settled, the alert fails: the message is reported for a retry...
    assert handle_scan_results([message], world.ports, BUCKET) == {
        "batchItemFailures": [{"itemIdentifier": "g-1"}]
    }
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is not DocumentStatus.SCANNING
    # ... which finds it settled, and still tells ops; once, however often it comes.
    for _ in range(3):
        assert handle_scan_results([message], world.ports, BUCKET) == {"batchItemFailures": []}
    assert [(alert.kind, alert.details["document_id"]) for alert in world.alerts.sent] == [
        (kind, landed["id"])
    ]
