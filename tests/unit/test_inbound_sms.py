"""Inbound SMS (SPEC 12): what a text means, and what it does to tickets, surveys and
preferences (fakes; the same flow runs on moto in tests/integration)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import (
    InboundSms,
    MalformedSmsError,
    SmsIntent,
    derived_event_id,
    intent_of,
    parse_inbound,
    phone_key,
    survey_score,
)
from chalicelib.domain.inbox import Outcome, TriageReason
from chalicelib.domain.lifecycle import apply_action
from chalicelib.domain.surveys import SurveyState, survey_id
from chalicelib.domain.ticket import Ticket, open_ticket
from chalicelib.service import surveys
from chalicelib.service.audit import AuditPorts
from chalicelib.service.inbound_sms import InboundSmsPorts, receive_sms
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.privacy import PrivacyPorts, erase_customer
from chalicelib.service.surveys import SurveyPorts
from chalicelib.service.tickets import TicketPorts
from local.sms import inbound_payload
from tests.fakes import (
    FixedClock,
    InMemoryAuditLog,
    InMemoryNotificationStore,
    InMemoryPrivacyStore,
    InMemorySurveyStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingWorkflow,
    SequentialIds,
    card_request,
)
from tests.fakes_sms import InMemorySmsIndex, RecordingTriage

PHONE = "+8613812348000"
OTHER_PHONE = "+8613912349000"
AGENT = Caller(Role.AGENT, "a-1")
RECEIVED = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)

# --- reading a text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["STOP", "stop", " Stop \n", "TD", "td", "T", "t", "退订", " 退订 ", "ＳＴＯＰ", "ｔｄ"]
)
def test_stop_words_in_any_case_trimmed_and_full_width_opt_out(text: str) -> None:
    assert intent_of(text) is SmsIntent.OPT_OUT


@pytest.mark.parametrize("text", ["STOP please", "STOPP", "TT", "退订吧", "S T O P"])
def test_other_words_are_not_an_opt_out(text: str) -> None:
    assert intent_of(text) is SmsIntent.TEXT


@pytest.mark.parametrize(
    ("text", "score"), [("1", 1), ("5", 5), (" 3 ", 3), ("５", 5), ("１", 1), ("4\n", 4), ("⑤", 5)]
)
def test_one_digit_one_to_five_is_a_score_full_width_too(text: str, score: int) -> None:
    assert intent_of(text) is SmsIntent.SURVEY_SCORE
    assert survey_score(text) == score


@pytest.mark.parametrize("text", ["5 stars", "0", "6", "05", "55", "5.", "٥", "five"])
def test_anything_else_with_a_digit_is_text(text: str) -> None:
    assert intent_of(text) is SmsIntent.TEXT
    assert survey_score(text) is None


@pytest.mark.parametrize("text", ["", " ", "\n\t", "\u3000"])
def test_white_space_only_is_empty(text: str) -> None:
    assert intent_of(text) is SmsIntent.EMPTY


def _aws_payload(**overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "originationNumber": PHONE,
        "destinationNumber": "+8610690000",
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": "Thanks",
        "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        "previousPublishedMessageId": "wJ0Cu2A3Wkbb5O1iv4ziyqwUVVf6Ch9Gw+lBBhiOaIWh4N6EEn0",
    }
    payload.update(overrides)
    return payload


def test_aws_payload_reads_raw_and_inside_an_sns_envelope() -> None:
    raw = json.dumps(_aws_payload())
    envelope = json.dumps({"Type": "Notification", "MessageId": "m", "Message": raw})
    for body in (raw, envelope):
        sms = parse_inbound(body, RECEIVED)
        assert (sms.sender, sms.body, sms.message_id) == (
            PHONE,
            "Thanks",
            "cae173d2-66b9-564c-8309-21f858e9fb84",
        )
        assert sms.keyword == "KEYWORD_123456789012"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ("not json", {"body"}),
        ("[1]", {"body"}),
        (json.dumps(_aws_payload(originationNumber="+86 138")), {"originationNumber"}),
        (json.dumps(_aws_payload(originationNumber="")), {"originationNumber"}),
        (json.dumps(_aws_payload(inboundMessageId=None)), {"inboundMessageId"}),
        (json.dumps(_aws_payload(messageBody=5)), {"messageBody"}),
    ],
)
def test_a_poison_message_names_what_is_wrong(body: str, fields: set[str]) -> None:
    with pytest.raises(MalformedSmsError) as raised:
        parse_inbound(body, RECEIVED)
    assert isinstance(raised.value, ValidationError)
    assert {error.path for error in raised.value.errors} == fields
    assert PHONE[3:] not in str(raised.value)


def test_a_missing_body_is_an_empty_text() -> None:
    payload = _aws_payload()
    del payload["messageBody"]
    assert parse_inbound(json.dumps(payload), RECEIVED).body == ""


def test_the_index_key_is_a_hash_not_the_number() -> None:
    key = phone_key(PHONE)
    assert len(key) == 64 and "13812348000" not in key
    assert phone_key(f" {PHONE} ") == key != phone_key(OTHER_PHONE)


def test_derived_event_ids_repeat_for_the_same_message_and_sort_by_time() -> None:
    first = derived_event_id(RECEIVED, "m-1", "T-1")
    assert first == derived_event_id(RECEIVED, "m-1", "T-1") != derived_event_id(RECEIVED, "m-1")
    later = derived_event_id(RECEIVED + timedelta(milliseconds=1), "m-0", "T-1")
    assert first.startswith("E-") and len(first) == 28 and first < later


# --- what a text does -------------------------------------------------------------------------


class Desk:
    """Tickets, surveys and notifications on fakes; SMS sent are indexed by number."""

    def __init__(self) -> None:
        self.repository = InMemoryTicketRepository()
        self.survey_store = InMemorySurveyStore(self.repository)
        self.preferences = InMemoryNotificationStore(self.repository)
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.index = InMemorySmsIndex()
        self.triage = RecordingTriage()
        self.notifier = RecordingNotifier()
        self.messages = NotificationPorts(
            tickets=self.repository,
            store=self.preferences,
            notifier=self.notifier,
            ids=self.ids,
            clock=self.clock,
            public_base_url="https://sd.bankxyz.cn",
            survey_codes=self.survey_store,
            sms_index=self.index,
        )
        self.surveys = SurveyPorts(
            tickets=self.repository,
            surveys=self.survey_store,
            workflow=RecordingWorkflow(),
            notifications=self.preferences,
            ids=self.ids,
            clock=self.clock,
            delay=timedelta(hours=2),
            window=timedelta(hours=72),
        )
        self.ports = InboundSmsPorts(
            tickets=TicketPorts(self.repository, self.ids, self.clock),
            surveys=self.surveys,
            preferences=self.preferences,
            index=self.index,
            triage=self.triage,
        )
        self.texts = 0

    def open(self, customer: str = "c-1", phone: str = PHONE, preferred: str = "sms") -> Ticket:
        contact = {"phone": phone, "email": "jane@example.com", "preferred": preferred}
        request = card_request(contact)
        ticket, created = open_ticket(
            request,
            Caller(Role.CUSTOMER, customer),
            ticket_id=self.ids.ticket_id(),
            reference=self.ids.reference(),
            event_id=self.ids.event_id(),
            now=self.clock(),
        )
        self.repository.create(ticket, [created])
        notify(created, self.messages)  # the desk texts the customer: indexed
        return ticket

    def act(self, ticket: Ticket, *steps: tuple[str, dict[str, str]]) -> list[Event]:
        events: list[Event] = []
        for action, params in steps:
            current = self.repository.get(ticket.id)
            assert current is not None
            changed, written = apply_action(
                current, action, params, AGENT, now=self.clock(), new_event_id=self.ids.event_id
            )
            self.repository.commit(current.id, current.version, changed, written)
            events.extend(written)
        return events

    def waiting(self, ticket: Ticket) -> None:
        asked = self.act(
            ticket, ("assign", {}), ("start", {}), ("request_info", {"message": "Which card?"})
        )
        for event in asked:
            notify(event, self.messages)

    def text(self, body: str, phone: str = PHONE, message_id: str | None = None) -> str:
        self.texts += 1
        sms = InboundSms(
            message_id=message_id or f"in-{self.texts}",
            sender=phone,
            recipient="+8610690000",
            body=body,
            received_at=self.clock(),
        )
        return receive_sms(self.ports, sms)

    def status(self, ticket: Ticket) -> str:
        current = self.repository.get(ticket.id)
        assert current is not None
        return str(current.status)

    def comments(self, ticket: Ticket) -> list[Event]:
        return [e for e in self.repository.events(ticket.id) if e.type == "comment.added"]

    def of_type(self, ticket: Ticket, kind: str) -> list[Event]:
        return [e for e in self.repository.events(ticket.id) if e.type == kind]


@pytest.fixture
def desk() -> Desk:
    return Desk()


def test_sent_sms_are_indexed_by_hashed_number_with_ticket_and_customer(desk: Desk) -> None:
    ticket = desk.open()
    [sent] = desk.index.sent
    assert (sent.phone_key, sent.ticket_id, sent.customer_id) == (
        phone_key(PHONE),
        ticket.id,
        "c-1",
    )
    assert sent.survey_id is None


def test_an_email_is_not_indexed(desk: Desk) -> None:
    desk.preferences.save_preferences("c-1", {"sms": False, "email": True})
    desk.open()
    assert [m.channel for m in desk.notifier.sent] == ["email"]
    assert desk.index.sent == []


def test_a_reply_moves_a_waiting_ticket_to_in_progress(desk: Desk) -> None:
    ticket = desk.open()
    desk.waiting(ticket)
    desk.clock.advance(hours=1)
    assert desk.text("  The one ending 4242 ") == Outcome.COMMENTED
    [comment] = desk.comments(ticket)
    assert comment.data == {"body": "The one ending 4242", "internal": False, "channel": "sms"}
    assert list(comment.data) == ["body", "internal", "channel"]  # the stored map's order
    assert comment.actor == Caller(Role.CUSTOMER, "c-1")
    assert desk.status(ticket) == "in_progress"
    moved = desk.of_type(ticket, "ticket.status_changed")[-1]
    assert (moved.data["from"], moved.data["to"], moved.data["action"]) == (
        "waiting_on_customer",
        "in_progress",
        "comment",
    )
    assert desk.triage.items == {}


def test_a_redelivered_reply_is_one_comment(desk: Desk) -> None:
    ticket = desk.open()
    assert desk.text("hello", message_id="m-1") == Outcome.COMMENTED
    assert desk.text("hello", message_id="m-1") == Outcome.DUPLICATE
    desk.index.outcomes.clear()  # a crash after the comment, before the mark
    assert desk.text("hello", message_id="m-1") == Outcome.COMMENTED
    assert len(desk.comments(ticket)) == 1


def test_the_most_recent_sms_decides_between_open_tickets(desk: Desk) -> None:
    older = desk.open()
    desk.clock.advance(minutes=5)
    newer = desk.open()
    desk.clock.advance(minutes=5)
    desk.waiting(older)  # the last SMS is about the older ticket now
    desk.text("about my card")
    assert len(desk.comments(older)) == 1 and desk.comments(newer) == []


def test_an_sms_about_a_closed_ticket_is_passed_over(desk: Desk) -> None:
    first = desk.open()
    desk.clock.advance(minutes=5)
    second = desk.open()
    desk.act(second, ("cancel", {"reason": "duplicate"}))
    assert desk.text("still there?") == Outcome.COMMENTED
    assert len(desk.comments(first)) == 1


def test_a_reply_after_seven_days_goes_to_triage(desk: Desk) -> None:
    desk.open()
    desk.clock.advance(days=7, seconds=1)
    assert desk.text("late reply", message_id="m-late") == Outcome.TRIAGED
    assert desk.triage.items["m-late"][:2] == (PHONE, "late reply")


def test_a_stranger_and_an_empty_text_go_to_triage(desk: Desk) -> None:
    ticket = desk.open()
    assert desk.text("who is this?", phone=OTHER_PHONE, message_id="m-x") == Outcome.TRIAGED
    assert desk.text("   ", message_id="m-empty") == Outcome.TRIAGED
    assert set(desk.triage.items) == {"m-x", "m-empty"}
    assert desk.comments(ticket) == []


@pytest.mark.parametrize("sender", ["10086", "95588", "BANKCN"])
def test_a_short_code_or_sender_id_is_read_and_triaged_never_a_customers_reply(
    desk: Desk, sender: str
) -> None:
    # A carrier's or another bank's service number texting the desk's number: not E.164,
    # so no customer the desk texted; staff see it in triage (it was a poison message once,
    # retried into the dead-letter queue and its alarm).
    sms = parse_inbound(json.dumps(_aws_payload(originationNumber=sender)), RECEIVED)
    assert (sms.sender, sms.from_phone) == (sender, False)
    desk.open(phone="+8613812348000")
    for body in ("5", "STOP", "您的话费余额不足"):
        assert desk.text(body, phone=sender, message_id=f"m-{body}") == Outcome.TRIAGED
    assert [item[0] for item in desk.triage.items.values()] == [sender] * 3


@pytest.mark.parametrize("word", ["TD", "stop", "退订", "ｔ"])
def test_stop_switches_sms_off_for_every_customer_texted_at_that_number(
    desk: Desk, word: str
) -> None:
    desk.preferences.save_preferences("c-1", {"sms": True, "email": True, "locale": "en-US"})
    mine = desk.open("c-1")
    spouse = desk.open("c-2")  # the same phone on another customer's ticket
    stranger = desk.open("c-3", phone=OTHER_PHONE)
    desk.act(spouse, ("cancel", {"reason": "duplicate"}))
    assert desk.text(word, message_id="m-stop") == Outcome.OPTED_OUT
    assert desk.preferences.preferences("c-1") == {"sms": False, "email": True, "locale": "en-US"}
    assert desk.preferences.preferences("c-2") == {
        "sms": False,
        "email": True,
        "locale": None,
        "quiet_hours": None,
    }
    assert desk.preferences.preferences("c-3") is None
    [opted_out] = desk.of_type(mine, "notification.opted_out")
    assert opted_out.data == {"channel": "sms"}
    assert desk.of_type(spouse, "notification.opted_out") == []  # cancelled: not open
    assert desk.of_type(stranger, "notification.opted_out") == []
    desk.index.outcomes.clear()  # delivered again after a crash
    desk.text(word, message_id="m-stop")
    assert len(desk.of_type(mine, "notification.opted_out")) == 1


def test_stop_also_reaches_customers_whose_tickets_use_the_number_never_texted_at_it(
    desk: Desk,
) -> None:
    """SPEC 12: every customer whose tickets use that number. c-2's ticket has the number
    but prefers email: the desk never texted c-2 there, and the STOP still speaks for c-2."""
    desk.open("c-1")  # texted at the number
    emailed = desk.open("c-2", preferred="email")
    desk.preferences.save_preferences("c-2", {"sms": True, "email": True, "locale": "zh-CN"})
    assert [m.channel for m in desk.notifier.sent] == ["sms", "email"]
    assert desk.index.customers(phone_key(PHONE)) == ["c-1"]

    assert desk.text("STOP", message_id="m-stop") == Outcome.OPTED_OUT

    assert desk.preferences.preferences("c-2") == {"sms": False, "email": True, "locale": "zh-CN"}
    [opted_out] = desk.of_type(emailed, "notification.opted_out")
    assert opted_out.data == {"channel": "sms"}
    assert opted_out.actor == Caller(Role.CUSTOMER, "c-2")
    desk.index.outcomes.clear()  # delivered again after a crash
    assert desk.text("STOP", message_id="m-stop") == Outcome.OPTED_OUT
    assert len(desk.of_type(emailed, "notification.opted_out")) == 1
    assert desk.preferences.preferences("c-2") == {"sms": False, "email": True, "locale": "zh-CN"}


def test_a_ticket_opened_before_the_phone_lookup_is_reached_through_the_sms_index(
    desk: Desk,
) -> None:
    old = desk.open("c-1")
    desk.repository.phones.clear()  # opened before the lookup was written with tickets
    assert desk.text("TD") == Outcome.OPTED_OUT
    assert desk.preferences.preferences("c-1") == {
        "sms": False,
        "email": True,
        "locale": None,
        "quiet_hours": None,
    }
    assert len(desk.of_type(old, "notification.opted_out")) == 1


def test_stop_from_a_number_only_another_tickets_contact_uses_touches_no_one_else(
    desk: Desk,
) -> None:
    desk.open("c-1", preferred="email")
    desk.open("c-3", phone=OTHER_PHONE, preferred="email")
    assert desk.text("退订", phone=OTHER_PHONE) == Outcome.OPTED_OUT
    assert desk.preferences.preferences("c-1") is None
    assert desk.preferences.preferences("c-3") is not None


def test_after_stop_the_desk_writes_by_email(desk: Desk) -> None:
    ticket = desk.open()
    desk.text("TD")
    for event in desk.act(ticket, ("assign", {}), ("start", {}), ("resolve", {"resolution": "x"})):
        notify(event, desk.messages)
    assert [m.channel for m in desk.notifier.sent] == ["sms", "email"]


def _survey_sent_by_sms(desk: Desk) -> tuple[Ticket, str]:
    ticket = desk.open()
    resolved = desk.act(ticket, ("assign", {}), ("start", {}), ("resolve", {"resolution": "ok"}))
    surveys.start_survey(resolved[-1], desk.surveys)
    name = survey_id(ticket.id, 1)
    survey = desk.survey_store.move(name, SurveyState.INVITED, "token-1")
    surveys.survey_written(survey, desk.surveys)
    [invited] = desk.of_type(ticket, "survey.invited")
    notify(invited, desk.messages)
    assert desk.index.sent[-1].survey_id == name
    return ticket, name


def test_a_full_width_digit_answers_the_survey_sent_by_sms(desk: Desk) -> None:
    ticket, name = _survey_sent_by_sms(desk)
    desk.clock.advance(hours=3)
    assert desk.text("５") == Outcome.SURVEY_ANSWERED
    survey = desk.survey_store.get(name)
    assert survey is not None and (survey.state, survey.score) == ("answered", 5)
    [answered] = desk.of_type(ticket, "survey.answered")
    assert answered.actor == Caller(Role.CUSTOMER, "c-1")
    assert desk.status(ticket) == "closed"
    assert desk.comments(ticket) == []


def test_a_redelivered_digit_after_a_crash_answers_once(desk: Desk) -> None:
    ticket, _ = _survey_sent_by_sms(desk)
    desk.text("4", message_id="m-4")
    desk.index.outcomes.clear()
    assert desk.text("4", message_id="m-4") == Outcome.SURVEY_ANSWERED
    assert len(desk.of_type(ticket, "survey.answered")) == 1
    assert desk.triage.items == {}


def test_a_low_digit_opens_the_recovery_ticket_like_the_page(desk: Desk) -> None:
    ticket, _ = _survey_sent_by_sms(desk)
    desk.text("1")
    [answered] = desk.of_type(ticket, "survey.answered")
    surveys.survey_answered(answered, desk.surveys)  # the stream's reaction
    [child] = [t for t in desk.repository.tickets.values() if t.parent_id == ticket.id]
    assert (child.queue, child.priority) == ("service-recovery", "high")


def test_five_stars_is_no_score_and_about_a_resolved_ticket_goes_to_triage(desk: Desk) -> None:
    # SPEC 12: a text is a comment only on an open ticket; the surveyed one is resolved.
    ticket, name = _survey_sent_by_sms(desk)
    assert desk.text("5 stars", message_id="m-stars") == Outcome.TRIAGED
    survey = desk.survey_store.get(name)
    assert survey is not None and survey.state == "invited"
    assert desk.comments(ticket) == []
    assert desk.triage.items["m-stars"][:2] == (PHONE, "5 stars")


def test_a_text_goes_to_the_open_ticket_when_a_later_sms_was_about_a_resolved_one(
    desk: Desk,
) -> None:
    # SPEC 12: "the ticket of the most recent SMS about an open ticket".
    open_one = desk.open()
    desk.clock.advance(minutes=5)
    resolved = desk.open()
    desk.act(resolved, ("assign", {}), ("start", {}), ("resolve", {"resolution": "ok"}))
    assert desk.text("and my other card?") == Outcome.COMMENTED
    assert len(desk.comments(open_one)) == 1 and desk.comments(resolved) == []


def test_a_digit_with_no_open_survey_is_a_reply(desk: Desk) -> None:
    ticket = desk.open()
    assert desk.text("3") == Outcome.COMMENTED
    assert desk.comments(ticket)[0].data["body"] == "3"


def test_a_digit_from_a_stranger_goes_to_triage(desk: Desk) -> None:
    _survey_sent_by_sms(desk)
    assert desk.text("5", phone=OTHER_PHONE) == Outcome.TRIAGED


def test_erasure_forgets_which_numbers_the_desk_texted_the_customer_at(desk: Desk) -> None:
    mine = desk.open("c-1")
    desk.open("c-2")  # the same number, another customer: kept
    desk.act(mine, ("cancel", {"reason": "by mistake"}))
    store = InMemoryPrivacyStore(desk.repository, desk.preferences)
    ids = SequentialIds()
    audit = AuditPorts(InMemoryAuditLog(), ids, desk.clock)
    ports = PrivacyPorts(desk.repository, store, desk.preferences, audit, sms_index=desk.index)
    erase_customer(ports, Caller(Role.AUDITOR, "aud-1"), "c-1")
    assert desk.index.customers(phone_key(PHONE)) == ["c-2"]
    assert desk.repository.customers_by_phone(phone_key(PHONE)) == ["c-2"]
    assert desk.text("TD") == Outcome.OPTED_OUT
    assert desk.preferences.preferences("c-1") is None


# --- whose text it is (security review H1: contact numbers are typed in, never verified) --


def test_a_reply_from_a_number_another_customer_put_on_a_ticket_goes_to_triage(
    desk: Desk,
) -> None:
    """The reviewer's proof: A opens a ticket with B's number; B answers the agent's
    question on B's own ticket. Before, the newest SMS to the number (about A's ticket)
    took B's answer, credited to A. Now nobody can tell whose reply it is: staff read it."""
    victim = desk.open("victim-B")
    desk.waiting(victim)  # "Which card?" texted to B
    desk.clock.advance(minutes=1)
    attacker = desk.open("attacker-A")  # the newest SMS to B's number is about A's ticket
    desk.clock.advance(minutes=1)
    said = "My card number is 6222 0000 1111 2222"
    assert desk.text(said, message_id="m-b") == Outcome.TRIAGED
    assert desk.comments(attacker) == [] and desk.comments(victim) == []
    assert desk.status(victim) == "waiting_on_customer"
    assert desk.triage.items["m-b"][:2] == (PHONE, said)
    assert desk.triage.reasons["m-b"] == TriageReason.AMBIGUOUS_SENDER


def test_a_digit_from_a_number_two_customers_use_answers_no_ones_survey(desk: Desk) -> None:
    attacker, name = _survey_sent_by_sms(desk)  # c-1's survey, texted to the number
    desk.open("c-2")  # another customer's ticket uses the same number
    assert desk.text("1", message_id="m-1") == Outcome.TRIAGED
    survey = desk.survey_store.get(name)
    assert survey is not None and survey.state == "invited"
    assert desk.status(attacker) == "resolved"
    assert desk.of_type(attacker, "survey.answered") == []
    assert desk.triage.reasons["m-1"] == TriageReason.AMBIGUOUS_SENDER


def test_a_ticket_that_only_uses_the_number_by_email_makes_the_sender_ambiguous(
    desk: Desk,
) -> None:
    # c-2's ticket uses the number but prefers email: the desk never texted c-2 there,
    # yet the number is c-2's as much as c-1's (the phone lookup, written with the ticket).
    mine = desk.open("c-1")
    desk.open("c-2", preferred="email")
    assert desk.index.customers(phone_key(PHONE)) == ["c-1"]
    assert desk.text("about my card", message_id="m-x") == Outcome.TRIAGED
    assert desk.comments(mine) == []
    assert desk.triage.reasons["m-x"] == TriageReason.AMBIGUOUS_SENDER


def test_a_customer_texted_at_the_number_before_the_phone_lookup_counts_too(
    desk: Desk,
) -> None:
    desk.open("c-2")
    desk.repository.phones.clear()  # c-2's ticket predates the phone lookup
    mine = desk.open("c-1")
    assert desk.text("about my card", message_id="m-x") == Outcome.TRIAGED
    assert desk.comments(mine) == []
    assert desk.triage.reasons["m-x"] == TriageReason.AMBIGUOUS_SENDER


def test_a_recycled_number_answers_for_its_new_customer(desk: Desk) -> None:
    """The number's former holder has only finished tickets there and was texted long
    ago: a reply is the new holder's, not triage for the phone lookup's 5 years."""
    former = desk.open("c-former")
    desk.act(former, ("cancel", {"reason": "moved abroad"}))
    desk.clock.advance(days=30)  # past the reply window
    mine = desk.open("c-new")
    desk.waiting(mine)
    assert desk.text("the one ending 4242", message_id="m-new") == Outcome.COMMENTED
    assert len(desk.comments(mine)) == 1 and desk.triage.items == {}


def test_one_customers_number_still_answers_on_their_tickets(desk: Desk) -> None:
    first = desk.open("c-1")
    desk.open("c-1")
    desk.open("c-3", phone=OTHER_PHONE)  # another number: not in the way
    desk.waiting(first)
    assert desk.text("the one ending 4242") == Outcome.COMMENTED
    assert len(desk.comments(first)) == 1
    assert desk.triage.items == {}


def test_once_the_other_customer_is_erased_the_number_is_one_customers_again(
    desk: Desk,
) -> None:
    mine = desk.open("c-1")
    other = desk.open("c-2")
    assert desk.text("hello?", message_id="m-before") == Outcome.TRIAGED
    desk.act(other, ("cancel", {"reason": "by mistake"}))
    store = InMemoryPrivacyStore(desk.repository, desk.preferences)
    audit = AuditPorts(InMemoryAuditLog(), SequentialIds(), desk.clock)
    ports = PrivacyPorts(desk.repository, store, desk.preferences, audit, sms_index=desk.index)
    erase_customer(ports, Caller(Role.AUDITOR, "aud-1"), "c-2")
    assert desk.text("hello again", message_id="m-after") == Outcome.COMMENTED
    assert [c.data["body"] for c in desk.comments(mine)] == ["hello again"]


def test_a_text_nobody_expects_from_a_shared_number_stays_unmatched(desk: Desk) -> None:
    # Nothing was texted to the number lately: no ticket could take it; no lookup is read.
    desk.open("c-1")
    desk.open("c-2")
    desk.clock.advance(days=8)
    assert desk.text("hi", message_id="m-old") == Outcome.TRIAGED
    assert desk.triage.reasons["m-old"] == TriageReason.UNMATCHED_SMS


def test_stop_from_a_shared_number_still_reaches_every_customer_on_it(desk: Desk) -> None:
    desk.open("c-1")
    desk.open("c-2", preferred="email")
    assert desk.text("STOP") == Outcome.OPTED_OUT
    for customer in ("c-1", "c-2"):
        stored = desk.preferences.preferences(customer)
        assert stored is not None and stored["sms"] is False


def test_what_local_sms_publishes_is_awss_object_and_reads_back() -> None:
    payload = inbound_payload(PHONE, "５")
    assert set(payload) == {
        "originationNumber",
        "destinationNumber",
        "messageKeyword",
        "messageBody",
        "inboundMessageId",
        "previousPublishedMessageId",
    }
    sms = parse_inbound(json.dumps(payload, ensure_ascii=False), RECEIVED)
    assert (sms.sender, sms.body, sms.message_id) == (PHONE, "５", payload["inboundMessageId"])
    assert inbound_payload(PHONE, "x")["inboundMessageId"] != payload["inboundMessageId"]
