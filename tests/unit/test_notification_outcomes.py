"""One outcome per message, none forgotten, nothing personal after an erasure (the fakes)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from msgspec.structs import replace

from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import Ticket, open_ticket
from chalicelib.service.audit import AuditPorts
from chalicelib.service.notifications import NotificationPorts, notify, send_deferred
from chalicelib.service.ports import DeliveryClaim, TransactionConflictError
from chalicelib.service.privacy import PrivacyPorts, erase_customer
from chalicelib.service.tickets import TicketReads
from tests.fakes import (
    FixedClock,
    InMemoryAuditLog,
    InMemoryNotificationStore,
    InMemoryPrivacyStore,
    InMemoryReactionLedger,
    InMemorySurveyStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingOpsAlerter,
    SequentialIds,
    card_request,
)
from tests.fakes_sms import InMemorySmsIndex

PHONE = "+8613812348000"
MASKED = "+86 138****8000"
NOON_SHANGHAI = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
AUDITOR = Caller(Role.AUDITOR, "aud-1")
AGENT = Caller(Role.AGENT, "agent-1")
REPLY = {"body": "Your card is on its way", "internal": False, "channel": "web"}
QUIET = {"sms": True, "email": True, "quiet_hours": {"start": "21:00", "end": "08:00"}}


class LaterIds(SequentialIds):
    """Event ids that sort after the ticket's first ones, as time-ordered ids do."""

    def event_id(self) -> str:
        return "E-y" + super().event_id()[2:]


class Desk:
    def __init__(self, *, notifier: RecordingNotifier | None = None, clock=None) -> None:
        self.repository = InMemoryTicketRepository()
        self.clock = clock or FixedClock(NOON_SHANGHAI)
        ticket, self.created = open_ticket(
            card_request({"phone": PHONE}),
            Caller(Role.CUSTOMER, "cust-1"),
            ticket_id="T-1",
            reference="SD-7K4Q9M2P",
            event_id="E-created",
            now=NOON_SHANGHAI,
        )
        self.repository.create(ticket, [self.created])
        self.store = InMemoryNotificationStore(self.repository)
        self.index = InMemorySmsIndex()
        self.notifier = notifier or RecordingNotifier()
        self.alerts = RecordingOpsAlerter()
        self.ports = NotificationPorts(
            tickets=self.repository,
            store=self.store,
            notifier=self.notifier,
            ids=LaterIds(),
            clock=self.clock,
            public_base_url="https://sd.bankxyz.cn.co",
            alerts=self.alerts,
            sleep=lambda _: None,
            sms_index=self.index,
        )
        self.surveys = InMemorySurveyStore(self.repository)
        self.privacy = PrivacyPorts(
            self.repository,
            InMemoryPrivacyStore(self.repository, self.store),
            self.store,
            AuditPorts(InMemoryAuditLog(), SequentialIds(), self.clock),
            sms_index=self.index,
            survey_store=self.surveys,
        )

    def outcomes(self) -> list[Event]:
        return [e for e in self.repository.events("T-1") if e.type.startswith("notification.")]

    def cancel(self) -> None:
        ticket = self.repository.tickets["T-1"]
        self.repository.tickets["T-1"] = replace(ticket, status=Status.CANCELLED)

    def erase(self) -> None:
        erase_customer(self.privacy, AUDITOR, "cust-1")


# --- 1. one outcome per message --------------------------------------------------------


class SettleRefusedOnce(InMemoryNotificationStore):
    """A store whose first settle of a claim fails (a timeout, a refused write): nothing
    of that write lands."""

    failures = 1

    def settle_delivery(self, event_id: str, state: str, now: datetime) -> None:
        self._maybe_fail()
        super().settle_delivery(event_id, state, now)

    def record_outcome(
        self, outcome: Event, state: str, now: datetime, *, unless_erased: bool = True
    ) -> bool:
        self._maybe_fail()
        return super().record_outcome(outcome, state, now, unless_erased=unless_erased)

    def _maybe_fail(self) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("DynamoDB unavailable")


def test_a_settle_that_fails_after_sending_leaves_one_outcome_on_redelivery():
    desk = Desk()
    store = SettleRefusedOnce(desk.repository)
    ports = replace(desk.ports, store=store)
    with contextlib.suppress(ConnectionError):  # the stream delivers the record again
        notify(desk.created, ports)
    notify(desk.created, ports)
    assert len(desk.notifier.sent) == 1
    # The timeline never says both "sent" and "unknown" about one message.
    assert len(desk.outcomes()) == 1


class ConflictOnce(InMemoryNotificationStore):
    """A store whose first outcome write is cancelled by a ticket write at the same
    moment (the transaction checks the ticket item): nothing of it lands."""

    conflicts = 1

    def record_outcome(
        self, outcome: Event, state: str, now: datetime, *, unless_erased: bool = True
    ) -> bool:
        if self.conflicts:
            self.conflicts -= 1
            raise TransactionConflictError("TransactionConflict")
        return super().record_outcome(outcome, state, now, unless_erased=unless_erased)


def test_a_ticket_written_at_the_same_moment_does_not_turn_a_sent_notice_unknown():
    desk = Desk()
    store = ConflictOnce(desk.repository)
    notify(desk.created, replace(desk.ports, store=store))
    assert len(desk.notifier.sent) == 1
    assert [e.type for e in desk.outcomes()] == ["notification.sent"]
    assert desk.alerts.sent == []


def test_one_outcome_per_message_the_first_one_written_wins():
    desk = Desk()
    notify(desk.created, desk.ports)
    [sent] = desk.outcomes()
    # A run that still found the claim pending (it read it just before the settle)
    # reports the message as unknown: its outcome is refused, the first one stays.
    desk.store.claims[desk.created.id] = DeliveryClaim(desk.created.id, "pending", NOON_SHANGHAI)
    notify(desk.created, desk.ports)
    assert [e.type for e in desk.outcomes()] == ["notification.sent"]
    assert desk.outcomes()[0] == sent


def test_an_outcome_takes_its_place_at_the_end_of_the_timeline():
    # A notice sent later (quiet hours, a retry) is appended after what happened
    # meanwhile: a client paging the timeline oldest first never misses it.
    desk = Desk()
    desk.store.claim_delivery(desk.created.id, NOON_SHANGHAI)  # being sent, not yet settled
    later = Event("E-x-later", "T-1", desk.created.type, NOON_SHANGHAI, desk.created.actor, {})
    desk.repository.append_events([later])
    desk.store.claims.pop(desk.created.id)
    notify(desk.created, desk.ports)
    [sent] = desk.outcomes()
    assert [e.id for e in desk.repository.events("T-1")][-1] == sent.id


# --- 2. a long outage forgets nothing ----------------------------------------------------


def test_a_notice_whose_claim_expired_in_a_long_outage_is_not_forgotten_silently():
    clock = FixedClock(datetime(2026, 11, 25, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    desk = Desk(clock=clock)
    desk.store.save_preferences("cust-1", QUIET)
    notify(desk.created, desk.ports)
    clock.now = datetime(2026, 11, 26, 0, 5, tzinfo=UTC)  # 08:05: a run re-takes it, dies
    [notice] = desk.store.deferred_due(clock.now, 10)
    assert desk.store.resume_deferred(notice.event_id, clock.now)
    clock.advance(hours=30)  # no run for 30 h: the claim's 24 h passed, TTL removed it
    del desk.store.claims[notice.event_id]
    send_deferred(desk.ports)
    assert [e.type for e in desk.outcomes()] == ["notification.unknown"]
    assert [a.kind for a in desk.alerts.sent] == ["notification.unknown"]
    assert desk.store.deferred_due(clock.now, 10) == [] and desk.notifier.sent == []
    send_deferred(desk.ports)
    notify(desk.created, desk.ports)  # nor told twice
    assert len(desk.outcomes()) == 1 and len(desk.alerts.sent) == 1


def test_a_notice_settled_before_its_claim_expired_is_forgotten_without_an_alert():
    clock = FixedClock(datetime(2026, 11, 25, 14, 30, tzinfo=UTC))
    desk = Desk(clock=clock)
    desk.store.save_preferences("cust-1", QUIET)
    notify(desk.created, desk.ports)
    clock.now = datetime(2026, 11, 26, 0, 5, tzinfo=UTC)
    [notice] = desk.store.deferred_due(clock.now, 10)
    assert send_deferred(desk.ports) == 1
    desk.store.defer(notice)  # that run died before forgetting it; then a long outage
    clock.advance(hours=30)
    del desk.store.claims[notice.event_id]
    send_deferred(desk.ports)
    assert [e.type for e in desk.outcomes()] == ["notification.sent"]
    assert desk.alerts.sent == [] and desk.store.deferred_due(clock.now, 10) == []


@pytest.mark.parametrize("ledger", [True, False], ids=["alert-claimed", "no-ledger"])
def test_a_refused_message_whose_ops_alert_fails_stays_failed_and_is_alerted_once(ledger):
    # SPEC 7: a refused message is `notification.failed`. Its ops alert went out before
    # the outcome was written, so an SNS that refused the alert too (one outage takes
    # both) failed the record, and its redelivery found the claim pending: `unknown`.
    desk = Desk(notifier=RecordingNotifier(failures=100, retryable=False))
    alerts = RecordingOpsAlerter(failures=1)
    ports = replace(desk.ports, alerts=alerts, ledger=InMemoryReactionLedger() if ledger else None)
    with pytest.raises(ConnectionError):  # the record fails: the stream delivers it again
        notify(desk.created, ports)
    notify(desk.created, ports)
    notify(desk.created, ports)  # and once more
    assert [e.type for e in desk.outcomes()] == ["notification.failed"]
    assert desk.notifier.attempts == 1  # refused for good: never resent
    if ledger:  # without claims on it, the first attempt's alert is not sent again
        assert [a.kind for a in alerts.sent] == ["notification.failed"]


def test_an_unknown_outcome_whose_ops_alert_fails_is_alerted_once_on_the_retry():
    desk = Desk()
    desk.store.claim_delivery(desk.created.id, NOON_SHANGHAI)  # a run died mid-send
    alerts = RecordingOpsAlerter(failures=1)
    ports = replace(desk.ports, alerts=alerts, ledger=InMemoryReactionLedger())
    with pytest.raises(ConnectionError):
        notify(desk.created, ports)
    notify(desk.created, ports)
    notify(desk.created, ports)
    assert [e.type for e in desk.outcomes()] == ["notification.unknown"]
    assert [a.kind for a in alerts.sent] == ["notification.unknown"]
    assert desk.notifier.sent == []


# --- 3. a notification racing an erasure --------------------------------------------------


def _personal(desk: Desk) -> list[str]:
    text = repr(desk.repository.events("T-1"))
    return [form for form in (MASKED, "8000", PHONE) if form in text]


def test_nothing_is_sent_about_an_erased_ticket_and_the_skip_says_why():
    desk = Desk()
    desk.cancel()
    desk.erase()
    notify(desk.created, desk.ports)  # the stream's copy arrives after the erasure
    assert desk.notifier.sent == []
    [skipped] = desk.outcomes()
    assert (skipped.type, skipped.data["reason"]) == ("notification.skipped", "erased")


class ErasingNotifier(RecordingNotifier):
    """The erasure finishes while the provider is sending."""

    erase: Callable[[], None] | None = None

    def send_sms(self, phone: str, text: str) -> str:
        message_id = super().send_sms(phone, text)
        if self.erase is not None:
            self.erase()
        return message_id


def test_an_outcome_written_after_the_erasure_finished_keeps_nothing_personal():
    notifier = ErasingNotifier()
    desk = Desk(notifier=notifier)
    desk.cancel()
    notifier.erase = desk.erase
    notify(desk.created, desk.ports)
    [sent] = desk.outcomes()
    # It went out before the erasure ended: the timeline says so, without the address.
    assert (sent.type, sent.data["to"], sent.data["channel"]) == ("notification.sent", "", "sms")
    assert _personal(desk) == []
    assert desk.index.sent == []  # the number no longer leads to the erased customer


def test_a_notice_claimed_after_an_erasure_never_uses_a_copy_read_before_it():
    """A stream batch keeps the ticket it read for its counters and export; a notice of
    that batch reads the ticket again after taking its claim, so an erasure committed
    in between is seen: nothing is sent."""
    desk = Desk()
    desk.cancel()
    reads = TicketReads(desk.repository)
    reads.get("T-1")  # the batch's counters read it: not erased yet
    desk.erase()
    reply = Event("E-reply", "T-1", EventType.COMMENT_ADDED, NOON_SHANGHAI, AGENT, REPLY)

    notify(reply, replace(desk.ports, ticket_reads=reads))

    assert desk.notifier.sent == [] and desk.notifier.attempts == 0
    [skipped] = desk.outcomes()
    assert (skipped.type, skipped.data["reason"]) == ("notification.skipped", "erased")
    erased = reads.get("T-1")  # the batch's later reactions get the notice's read
    assert erased is not None and erased.subject == "[erased]"


class NotifyingPrivacyStore(InMemoryPrivacyStore):
    """A notification settles between the erasure's read and its write."""

    notice: Callable[[], None] | None = None

    def anonymize_ticket(
        self, expected_version: int, changed: Ticket, rewritten: list[Event], added: list[Event]
    ) -> None:
        notice, self.notice = self.notice, None
        if notice is not None:
            notice()
        super().anonymize_ticket(expected_version, changed, rewritten, added)


def test_an_outcome_written_while_the_erasure_ran_is_erased_too():
    desk = Desk()
    desk.cancel()
    store = NotifyingPrivacyStore(desk.repository, desk.store)
    store.notice = lambda: notify(desk.created, desk.ports)
    desk.privacy = replace(desk.privacy, store=store)
    desk.erase()
    [sent] = desk.outcomes()
    assert sent.type == "notification.sent" and sent.data["to"] == ""
    assert _personal(desk) == []
    assert desk.index.sent == []


def test_rewriting_late_records_changes_nothing_of_the_anonymized_ticket():
    # Spec review 2, Low 12: the second pass raised the ticket's version with no event,
    # though only its timeline-only records changed.
    desk = Desk()
    desk.cancel()
    before = desk.repository.tickets["T-1"].version
    store = NotifyingPrivacyStore(desk.repository, desk.store)
    store.notice = lambda: notify(desk.created, desk.ports)
    desk.privacy = replace(desk.privacy, store=store)
    desk.erase()
    assert desk.repository.tickets["T-1"].version == before + 1  # the anonymization only
    [sent] = desk.outcomes()
    assert sent.data["to"] == ""  # the late record is rewritten all the same
    ticket_changes = [e for e in desk.repository.events("T-1") if e.type == "ticket.anonymized"]
    assert len(ticket_changes) == 1


# --- 4. the survey cooldown goes with the erasure -------------------------------------


def test_erasure_drops_when_the_customer_last_answered_a_survey():
    desk = Desk()
    desk.cancel()
    desk.surveys.answered_at["cust-1"] = NOON_SHANGHAI
    desk.erase()
    assert desk.surveys.last_answered("cust-1") is None
