"""Notification records on moto: one outcome per message written with its claim, claims
that outlast an outage, nothing personal after an erasure, the survey cooldown's expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace
from pynamodb.connection import Connection

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import ERASED_SK, ticket_pk
from chalicelib.adapters.ids import RandomIdSource
from chalicelib.adapters.models import (
    DeliveryItem,
    ErasureMarkerItem,
    PreferencesItem,
    SurveyCooldownItem,
    SurveyItem,
    get_item,
)
from chalicelib.adapters.notifications import DynamoNotificationStore
from chalicelib.adapters.surveys import SURVEY_SK, survey_pk
from chalicelib.domain.events import (
    Event,
    EventType,
    NotificationSent,
    NotificationUnknown,
)
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.mail import MailThread
from chalicelib.domain.surveys import Answer as SurveyAnswer
from chalicelib.domain.surveys import Survey, SurveyState, survey_id
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.notifications import notify
from chalicelib.service.ports import NotificationStore, TicketErasedError
from chalicelib.service.privacy import erase_customer
from chalicelib.service.tickets import IdempotencyKey, StoredResponse, act, create_ticket
from tests.fakes import RecordingNotifier
from tests.integration.repository_support import table_items

CUSTOMER = Caller(Role.CUSTOMER, "cust-notice")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
PHONE = "+8613812348000"


def _open() -> Ticket:
    request = TicketRequest(
        "web", "consultation", "card", "Card 6222 blocked", "", {"phone": PHONE}
    )
    scope = IdempotencyKey(f"customer:{CUSTOMER.id}:POST /v1/tickets", "k-1", "fp")
    ports = bootstrap.container().ticket_ports()

    def render(ticket: Ticket) -> StoredResponse:
        return StoredResponse(201, json.dumps(ticket_view(ticket, CUSTOMER)))

    body = json.loads(create_ticket(ports, CUSTOMER, request, render, scope).body)
    ticket = ports.repository.get(body["id"])
    assert ticket is not None
    return ticket


def _created(ticket: Ticket) -> Event:
    [created] = [
        e
        for e in bootstrap.container().repository.events(ticket.id)
        if e.type == EventType.TICKET_CREATED
    ]
    return created


def _cancel(ticket: Ticket) -> None:
    act(bootstrap.container().ticket_ports(), CUSTOMER, ticket.id, "cancel", {})


def _outcome(source: Event, at: datetime, *, unknown: bool = False) -> Event:
    payload: Any = (
        NotificationUnknown(source_event=source.id, template="ticket.created")
        if unknown
        else NotificationSent(
            source_event=source.id, channel="sms", template="ticket.created", to="+86 138****8000"
        )
    )
    return Event.of(RandomIdSource().event_id(), source.ticket_id, at, SYSTEM, payload)


def _outcomes(ticket: Ticket) -> list[Event]:
    events = bootstrap.container().repository.events(ticket.id)
    return [e for e in events if e.type.startswith("notification.")]


def _store() -> NotificationStore:
    return bootstrap.container().notification_store


def test_an_outcome_is_written_with_the_claim_it_settles_and_only_once(aws):
    ticket = _open()
    created = _created(ticket)
    now = ticket.created_at
    store = _store()
    assert store.claim_delivery(created.id, now) is not None

    assert store.record_outcome(_outcome(created, now), "sent", now)
    claim = store.delivery(created.id)
    assert claim is not None and claim.state == "sent"

    later = now + timedelta(minutes=5)  # a redelivery that found the claim still pending
    assert not store.record_outcome(_outcome(created, later, unknown=True), "unknown", later)
    assert [e.type for e in _outcomes(ticket)] == ["notification.sent"]
    claim = store.delivery(created.id)
    assert claim is not None and claim.state == "sent"  # nothing of the refused write


def test_no_outcome_naming_an_address_is_written_on_an_erased_ticket(aws):
    ticket = _open()
    created = _created(ticket)
    _cancel(ticket)
    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)
    now = ticket.created_at
    store = _store()
    store.claim_delivery(created.id, now)

    with pytest.raises(TicketErasedError):
        store.record_outcome(_outcome(created, now), "sent", now)
    assert _outcomes(ticket) == []
    claim = store.delivery(created.id)
    assert claim is not None and claim.state == "pending"  # nothing of the refused write

    anonymous = _outcome(created, now)
    anonymous = replace(anonymous, data={**anonymous.data, "to": ""})
    assert store.record_outcome(anonymous, "sent", now, unless_erased=False)
    assert [e.data["to"] for e in _outcomes(ticket)] == [""]


def test_an_sms_sent_while_the_erasure_runs_leaves_no_number_behind(aws):
    ticket = _open()
    created = _created(ticket)
    _cancel(ticket)

    class ErasingNotifier(RecordingNotifier):
        def send_sms(self, phone: str, text: str) -> str:
            message_id = super().send_sms(phone, text)
            erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)
            return message_id

    ports = replace(bootstrap.container().notification_ports(), notifier=ErasingNotifier())
    notify(created, ports)

    [sent] = _outcomes(ticket)
    assert (sent.type, sent.data["to"]) == (EventType.NOTIFICATION_SENT, "")
    everything = repr(table_items(aws["table_name"]))
    assert "****8000" not in everything and PHONE not in everything
    assert bootstrap.container().sms_index.customers(_phone_key()) == []


class CheckedItems:
    """The keys the ConditionChecks of each transaction name (a botocore hook)."""

    def __init__(self, connection: Connection) -> None:
        self.keys: list[tuple[str, str]] = []
        connection.client.meta.events.register("before-call.dynamodb.TransactWriteItems", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        for item in json.loads(params["body"])["TransactItems"]:
            key = item.get("ConditionCheck", {}).get("Key")
            if key is not None:
                self.keys.append((key["pk"]["S"], key["sk"]["S"]))


def test_the_outcome_checks_the_erasure_marker_not_the_whole_ticket_item(aws):
    """A check of the over-1 KB ticket item cost 4 WCU per outcome; the marker's, 2."""
    ticket = _open()  # not anonymized: only the marker can refuse the outcome
    created = _created(ticket)
    now = ticket.created_at
    connection = Connection(region=bootstrap.container().settings.region)
    checked = CheckedItems(connection)
    store = DynamoNotificationStore(connection, lambda: now)
    store.claim_delivery(created.id, now)
    marker = ErasureMarkerItem(pk=ticket_pk(ticket.id), sk=ERASED_SK)
    marker.save()

    with pytest.raises(TicketErasedError):
        store.record_outcome(_outcome(created, now), "sent", now)
    assert _outcomes(ticket) == []
    marker.delete()
    assert store.record_outcome(_outcome(created, now), "sent", now)

    assert checked.keys == [(ticket_pk(ticket.id), ERASED_SK)] * 2
    assert [e.data["to"] for e in _outcomes(ticket)] == ["+86 138****8000"]


def test_an_erasure_marks_the_ticket_for_as_long_as_its_records_are_kept(aws):
    ticket = _open()
    _cancel(ticket)
    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)
    repository = bootstrap.container().repository
    erased = repository.get(ticket.id)
    assert erased is not None
    items = {i["sk"]: i for i in table_items(aws["table_name"]) if i["pk"] == ticket_pk(ticket.id)}

    marker = items[ERASED_SK]
    retention = timedelta(days=bootstrap.container().settings.retention_days)
    # The retention from the erasure: never before the ticket's own records, which
    # expire the retention after it was closed.
    assert int(marker["expires_at"]) == int((erased.updated_at + retention).timestamp())
    assert int(marker["expires_at"]) >= int(items["#TICKET"]["expires_at"])
    # Out of the ticket's first-page Query (sk < "F"): its paging is unchanged.
    events = repository.events(ticket.id)
    _, page = repository.ticket_and_events(ticket.id, len(events) - 1, None)
    assert len(page.items) == len(events) - 1 and page.next_key is not None


def _phone_key() -> str:
    from chalicelib.domain.inbound_sms import phone_key

    return phone_key(PHONE)


def _expires_at(event_id: str) -> int | None:
    item = get_item(DeliveryItem, f"DELIVERY#{event_id}", "DELIVERY", consistent=True)
    assert item is not None
    return int(item.expires_at) if item.expires_at is not None else None


def test_a_deferred_claim_is_kept_until_a_run_takes_it_again(aws):
    # The claim expired 24 h after it was taken: a notice deferred through a long outage
    # found no claim to re-take, and the schedule forgot it.
    ticket = _open()
    created = _created(ticket)
    now = ticket.created_at
    store = _store()
    store.claim_delivery(created.id, now)
    store.settle_delivery(created.id, "deferred", now)
    assert _expires_at(created.id) is None

    taken = now + timedelta(days=3)
    assert store.resume_deferred(created.id, taken)
    assert _expires_at(created.id) == int((taken + timedelta(hours=24)).timestamp())
    settled = taken + timedelta(seconds=2)
    assert store.record_outcome(_outcome(created, settled), "sent", settled)
    assert _expires_at(created.id) == int((settled + timedelta(hours=24)).timestamp())


def _answered_survey(ticket: Ticket, at: datetime) -> None:
    store = bootstrap.container().survey_store
    name = survey_id(ticket.id, 1)
    assert store.create(
        Survey(name, ticket.id, CUSTOMER.id, 1, SurveyState.PENDING, "en-US", ticket.created_at)
    )
    SurveyItem(pk=survey_pk(name), sk=SURVEY_SK).update(
        actions=[SurveyItem.survey_state.set(SurveyState.INVITED.value)]
    )
    invited = store.get(name)
    assert invited is not None
    store.answer(invited, SurveyAnswer(5, None), at, [], None)


def test_the_survey_cooldown_expires_after_its_period_and_goes_with_an_erasure(aws):
    ticket = _open()
    _cancel(ticket)
    at = ticket.created_at + timedelta(hours=1)
    _answered_survey(ticket, at)
    cooldown = get_item(SurveyCooldownItem, f"CUSTOMER#{CUSTOMER.id}", "SURVEY_ANSWERED")
    assert cooldown is not None and cooldown.expires_at is not None
    # 30 days of cooldown and a day's margin: never gone while it still holds.
    assert int(cooldown.expires_at) == int((at + timedelta(days=31)).timestamp())

    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)

    assert bootstrap.container().survey_store.last_answered(CUSTOMER.id) is None


EMAIL = "zhang.wei.notice@example.com"


def _open_by_email() -> Ticket:
    request = TicketRequest(
        "web", "consultation", "card", "Card 6222 blocked", "", {"email": EMAIL}
    )
    ports = bootstrap.container().ticket_ports()
    body = json.loads(
        create_ticket(
            ports,
            CUSTOMER,
            request,
            lambda t: StoredResponse(201, json.dumps(ticket_view(t, CUSTOMER))),
            None,
        ).body
    )
    ticket = ports.repository.get(body["id"])
    assert ticket is not None
    return ticket


def test_an_email_sent_while_the_erasure_runs_leaves_no_address_behind(aws):
    # The send after the erasure committed (the erasure ends during the provider call):
    # what the desk writes afterwards (the outcome, the SES id kept for threading) holds
    # neither the address, its masked form, nor the subject.
    ticket = _open_by_email()
    created = _created(ticket)
    _cancel(ticket)

    class ErasingNotifier(RecordingNotifier):
        def send_email(
            self, address: str, subject: str, text: str, html: str, thread: MailThread | None = None
        ) -> str:
            message_id = super().send_email(address, subject, text, html, thread)
            erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)
            return message_id

    notifier = ErasingNotifier()
    ports = replace(bootstrap.container().notification_ports(), notifier=notifier)
    notify(created, ports)

    [message] = notifier.sent  # it was on its way already
    assert message.thread is not None and message.thread.reply_to  # threaded: SES id kept
    [sent] = _outcomes(ticket)
    assert (sent.type, sent.data["to"], sent.data["channel"]) == ("notification.sent", "", "email")
    everything = repr(table_items(aws["table_name"]))
    for personal in (EMAIL, "z***@example.com", "zhang.wei", "6222"):
        assert personal not in everything, personal


def test_a_notice_taken_after_the_erasure_committed_sends_nothing_read_before_it(aws):
    # The stream's copy of the event holds what the ticket said before the erasure; the
    # claim is taken first and the ticket read after it (a consistent read): an erasure
    # committed before the claim is seen, and nothing is rendered from that copy.
    ticket = _open()
    created = _created(ticket)
    _cancel(ticket)
    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)
    notifier = RecordingNotifier()
    notify(created, replace(bootstrap.container().notification_ports(), notifier=notifier))
    assert notifier.sent == [] and notifier.attempts == 0
    [skipped] = _outcomes(ticket)
    assert (skipped.type, skipped.data["reason"]) == ("notification.skipped", "erased")
    everything = repr(table_items(aws["table_name"]))
    assert "****8000" not in everything and PHONE not in everything


def test_preferences_are_stamped_by_the_injected_clock(aws: dict[str, Any]) -> None:
    moment = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    connection = Connection(region=bootstrap.container().settings.region)
    store = DynamoNotificationStore(connection, lambda: moment)
    store.save_preferences("cust-clock", {"sms": True, "email": False})
    item = get_item(PreferencesItem, "CUSTOMER#cust-clock", "PREFERENCES", consistent=True)
    assert item is not None and item.updated_at == moment
