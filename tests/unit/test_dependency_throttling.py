"""Fault injection: dependencies that throttle (SNS/SES, DynamoDB capacity), through the
adapters' fakes: the desk retries, loses nothing, answers 429 to the end and tells ops.
(A dependency that is down: test_dependency_outage.py. Step Functions, the survey
starter, joins when its adapter lands: see the note in tests/fakes.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.adapters.transactions import storage_error
from chalicelib.api.problems import problem_for
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.counters import counters_for
from chalicelib.domain.errors import ThrottledError
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service import appointments, tickets
from chalicelib.service.appointments import AppointmentPorts, AppointmentRequest
from chalicelib.service.idempotency import IdempotencyKey
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.ports import StoreThrottledError
from chalicelib.service.reactions import ReactionPorts, alert_ops, count_event
from chalicelib.service.tickets import StoredResponse, TicketPorts
from tests.fakes import (
    FixedClock,
    InMemoryNotificationStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingOpsAlerter,
    SequentialIds,
    ThrottlingAppointmentStore,
    ThrottlingReactionLedger,
    ThrottlingTicketRepository,
    card_request,
)

NOON_SHANGHAI = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")

SEND_ATTEMPTS = 3  # a send is tried 3 times, then notification.failed (not the code's constant)


def _request(contact: dict[str, str]) -> TicketRequest:
    return card_request(contact)


def _opened(repository, contact):
    ticket, created = open_ticket(
        _request(contact),
        CUSTOMER,
        ticket_id="T-1",
        reference="SD-7K4Q9M2P",
        event_id="E-created",
        now=NOON_SHANGHAI,
    )
    repository.create(ticket, [created])
    return ticket, created


def _notification_ports(repository, notifier, alerts):
    return NotificationPorts(
        tickets=repository,
        store=InMemoryNotificationStore(repository),
        notifier=notifier,
        ids=SequentialIds(),
        clock=FixedClock(NOON_SHANGHAI),
        public_base_url="https://sd.bankxyz.cn.co",
        alerts=alerts,
        sleep=lambda _: None,
    )


def _records(repository):
    return [e.type for e in repository.events("T-1") if e.type.startswith("notification.")]


CHANNELS = {"sms (SNS)": {"phone": "+8613812348000"}, "email (SES)": {"email": "j@example.com"}}


@pytest.mark.parametrize("contact", CHANNELS.values(), ids=CHANNELS.keys())
def test_a_throttled_provider_is_retried_and_the_message_sent_once(contact):
    repository = ThrottlingTicketRepository()
    _, created = _opened(repository, contact)
    notifier, alerts = RecordingNotifier(failures=SEND_ATTEMPTS - 1), RecordingOpsAlerter()
    ports = _notification_ports(repository, notifier, alerts)
    notify(created, ports)
    notify(created, ports)  # the stream redelivers
    assert notifier.attempts == SEND_ATTEMPTS
    assert len(notifier.sent) == 1
    assert _records(repository) == ["notification.sent"]
    assert alerts.sent == []
    assert ports.store.delivery(created.id).state == "sent"


@pytest.mark.parametrize("contact", CHANNELS.values(), ids=CHANNELS.keys())
def test_a_provider_throttled_to_the_end_is_recorded_and_alerted_never_rolled_back(contact):
    repository = ThrottlingTicketRepository()
    ticket, created = _opened(repository, contact)
    notifier, alerts = RecordingNotifier(failures=100), RecordingOpsAlerter()
    ports = _notification_ports(repository, notifier, alerts)
    notify(created, ports)
    notify(created, ports)  # a redelivery neither resends nor alerts twice
    assert notifier.attempts == SEND_ATTEMPTS and notifier.sent == []
    assert _records(repository) == ["notification.failed"]
    [alert] = alerts.sent
    assert (alert.kind, alert.ticket_id) == ("notification.failed", "T-1")
    assert repository.get("T-1") == ticket


def _breach_event() -> Event:
    return Event(
        "E-breach", "T-1", EventType.SLA_BREACHED, NOON_SHANGHAI, SYSTEM, {"metric": "resolution"}
    )


def test_a_throttled_ops_alert_is_given_back_to_the_stream_and_sent_once_on_retry():
    alerts = RecordingOpsAlerter(failures=1)
    ports = ReactionPorts(ledger=ThrottlingReactionLedger(), alerts=alerts)
    with pytest.raises(ConnectionError):
        alert_ops(_breach_event(), ports)  # the record fails; the stream retries it
    alert_ops(_breach_event(), ports)
    alert_ops(_breach_event(), ports)  # and redelivers once more
    [alert] = alerts.sent
    assert (alert.kind, alert.ticket_id) == (EventType.SLA_BREACHED, "T-1")


def test_a_throttled_counter_write_fails_the_record_and_counts_once_on_retry():
    ledger = ThrottlingReactionLedger(throttled=1)
    repository = ThrottlingTicketRepository()
    _, created = _opened(repository, {"email": "j@example.com"})
    ports = ReactionPorts(ledger=ledger)
    with pytest.raises(StoreThrottledError):
        count_event(created, ports)
    count_event(created, ports)
    count_event(created, ports)
    for key, increment in counters_for(created).items():
        assert ledger.counter(key) == increment


def _ticket_ports(repository):
    return TicketPorts(repository=repository, ids=SequentialIds(), clock=FixedClock(NOON_SHANGHAI))


def _render(ticket):
    return StoredResponse(201, ticket.id)


def test_a_throttled_ticket_write_is_retried_and_stored_once():
    repository = ThrottlingTicketRepository(throttled=2)
    response = tickets.create_ticket(
        _ticket_ports(repository), CUSTOMER, _request({"email": "j@example.com"}), _render
    )
    assert repository.refused == 2
    assert list(repository.tickets) == [response.body]
    assert [e.type for e in repository.events(response.body)] == ["ticket.created"]


def test_a_throttled_action_is_retried_then_a_429_with_nothing_half_written():
    repository = ThrottlingTicketRepository()
    ticket, _ = _opened(repository, {"email": "j@example.com"})
    repository.throttled = 2
    assigned = tickets.act(_ticket_ports(repository), AGENT, "T-1", "assign", {})
    assert (assigned.status, repository.tickets["T-1"].version) == ("assigned", 2)
    repository.throttled = 100
    with pytest.raises(ThrottledError):
        tickets.act(_ticket_ports(repository), AGENT, "T-1", "start", {})
    assert repository.tickets["T-1"].status == "assigned"
    assert [e.type for e in repository.events("T-1")].count(EventType.STATUS_CHANGED) == 1


def test_a_throttled_create_to_the_end_stores_nothing_and_answers_429_with_retry_after():
    repository = ThrottlingTicketRepository(throttled=100)
    with pytest.raises(ThrottledError) as raised:
        tickets.create_ticket(
            _ticket_ports(repository), CUSTOMER, _request({"email": "j@example.com"}), _render
        )
    assert repository.tickets == {} and repository.event_log == {}
    response = problem_for(raised.value)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "1")
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.body)["type"] == "throttled"


@pytest.mark.parametrize(
    ("code", "reasons"),
    [
        ("ProvisionedThroughputExceededException", []),
        ("TransactionCanceledException", [None, CancellationReason(code="ThrottlingError")]),
    ],
    ids=["whole call", "one item"],
)
def test_the_adapter_turns_dynamodb_capacity_refusals_into_the_ports_error(code, reasons):
    response = {"Error": {"Code": code, "Message": "refused"}}
    cause = VerboseClientError(response, "TransactWriteItems", cancellation_reasons=reasons)
    assert isinstance(storage_error(TransactWriteError("failed", cause=cause)), StoreThrottledError)


def test_the_adapter_leaves_other_cancellations_alone():
    reasons = [CancellationReason(code="ValidationError")]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "x"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    assert storage_error(TransactWriteError("failed", cause=cause)) is None


# A branch open on weekdays; NOON_SHANGHAI is a Wednesday, the slot the next Monday at 10:00.
BRANCH = {
    "id": "BR-BJ-GMW",
    "name": "Beijing Guomao Branch",
    "name_zh": "北京国贸支行",
    "timezone": "Asia/Shanghai",
    "address": "1 Jianguomenwai Avenue",
    "counters": 2,
    "hours": {"mon-fri": ["09:00", "17:00"]},
}
MONDAY_TEN_SHANGHAI = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def _booking_ports(throttled: int) -> AppointmentPorts:
    repository = InMemoryTicketRepository()
    return AppointmentPorts(
        store=ThrottlingAppointmentStore(repository, [BRANCH], throttled=throttled),
        tickets=repository,
        ids=SequentialIds(),
        clock=FixedClock(NOON_SHANGHAI),
        calendar=BusinessCalendar,
    )


def _book(ports: AppointmentPorts, key: IdempotencyKey | None = None) -> StoredResponse:
    request = AppointmentRequest("BR-BJ-GMW", MONDAY_TEN_SHANGHAI, "account", "Open an account")
    return appointments.book(ports, CUSTOMER, request, _render, key)


def test_a_throttled_booking_is_retried_and_stored_once():
    ports = _booking_ports(throttled=2)
    key = IdempotencyKey("customer:cust-1:POST /v1/appointments", "k-1", "f")
    response = _book(ports, key)
    store = ports.store
    assert isinstance(store, ThrottlingAppointmentStore) and store.refused == 2
    assert list(store.tickets.tickets) == [response.body]
    assert sum(store.seats.values()) == 1 and len(store.reminders) == 1
    assert _book(ports, key) == response  # the key replays the one booking


def test_a_booking_throttled_to_the_end_is_a_429_with_nothing_half_written():
    ports = _booking_ports(throttled=100)
    with pytest.raises(ThrottledError) as raised:
        _book(ports)
    store = ports.store
    assert isinstance(store, ThrottlingAppointmentStore)
    assert store.tickets.tickets == {} and store.tickets.event_log == {}
    assert store.seats == {} and store.reminders == {} and store.tickets.idempotency == {}
    response = problem_for(raised.value)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "1")
