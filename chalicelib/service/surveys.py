"""Follow-up surveys (SPEC section 8): start, invite, answer, expire, withdraw.

Step Functions keeps the time (delay, answer window, one reminder) and writes
only the survey's state; every reaction here comes from the table's stream and
is idempotent, so a redelivered record never sends or closes anything twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
from msgspec.structs import replace

from chalicelib.domain.errors import NotFoundError, SurveyAnsweredError, SurveyClosedError
from chalicelib.domain.events import (
    Event,
    StatusChanged,
    SurveyAnswered,
    SurveyExpired,
    SurveySkipped,
    TicketCreated,
)
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.lifecycle import apply_action
from chalicelib.domain.notifications import choose_channel, message_locale, next_send_time
from chalicelib.domain.sla import SlaRules, start_clocks
from chalicelib.domain.statuses import Action, Status
from chalicelib.domain.surveys import (
    OPEN_STATES,
    RECOVERY_QUEUE,
    ROUND_EVENTS,
    ROUNDS,
    Answer,
    Survey,
    SurveyState,
    code_digest,
    needs_recovery,
    recovery_subject,
    resolver_of,
    skip_reason,
    survey_id,
    well_formed_code,
)
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.logs import logger
from chalicelib.service import idempotency
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.notifications import after_provider_opt_out, customer_preferences
from chalicelib.service.ports import (
    IdempotencyKeyTakenError,
    NotificationStore,
    Notifier,
    ReferenceTakenError,
    SurveyStateChangedError,
    SurveyStore,
    SurveyWorkflow,
    TicketChange,
    TransactionConflictError,
    VersionConflictError,
)
from chalicelib.service.retries import retrying
from chalicelib.service.tickets import TicketAccess, open_with_new_ids

RECOVERY_SCOPE = "system:service-recovery"


class SurveyPorts(TicketAccess, frozen=True):
    surveys: SurveyStore
    workflow: SurveyWorkflow | None
    notifications: NotificationStore
    delay: timedelta  # production 2 h
    window: timedelta  # production 72 h per round
    sla: SlaRules | None = None
    notifier: Notifier | None = None  # for the provider's SMS opt-out list


# --- reactions (from the stream) ------------------------------------------------------


def start_survey(event: Event, ports: SurveyPorts) -> None:
    """On `resolved`: one survey per resolution, unless the customer said no, cannot be
    reached, or answered another survey in the last 30 days."""
    resolution = _resolution_of(event)
    ticket = ports.tickets.get(event.ticket_id)
    if ticket is None or ticket.status != Status.RESOLVED or ticket.resolutions != resolution:
        return  # reopened (or resolved again) since: that later event decides
    now = ports.clock()
    name = survey_id(ticket.id, resolution)
    preferences = customer_preferences(ports.notifications, ticket.customer_id)
    channel = choose_channel(ticket.contact, preferences)
    if ports.notifier is not None and channel.skip_reason is None:
        channel = after_provider_opt_out(channel, ticket, preferences, ports.notifier)
    reason = skip_reason(channel.skip_reason, ports.surveys.last_answered(ticket.customer_id), now)
    if reason is not None:
        # Derived id: a redelivery writes the same entry, once, right after its cause.
        skipped = Event.of(
            f"{event.id}.survey", ticket.id, now, SYSTEM, SurveySkipped(reason=reason)
        )
        ports.tickets.append_events([skipped])
        return
    survey = Survey(
        id=name,
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        resolution=resolution,
        state=SurveyState.PENDING,
        locale=message_locale(ticket.contact, preferences),
        created_at=now,
    )
    ports.surveys.create(survey)  # False on a redelivery: starting again is harmless
    if ports.workflow is None:
        logger.warning("no survey state machine configured", extra={"survey": name})
        return
    invite_at = next_send_time(now + ports.delay, preferences.quiet_hours if preferences else None)
    ports.workflow.start(
        name,
        {
            "ticket_id": ticket.id,
            "survey_id": name,
            "delay_seconds": max(0, round((invite_at - now).total_seconds())),
            "window_seconds": max(1, round(ports.window.total_seconds())),
        },
    )


def _resolution_of(event: Event) -> int:
    """Which resolution a status change resolved or reopened (0: none)."""
    moved = event.payload_as(StatusChanged)
    return (moved.resolution_count if moved else None) or 0


def withdraw_survey(event: Event, ports: SurveyPorts) -> None:
    """On `reopen`: the survey of that resolution ends; its links answer as expired."""
    resolution = _resolution_of(event)
    if resolution == 0:
        return
    name = survey_id(event.ticket_id, resolution)
    ports.surveys.withdraw(name)
    if ports.workflow is not None:
        ports.workflow.stop(name)


def survey_written(survey: Survey, ports: SurveyPorts) -> None:
    """The workflow moved a survey: tell the customer (a round) or settle an expiry."""
    round_number = ROUNDS.get(survey.state)
    if round_number is not None and round_number not in survey.rounds:
        _record_round(survey, round_number, ports)
    elif survey.state is SurveyState.EXPIRED and not survey.settled:
        _settle_expiry(survey, ports)


def _record_round(survey: Survey, round_number: int, ports: SurveyPorts) -> None:
    told = ROUND_EVENTS[round_number](survey_id=survey.id, round=round_number)
    event = Event.of(ports.ids.event_id(), survey.ticket_id, ports.clock(), SYSTEM, told)
    # The message goes out when this event arrives on the stream, like every other; the
    # notifier makes the round's code then, where the message is built (never stored).
    ports.surveys.record_round(survey, round_number, event)


def _settle_expiry(survey: Survey, ports: SurveyPorts) -> None:
    def attempt() -> None:
        now = ports.clock()
        ticket = ports.tickets.get(survey.ticket_id)
        expired = SurveyExpired(survey_id=survey.id)
        events = [Event.of(ports.ids.event_id(), survey.ticket_id, now, SYSTEM, expired)]
        change, closing = _closing(ticket, survey, now, ports)
        ports.surveys.settle_expiry(survey, events + closing, change)

    # Still contested after every attempt: the stream record fails and is delivered again.
    retrying(attempt, also=(VersionConflictError,), busy=TransactionConflictError)


def _closing(
    ticket: Ticket | None, survey: Survey, now: datetime, ports: SurveyPorts
) -> tuple[TicketChange | None, list[Event]]:
    """The survey closes its ticket, if that ticket is still in the resolution surveyed."""
    if (
        ticket is None
        or ticket.status != Status.RESOLVED
        or ticket.resolutions != survey.resolution
    ):
        return None, []
    changed, events = apply_action(
        ticket, Action.CLOSE, {}, SYSTEM, now=now, new_event_id=ports.ids.event_id
    )
    return TicketChange(changed, ticket.version), events


def survey_answered(event: Event, ports: SurveyPorts) -> None:
    """After an answer: release the waiting workflow; a low score opens a recovery ticket."""
    answered = event.payload_as(SurveyAnswered) or SurveyAnswered()
    survey = ports.surveys.get(answered.survey_id)
    if survey is None:
        return
    if survey.task_token and ports.workflow is not None:
        ports.workflow.answered(survey.task_token)
    score = answered.score
    if score and needs_recovery(score):
        parent = ports.tickets.get(survey.ticket_id)
        if parent is not None:
            open_recovery_ticket(parent, survey, score, ports)


def open_recovery_ticket(parent: Ticket, survey: Survey, score: int, ports: SurveyPorts) -> None:
    """A high-priority complaint in the service-recovery queue, child of the surveyed
    ticket; at most one per survey (its idempotency record is in the same write)."""
    now = ports.clock()
    request = TicketRequest(
        channel=parent.channel,
        kind="complaint",
        category=parent.category,
        subject=recovery_subject(parent.reference, score, survey.locale),
        description="",
        contact=None,
        customer_id=parent.customer_id,
        priority="high",
    )
    ticket, created = open_with_new_ids(request, SYSTEM, ports.ids, now)
    ticket = replace(ticket, queue=RECOVERY_QUEUE, parent_id=parent.id, contact=parent.contact)
    recovery = replace(
        created.payload_as(TicketCreated) or TicketCreated(),
        queue=RECOVERY_QUEUE,
        parent_id=parent.id,
        score=score,
    )
    created = replace(created, data=recovery.to_data())
    if ports.sla is not None:
        ticket = replace(ticket, sla=start_clocks(ticket, ports.sla))
    # The answer's id is the key: a redelivered answer finds the record and opens nothing.
    key = IdempotencyKey(scope=RECOVERY_SCOPE, key=survey.id, fingerprint=survey.id)
    record = idempotency.record(key, StoredResponse(201, ticket.id), now)
    references = iter([ticket.reference])

    def attempt() -> None:
        opened = ticket.with_reference(next(references, None) or ports.ids.reference())
        ports.tickets.create(opened, [created], record)
        logger.info("service recovery ticket opened", extra={"ticket_id": opened.id})

    try:
        retrying(attempt, also=(ReferenceTakenError,))
    except IdempotencyKeyTakenError:
        return  # opened by an earlier delivery of the same answer


# --- the customer's page ---------------------------------------------------------------


class SurveyView(msgspec.Struct, frozen=True):
    survey: Survey
    subject: str


def find_survey(ports: SurveyPorts, code: str) -> SurveyView:
    """The survey a link code opens; 404 for anything else (no login, nothing revealed)."""
    survey = ports.surveys.by_code(code_digest(code)) if well_formed_code(code) else None
    ticket = ports.tickets.get(survey.ticket_id) if survey is not None else None
    if survey is None or ticket is None:
        raise NotFoundError("No such survey")
    return SurveyView(survey, ticket.subject)


def answer_survey(ports: SurveyPorts, view: SurveyView, answer: Answer) -> SurveyView:
    """Record the answer and close the ticket in one write; exactly one answer wins."""
    latest = [view.survey]  # read again after a lost race: the winner may have answered
    # The score is the resolver's (SPEC 10: agents are credited with what they did
    # themselves): the survey asks about one resolution, and names it.
    agent = resolver_of(ports.tickets.events(view.survey.ticket_id), view.survey.resolution)

    def attempt() -> SurveyView:
        survey = latest[0]
        if survey.state is SurveyState.ANSWERED:
            raise SurveyAnsweredError("This survey has already been answered")
        if survey.state not in OPEN_STATES:
            raise SurveyClosedError("This survey has closed")
        now = ports.clock()
        ticket = ports.tickets.get(survey.ticket_id)
        payload = SurveyAnswered(
            survey_id=survey.id,
            score=answer.score,
            agent=agent,
            comment=answer.comment or None,
        )
        customer = Caller(Role.CUSTOMER, survey.customer_id)
        answered = Event.of(ports.ids.event_id(), survey.ticket_id, now, customer, payload)
        change, closing = _closing(ticket, survey, now, ports)
        try:
            ports.surveys.answer(survey, answer, now, [answered, *closing], change)
        except (SurveyStateChangedError, VersionConflictError, TransactionConflictError):
            latest[0] = ports.surveys.get(survey.id) or survey
            raise
        return SurveyView(
            replace(survey, state=SurveyState.ANSWERED, score=answer.score), view.subject
        )

    return retrying(
        attempt,
        also=(SurveyStateChangedError, VersionConflictError),
        busy=lambda: SurveyAnsweredError("The survey changed while answering; open the link again"),
    )
