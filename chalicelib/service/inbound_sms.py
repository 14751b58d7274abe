"""A customer's text to the desk's number (SPEC 12): opt out, a survey score, a reply
on a ticket, or the triage inbox.

A text acts for a customer (a comment, a score) only when the number is that one
customer's: every ticket that uses it, and every SMS the desk sent to it, belong to one
customer. Otherwise staff read it in triage (`ambiguous_sender`): contact numbers are
typed in, never verified (security review H1). A STOP still speaks for every customer
on the number.

Idempotent by `inboundMessageId`: a message already handled is skipped; the writes
themselves are safe to repeat too (the opt-out's entries have ids derived from the
message, the reply carries an idempotency record keyed by it, a survey answered
after the text arrived is taken as this text's answer), so a crash between acting
and marking the message handled repeats nothing.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

import msgspec

from chalicelib.domain.errors import SurveyAnsweredError, SurveyClosedError
from chalicelib.domain.events import CommentAdded, Event, NotificationOptedOut
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import (
    InboundSms,
    SmsIntent,
    derived_event_id,
    intent_of,
    phone_key,
    survey_score,
)
from chalicelib.domain.inbox import Outcome, TriageReason
from chalicelib.domain.lifecycle import add_comment
from chalicelib.domain.notifications import SMS
from chalicelib.domain.surveys import OPEN_STATES, Answer, Survey, SurveyState
from chalicelib.domain.ticket import Ticket
from chalicelib.service import idempotency
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.ports import (
    IdempotencyKeyTakenError,
    ListQuery,
    NotificationStore,
    SmsIndex,
    SmsSent,
    Triage,
    VersionConflictError,
)
from chalicelib.service.retries import retrying
from chalicelib.service.surveys import SurveyPorts, SurveyView, answer_survey
from chalicelib.service.tickets import TicketPorts

REPLY_WINDOW = timedelta(days=7)  # a text counts as a reply to SMS sent this recently
RECENT_LIMIT = 25  # SMS read per inbound text (newest first)
OPEN_TICKETS_LIMIT = 100  # a customer's tickets read for the opt-out's timeline entries
REPLY_SCOPE = "system:sms-reply"


class InboundSmsPorts(msgspec.Struct, frozen=True):
    tickets: TicketPorts
    surveys: SurveyPorts
    preferences: NotificationStore
    index: SmsIndex
    triage: Triage
    reply_window: timedelta = REPLY_WINDOW


def receive_sms(ports: InboundSmsPorts, sms: InboundSms) -> Outcome:
    """Act on one inbound text once; returns what became of it (an Outcome)."""
    if ports.index.handled(sms.message_id):
        return Outcome.DUPLICATE
    outcome = _act(ports, sms)
    ports.index.mark_handled(sms.message_id, outcome, ports.tickets.clock())
    return outcome


def _act(ports: InboundSmsPorts, sms: InboundSms) -> Outcome:
    if not sms.from_phone:  # a short code or sender id: no customer, no opt-out to honour
        return _triaged(ports, sms)
    intent = intent_of(sms.body)
    key = phone_key(sms.sender)
    if intent is SmsIntent.OPT_OUT:
        return _opt_out(ports, sms, key)
    score = survey_score(sms.body)
    if score is None and intent is SmsIntent.EMPTY:
        return _triaged(ports, sms)
    since = ports.tickets.clock() - ports.reply_window
    recent = ports.index.recent(key, since, RECENT_LIMIT)
    if recent and not _one_customer(ports, key, recent):
        return _triaged(ports, sms, TriageReason.AMBIGUOUS_SENDER)
    outcome = _answer_survey(ports, sms, recent, score) if score is not None else None
    if outcome is None and intent is not SmsIntent.EMPTY:
        outcome = _reply(ports, sms, recent)
    return outcome if outcome is not None else _triaged(ports, sms)


def _triaged(
    ports: InboundSmsPorts, sms: InboundSms, reason: TriageReason = TriageReason.UNMATCHED_SMS
) -> Outcome:
    ports.triage.triage_sms(sms, reason)
    return Outcome.TRIAGED


# --- who is texting ------------------------------------------------------------------------


def _one_customer(ports: InboundSmsPorts, key: str, recent: list[SmsSent]) -> bool:
    """Whether the number speaks for exactly one customer, so its text may act for them
    (a comment, a survey score). Contact numbers are typed in, never verified: anyone can
    put another person's number on a ticket, and the desk then texts that person about
    it. When more than one customer's tickets use the number, or the desk texted it about
    more than one customer's tickets, nobody can tell whose reply a text is: staff read
    it in triage (`ambiguous_sender`) and link it.

    Who counts: the customers the desk texted at the number within the reply window, and
    any other customer whose OPEN ticket uses it. A customer whose tickets there are all
    finished (a number the carrier recycled, a family member's old case) does not make a
    text ambiguous for years. Two queries, plus one per such other customer (rare)."""
    texted = {sent.customer_id for sent in recent}
    others = set(opted_out_customers(ports, key)) - texted
    using = {customer for customer in others if _open_ticket_uses(ports, customer, key)}
    return len(texted | using) == 1


def _open_ticket_uses(ports: InboundSmsPorts, customer_id: str, key: str) -> bool:
    return any(
        ticket.contact.phone and phone_key(ticket.contact.phone) == key
        for ticket in _open_tickets(ports.tickets, customer_id)
    )


# --- STOP, TD, T, 退订 ---------------------------------------------------------------------


def _opt_out(ports: InboundSmsPorts, sms: InboundSms, key: str) -> Outcome:
    """SMS off for every customer whose tickets use this number or whom the desk texted
    at it (email and the rest stay); `notification.opted_out` on each one's open tickets.
    A number no customer uses: the provider's own opt-out list still holds it."""
    for customer_id in opted_out_customers(ports, key):
        switch_off_sms(ports.preferences, customer_id)
        caller = Caller(Role.CUSTOMER, customer_id)
        now = ports.tickets.clock()
        entries = [
            Event.of(
                derived_event_id(sms.received_at, sms.message_id, ticket.id),
                ticket.id,
                now,
                caller,
                NotificationOptedOut(channel=SMS),
            )
            for ticket in _open_tickets(ports.tickets, customer_id)
        ]
        if entries:
            ports.tickets.repository.append_events(entries)
    return Outcome.OPTED_OUT


def opted_out_customers(ports: InboundSmsPorts, key: str) -> list[str]:
    """Whom a STOP from the number (`key`: its hash) speaks for: the customers whose
    tickets use it (the phone lookup, written with each ticket) and those the desk texted
    at it (the SMS index: also tickets opened before the phone lookup existed)."""
    using = ports.tickets.repository.customers_by_phone(key)
    return sorted(set(using) | set(ports.index.customers(key)))


def switch_off_sms(store: NotificationStore, customer_id: str) -> None:
    """The customer's preferences with SMS off; nothing else changes."""
    stored = store.preferences(customer_id)
    if stored is not None and not stored.get("sms", True):
        return
    preferences = dict(stored or {"email": True, "locale": None, "quiet_hours": None})
    store.save_preferences(customer_id, {**preferences, "sms": False})


def _open_tickets(ports: TicketPorts, customer_id: str) -> list[Ticket]:
    page = ports.repository.query_tickets(
        ListQuery("customer", customer_id, limit=OPEN_TICKETS_LIMIT)
    )
    return [ticket for ticket in page.items if ticket.is_open]


# --- a survey score ------------------------------------------------------------------------


def _answer_survey(
    ports: InboundSmsPorts, sms: InboundSms, recent: list[SmsSent], score: int
) -> Outcome | None:
    """Answer the most recent open survey whose invitation or reminder went to this
    number, as the survey page would; None when there is none (the text goes on)."""
    seen: set[str] = set()
    for sent in recent:
        if sent.survey_id is None or sent.survey_id in seen:
            continue
        seen.add(sent.survey_id)
        outcome = _try_answer(ports, sent.survey_id, sms, score)
        if outcome is not None:
            return outcome
    return None


def _try_answer(
    ports: InboundSmsPorts, survey_id: str, sms: InboundSms, score: int
) -> Outcome | None:
    survey = ports.surveys.surveys.get(survey_id)
    if survey is None:
        return None
    if _answered_since(survey, sms):
        return Outcome.SURVEY_ANSWERED  # this text, delivered again after a crash
    if survey.state not in OPEN_STATES:
        return None
    ticket = ports.tickets.repository.get(survey.ticket_id)
    view = SurveyView(survey, ticket.subject if ticket is not None else "")
    try:
        answer_survey(ports.surveys, view, Answer(score=score, comment=None))
    except (SurveyAnsweredError, SurveyClosedError):
        # Answered by a copy of this text delivered at the same time: done. Expired, or
        # answered before the text arrived: an older survey may take it.
        again = ports.surveys.surveys.get(survey_id)
        return Outcome.SURVEY_ANSWERED if again and _answered_since(again, sms) else None
    return Outcome.SURVEY_ANSWERED


def _answered_since(survey: Survey, sms: InboundSms) -> bool:
    answered_at = survey.answered_at
    return survey.state is SurveyState.ANSWERED and bool(
        answered_at and answered_at >= sms.received_at
    )


# --- a reply on a ticket -------------------------------------------------------------------


def _reply(ports: InboundSmsPorts, sms: InboundSms, recent: list[SmsSent]) -> Outcome | None:
    """The customer's comment on the ticket of the most recent SMS about an open ticket."""
    for sent in recent:
        ticket = ports.tickets.repository.get(sent.ticket_id)
        if ticket is not None and ticket.is_open:  # SPEC 12; a resolved one is passed over
            return _comment(ports.tickets, ticket.id, sms)
    return None


def _comment(ports: TicketPorts, ticket_id: str, sms: InboundSms) -> Outcome | None:
    """Every effect of a customer's comment (waiting_on_customer -> in_progress, the
    clock resumes), with `data.channel: "sms"`; the message id keys the write."""
    key = IdempotencyKey(scope=REPLY_SCOPE, key=sms.message_id, fingerprint=sms.message_id)

    def attempt() -> Outcome | None:
        ticket = ports.repository.get(ticket_id)
        if ticket is None or not ticket.is_open:
            return None  # resolved or closed meanwhile: triage
        now = ports.clock()
        caller = Caller(Role.CUSTOMER, ticket.customer_id)
        changed, events = add_comment(
            ticket, sms.body.strip(), False, caller, now=now, new_event_id=ports.ids.event_id
        )
        said = events[0]
        comment = said.payload_as(CommentAdded)
        assert comment is not None, "add_comment's first event is the comment"
        by_sms = msgspec.structs.replace(comment, channel=SMS)
        events[0] = Event.of(said.id, said.ticket_id, said.at, said.actor, by_sms)
        changed = ports.track(ticket, changed, now)
        record = idempotency.record(key, StoredResponse(201, events[0].id), now)
        # Taken: an earlier delivery of this text wrote it.
        with suppress(IdempotencyKeyTakenError):
            ports.repository.commit(ticket.id, ticket.version, changed, events, record)
        return Outcome.COMMENTED

    return retrying(attempt, also=(VersionConflictError,))
