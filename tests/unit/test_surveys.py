"""The follow-up survey: codes, who gets one, answers, expiry, reopen (fakes for AWS)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from chalicelib.api import survey_pages as pages
from chalicelib.domain.errors import (
    FieldError,
    NotFoundError,
    SurveyAnsweredError,
    SurveyClosedError,
    ValidationError,
)
from chalicelib.domain.events import Event
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.lifecycle import apply_action
from chalicelib.domain.surveys import (
    Answer,
    SurveyState,
    code_digest,
    new_code,
    parse_answer,
    recovery_subject,
    skip_reason,
    survey_id,
    well_formed_code,
)
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.domain.timeline import event_view
from chalicelib.service import surveys
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.surveys import SurveyPorts
from tests.fakes import (
    FixedClock,
    InMemoryNotificationStore,
    InMemorySurveyStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingWorkflow,
    SequentialIds,
)

AGENT = Caller(Role.AGENT, "a-1")
CUSTOMER = Caller(Role.CUSTOMER, "c-1")
SHORT_LINK = re.compile(r"/s/([A-Za-z0-9_-]+)")


# --- codes ------------------------------------------------------------------------------


def test_codes_are_128_random_bits_url_safe():
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(code) == 22 and well_formed_code(code) for code in codes)  # 16 bytes


def test_only_a_codes_hash_is_stored():
    code = new_code()
    digest = code_digest(code)
    assert len(digest) == 64 and code not in digest


@pytest.mark.parametrize("code", ["", "short", "x" * 23, "abc/def+ghi=jkl0123456", "ü" * 22])
def test_malformed_codes_are_refused(code):
    assert not well_formed_code(code)


def test_survey_ids_name_ticket_and_resolution():
    assert survey_id("T-01ABC", 2) == "T-01ABC-r2"


# --- who gets one -----------------------------------------------------------------------


def test_no_survey_when_opted_out_or_surveyed_within_30_days():
    now = FixedClock()()
    assert skip_reason("opted_out", None, now) == "opted_out"
    assert skip_reason(None, now - timedelta(days=29), now) == "cooldown"
    assert skip_reason(None, now - timedelta(days=30, seconds=1), now) is None
    assert skip_reason(None, None, now) is None


# --- answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"score": 0}, ["score"]),
        ({"score": 6}, ["score"]),
        ({"score": "5"}, ["score"]),  # JSON wants a number
        ({"score": True}, ["score"]),
        ({"score": 3.5}, ["score"]),
        ({}, ["score"]),
        ({"score": 3, "comment": "x" * 1001}, ["comment"]),
        ({"score": 3, "comment": 7}, ["comment"]),
        ({"score": 3, "name": "Li"}, ["name"]),
        ([3], ["body"]),
    ],
)
def test_bad_answers_name_every_field(body, fields):
    with pytest.raises(ValidationError) as raised:
        parse_answer(body)
    assert sorted(error.path for error in raised.value.errors) == fields


def test_form_answers_carry_the_score_as_text():
    assert parse_answer({"score": "4", "comment": "  kind staff "}, from_form=True) == Answer(
        4, "kind staff"
    )
    assert parse_answer({"score": 2, "comment": "   "}) == Answer(2, None)
    with pytest.raises(ValidationError):
        parse_answer({"score": "four"}, from_form=True)


def test_recovery_subject_is_in_the_customers_language():
    assert (
        recovery_subject("SD-7K4Q9M2P", 1, "en-US")
        == "Service recovery: SD-7K4Q9M2P (survey score 1)"
    )
    assert "SD-7K4Q9M2P" in recovery_subject("SD-7K4Q9M2P", 2, "zh-CN")
    assert recovery_subject("SD-1", 2, "fr-FR") == recovery_subject("SD-1", 2, "zh-CN")


# --- the use cases --------------------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.repository = InMemoryTicketRepository()
        self.store = InMemorySurveyStore(self.repository)
        self.workflow = RecordingWorkflow()
        self.notifications = InMemoryNotificationStore(self.repository)
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.ports = SurveyPorts(
            tickets=self.repository,
            surveys=self.store,
            workflow=self.workflow,
            notifications=self.notifications,
            ids=self.ids,
            clock=self.clock,
            delay=timedelta(hours=2),
            window=timedelta(hours=72),
        )
        self.sms = RecordingNotifier()
        self.messages = NotificationPorts(
            tickets=self.repository,
            store=self.notifications,
            notifier=self.sms,
            ids=self.ids,
            clock=self.clock,
            public_base_url="https://sd.bankxyz.cn",
            survey_codes=self.store,
        )

    def resolved_ticket(self, contact=None):
        request = TicketRequest(
            channel="mobile",
            kind="consultation",
            category="card",
            subject="Card blocked <b>abroad</b>",
            description="",
            contact=contact or {"phone": "+8613800138000", "locale": "en-US"},
        )
        ticket, created = open_ticket(
            request,
            CUSTOMER,
            ticket_id=self.ids.ticket_id(),
            reference="SD-7K4Q9M2P",
            event_id=self.ids.event_id(),
            now=self.clock(),
        )
        self.repository.create(ticket, [created])
        for action, params in (("assign", {}), ("start", {}), ("resolve", {"resolution": "ok"})):
            ticket = self.act(ticket.id, action, params, AGENT)
        return ticket

    def act(self, ticket_id, action, params, caller):
        ticket = self.repository.get(ticket_id)
        assert ticket is not None
        changed, events = apply_action(
            ticket, action, params, caller, now=self.clock(), new_event_id=self.ids.event_id
        )
        self.repository.commit(ticket.id, ticket.version, changed, events)
        self.last_events = events
        return changed

    def resolved_event(self, ticket):
        return next(e for e in self.last_events if e.data.get("to") == "resolved")

    def invite(self, survey_name, round_number=1, token="token-1"):
        """The workflow moves the survey, the stream records the round, the notifier
        sends the message: the code is the one in the SMS."""
        state = SurveyState.INVITED if round_number == 1 else SurveyState.REMINDED
        survey = self.store.move(survey_name, state, token)
        surveys.survey_written(survey, self.ports)
        round_type = "survey.invited" if round_number == 1 else "survey.reminded"
        [event] = [e for e in self.repository.events(survey.ticket_id) if e.type == round_type]
        notify(event, self.messages)
        return self.codes()[-1]

    def codes(self):
        return [code for sent in self.sms.sent for code in SHORT_LINK.findall(sent.text)]

    def types(self, ticket_id):
        return [event.type for event in self.repository.events(ticket_id)]


@pytest.fixture
def world():
    return World()


def test_resolution_starts_one_named_survey_with_ids_only(world):
    ticket = world.resolved_ticket()
    event = world.resolved_event(ticket)
    surveys.start_survey(event, world.ports)
    surveys.start_survey(event, world.ports)  # a redelivered stream record
    name = survey_id(ticket.id, 1)
    assert list(world.workflow.started) == [name]
    payload = world.workflow.started[name]
    assert payload == {
        "ticket_id": ticket.id,
        "survey_id": name,
        "delay_seconds": 7200,
        "window_seconds": 259200,
    }
    assert world.store.get(name).state is SurveyState.PENDING
    assert world.store.get(name).locale == "en-US"


def test_the_delay_moves_out_of_quiet_hours(world):
    # 02:30 UTC is 10:30 in Shanghai; +2 h lands at 12:30, inside a 12:00-14:00 quiet window.
    world.notifications.save_preferences(
        "c-1", {"sms": True, "email": True, "quiet_hours": {"start": "12:00", "end": "14:00"}}
    )
    ticket = world.resolved_ticket()
    surveys.start_survey(world.resolved_event(ticket), world.ports)
    assert world.workflow.started[survey_id(ticket.id, 1)]["delay_seconds"] == 3.5 * 3600


@pytest.mark.parametrize(
    ("preferences", "contact", "reason"),
    [
        ({"sms": False, "email": False}, None, "opted_out"),
        (None, {"preferred": "none", "phone": "+8613800138000"}, "not_requested"),
    ],
)
def test_no_survey_without_consent(world, preferences, contact, reason):
    if preferences:
        world.notifications.save_preferences("c-1", preferences)
    ticket = world.resolved_ticket(contact)
    event = world.resolved_event(ticket)
    surveys.start_survey(event, world.ports)
    surveys.start_survey(event, world.ports)
    assert world.workflow.started == {}
    skipped = [e for e in world.repository.events(ticket.id) if e.type == "survey.skipped"]
    assert [e.data["reason"] for e in skipped] == [reason]  # once, despite the redelivery


def test_no_second_survey_within_30_days_of_an_answer(world):
    world.store.answered_at["c-1"] = world.clock() - timedelta(days=10)
    ticket = world.resolved_ticket()
    surveys.start_survey(world.resolved_event(ticket), world.ports)
    assert world.workflow.started == {}
    assert "survey.skipped" in world.types(ticket.id)


def test_a_stale_resolution_event_starts_nothing(world):
    ticket = world.resolved_ticket()
    event = world.resolved_event(ticket)
    world.act(ticket.id, "reopen", {"reason": "still blocked"}, CUSTOMER)
    surveys.start_survey(event, world.ports)
    assert world.workflow.started == {}


def _started(world):
    ticket = world.resolved_ticket()
    surveys.start_survey(world.resolved_event(ticket), world.ports)
    return ticket, survey_id(ticket.id, 1)


def test_invitation_is_recorded_once_with_its_code_hashed(world):
    ticket, name = _started(world)
    code = world.invite(name)
    surveys.survey_written(world.store.get(name), world.ports)  # our own write, redelivered
    invited = [e for e in world.repository.events(ticket.id) if e.type == "survey.invited"]
    assert len(invited) == 1 and invited[0].data == {"survey_id": name, "round": 1}
    notify(invited[0], world.messages)  # the invitation redelivered: no second message
    assert world.codes() == [code]
    assert code not in str(world.repository.events(ticket.id))
    assert world.store.codes == {code_digest(code): name}


def test_codes_are_random_not_derived_from_the_survey():
    """The same survey, round and configuration give a different code each time: nothing
    (no key in the function's environment, no id) lets anyone compute one."""
    codes = []
    for _ in range(2):
        world = World()
        _, name = _started(world)
        codes.append(world.invite(name))
    first, second = codes
    assert first != second and well_formed_code(first) and well_formed_code(second)


def test_answer_closes_the_ticket_and_releases_the_workflow(world):
    ticket, name = _started(world)
    code = world.invite(name)
    view = surveys.find_survey(world.ports, code)
    assert (view.subject, view.survey.public_status) == (ticket.subject, "open")
    surveys.answer_survey(world.ports, view, Answer(4, "quick"))
    assert world.repository.get(ticket.id).status == "closed"
    answered = next(e for e in world.repository.events(ticket.id) if e.type == "survey.answered")
    assert answered.data == {"survey_id": name, "score": 4, "agent": "a-1", "comment": "quick"}
    assert answered.actor == CUSTOMER
    closed = world.repository.events(ticket.id)[-1]
    assert closed.data["to"] == "closed" and closed.actor == SYSTEM
    surveys.survey_answered(answered, world.ports)
    assert world.workflow.answered_tokens == ["token-1"]
    assert world.repository.tickets.keys() == {ticket.id}  # a good score opens nothing


def test_customers_never_see_whom_their_answer_is_credited_to(world):
    ticket, name = _started(world)
    view = surveys.find_survey(world.ports, world.invite(name))
    surveys.answer_survey(world.ports, view, Answer(2, "slow"))
    answered = next(e for e in world.repository.events(ticket.id) if e.type == "survey.answered")
    assert event_view(answered, CUSTOMER)["data"] == {
        "survey_id": name,
        "score": 2,
        "comment": "slow",
    }
    assert event_view(answered, AGENT)["data"]["agent"] == AGENT.id  # the reports use it


SUPERVISOR = Caller(Role.SUPERVISOR, "s-1")


@pytest.mark.parametrize(
    "steps",
    [
        # a supervisor resolves while the agent still holds the ticket
        [("resolve", {"resolution": "ok"}, SUPERVISOR)],
        # escalated out of the agent's hands, resolved unassigned by a supervisor
        [("escalate", {"reason": "tier 2"}, AGENT), ("resolve", {"resolution": "ok"}, SUPERVISOR)],
    ],
    ids=["supervisor-resolves-agents-ticket", "escalated-unassigned"],
)
def test_the_score_is_credited_to_whoever_resolved_the_ticket(world, steps):
    # Spec review 2, Medium 4: the score went to the assignee at answer time (the agent,
    # or nobody), while the resolution itself was counted for the supervisor.
    ticket = world.resolved_ticket()  # resolution 1: by the agent
    world.act(ticket.id, "reopen", {"reason": "still blocked"}, CUSTOMER)
    for action, params, caller in steps:
        world.act(ticket.id, action, params, caller)
    surveys.start_survey(world.resolved_event(ticket), world.ports)
    code = world.invite(survey_id(ticket.id, 2))  # about resolution 2
    surveys.answer_survey(world.ports, surveys.find_survey(world.ports, code), Answer(5, None))
    answered = next(e for e in world.repository.events(ticket.id) if e.type == "survey.answered")
    assert answered.data["agent"] == SUPERVISOR.id


def test_second_answer_is_409_and_changes_nothing(world):
    ticket, name = _started(world)
    code = world.invite(name)
    surveys.answer_survey(world.ports, surveys.find_survey(world.ports, code), Answer(5, None))
    before = world.types(ticket.id)
    with pytest.raises(SurveyAnsweredError):
        surveys.answer_survey(world.ports, surveys.find_survey(world.ports, code), Answer(1, None))
    assert world.types(ticket.id) == before
    assert world.store.get(name).score == 5


def test_both_codes_work_until_the_survey_ends(world):
    ticket, name = _started(world)
    first = world.invite(name, 1)
    second = world.invite(name, 2, token="token-2")
    assert first != second
    assert surveys.find_survey(world.ports, first).survey.id == name
    assert surveys.find_survey(world.ports, second).survey.id == name
    surveys.answer_survey(world.ports, surveys.find_survey(world.ports, first), Answer(3, None))
    assert world.types(ticket.id).count("survey.reminded") == 1


def test_low_score_opens_one_recovery_ticket(world):
    ticket, name = _started(world)
    code = world.invite(name)
    surveys.answer_survey(world.ports, surveys.find_survey(world.ports, code), Answer(2, None))
    answered = next(e for e in world.repository.events(ticket.id) if e.type == "survey.answered")
    surveys.survey_answered(answered, world.ports)
    surveys.survey_answered(answered, world.ports)  # redelivered
    children = [t for t in world.repository.tickets.values() if t.parent_id == ticket.id]
    assert len(children) == 1
    child = children[0]
    assert (child.kind, child.queue, child.priority, child.status) == (
        "complaint",
        "service-recovery",
        "high",
        "new",
    )
    assert child.customer_id == ticket.customer_id and child.contact == ticket.contact
    assert child.subject == "Service recovery: SD-7K4Q9M2P (survey score 2)"


def test_expiry_closes_the_ticket_once(world):
    ticket, name = _started(world)
    world.invite(name, 1)
    world.invite(name, 2)
    expired = world.store.move(name, SurveyState.EXPIRED)
    surveys.survey_written(expired, world.ports)
    surveys.survey_written(expired, world.ports)  # redelivered record of the same write
    assert world.repository.get(ticket.id).status == "closed"
    assert world.types(ticket.id).count("survey.expired") == 1
    code = world.codes()[0]
    view = surveys.find_survey(world.ports, code)
    assert view.survey.public_status == "expired"
    with pytest.raises(SurveyClosedError):
        surveys.answer_survey(world.ports, view, Answer(5, None))


def test_reopen_withdraws_and_stops_the_survey(world):
    ticket, name = _started(world)
    code = world.invite(name)
    world.act(ticket.id, "reopen", {"reason": "still blocked"}, CUSTOMER)
    reopened = world.last_events[0]
    assert reopened.data["resolution_count"] == 1
    surveys.withdraw_survey(reopened, world.ports)
    assert world.workflow.stopped == [name]
    view = surveys.find_survey(world.ports, code)
    assert view.survey.public_status == "expired"
    with pytest.raises(SurveyClosedError):
        surveys.answer_survey(world.ports, view, Answer(5, None))
    assert world.repository.get(ticket.id).status == "in_progress"


def test_answer_after_a_supervisor_closed_the_ticket_is_kept(world):
    ticket, name = _started(world)
    code = world.invite(name)
    world.act(ticket.id, "close", {}, Caller(Role.SUPERVISOR, "s-1"))
    surveys.answer_survey(world.ports, surveys.find_survey(world.ports, code), Answer(4, None))
    assert world.store.get(name).state is SurveyState.ANSWERED
    assert world.types(ticket.id).count("ticket.status_changed") == 4  # no second close


@pytest.mark.parametrize("code", ["nope", "A" * 22])
def test_unknown_codes_are_404(world, code):
    with pytest.raises(NotFoundError):
        surveys.find_survey(world.ports, code)


def test_a_failing_start_is_retried_by_the_stream_without_a_second_survey(world):
    world.workflow.failures = 1
    ticket = world.resolved_ticket()
    event = world.resolved_event(ticket)
    with pytest.raises(ConnectionError):
        surveys.start_survey(event, world.ports)
    surveys.start_survey(event, world.ports)
    assert world.workflow.starts == 1 and len(world.store.surveys) == 1


# --- the page -----------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_form_is_accessible_and_escapes_the_subject(locale):
    page = pages.form_page(locale, "<script>alert(1)</script>")
    assert f'<html lang="{locale}">' in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    for n in range(1, 6):
        assert f'<input type="radio" id="score-{n}" name="score" value="{n}" required>' in page
        assert f'<label for="score-{n}">' in page
    assert "<legend>" in page and '<label for="comment">' in page
    assert 'name="viewport"' in page and "<script" not in page.replace("&lt;script", "")


def test_form_errors_are_announced_and_linked():
    page = pages.form_page("en-US", "s", [FieldError("score", "bad")])
    assert 'role="alert"' in page and 'href="#score-1"' in page
    assert "Choose a score from 1 to 5." in page


@pytest.mark.parametrize(
    ("header", "locale"),
    [("en-GB,en;q=0.9", "en-US"), ("zh-CN,zh;q=0.9", "zh-CN"), (None, "zh-CN"), ("fr", "zh-CN")],
)
def test_pages_without_a_survey_follow_the_browser_language(header, locale):
    assert pages.preferred_locale(header) == locale


def test_a_reminder_round_is_not_recorded_for_a_withdrawn_survey(world):
    ticket, name = _started(world)
    world.store.withdraw(name)
    moved = replace(world.store.get(name), state=SurveyState.REMINDED)
    surveys.survey_written(moved, world.ports)
    assert "survey.reminded" not in world.types(ticket.id)


def test_events_the_workflow_causes_are_system_ones(world):
    ticket, name = _started(world)
    world.invite(name)
    invited = next(e for e in world.repository.events(ticket.id) if e.type == "survey.invited")
    assert isinstance(invited, Event) and invited.actor == SYSTEM


def test_erasure_forgets_the_comments_of_the_customers_surveys(world):
    from types import SimpleNamespace

    from chalicelib.service.privacy import TICKET_ERASURE_STEPS, forget_survey_comments

    assert forget_survey_comments in TICKET_ERASURE_STEPS
    ticket, name = _started(world)
    world.invite(name)
    forgotten: list[str] = []
    store = SimpleNamespace(forget_survey_comment=forgotten.append)
    ports: Any = SimpleNamespace(store=store)
    forget_survey_comments(ticket, world.repository.events(ticket.id), ports)
    assert forgotten == [name]
