"""Surveys on the single table, and their Step Functions executions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo import event_items, ticket_to_item
from chalicelib.adapters.mapping import fields_except, values_of
from chalicelib.adapters.models import SurveyCodeItem, SurveyCooldownItem, SurveyItem, get_item
from chalicelib.adapters.transactions import Refusal, Refused, Transaction, written
from chalicelib.domain.events import Event
from chalicelib.domain.surveys import COOLDOWN, OPEN_STATES, Answer, Survey, SurveyState
from chalicelib.logs import logger
from chalicelib.service.ports import (
    SurveyStateChangedError,
    SurveyStore,
    SurveyWorkflow,
    TicketChange,
    VersionConflictError,
)

SURVEY_SK = "SURVEY"
# Codes outlive their survey long enough for a late click to say "expired", not "unknown".
CODE_RETENTION = timedelta(days=30)
# The customer's last answer matters for COOLDOWN only; a day's margin, then it expires.
COOLDOWN_RETENTION = COOLDOWN + timedelta(days=1)
_UNFINISHED = (SurveyState.PENDING, *OPEN_STATES)


def survey_pk(survey_id: str) -> str:
    return f"SURVEY#{survey_id}"


def _cooldown_key(customer_id: str) -> tuple[str, str]:
    return f"CUSTOMER#{customer_id}", "SURVEY_ANSWERED"


# Survey fields the item stores under the same name, as they are (the rest converted).
_SURVEY_AS_IS = fields_except(Survey, "id", "resolution", "state", "score", "settled", "rounds")


def item_to_survey(item: SurveyItem) -> Survey:
    return Survey(
        id=item.pk.removeprefix("SURVEY#"),
        **values_of(item, _SURVEY_AS_IS),
        resolution=int(item.resolution),
        state=SurveyState(item.survey_state),
        score=int(item.score) if item.score is not None else None,
        settled=item.settled_at is not None,
        rounds=frozenset(int(number) for number in item.rounds or ()),
    )


def survey_from_stream_image(image: dict[str, Any]) -> Survey | None:
    """Decode a stream record's NewImage; None when the item is not a survey."""
    if image.get("item_type", {}).get("S") != "survey":
        return None
    item = SurveyItem.from_raw_data(dict(image))
    return item_to_survey(item)


class DynamoSurveyStore(SurveyStore):
    def __init__(self, connection: Connection, retention: timedelta) -> None:
        self._connection = connection
        self._retention = retention  # the survey record is kept as long as its ticket

    def create(self, survey: Survey) -> bool:
        item = SurveyItem(
            pk=survey_pk(survey.id),
            sk=SURVEY_SK,
            **values_of(survey, _SURVEY_AS_IS),
            resolution=survey.resolution,
            survey_state=survey.state.value,
            expires_at=int((survey.created_at + self._retention).timestamp()),
        )
        return written(lambda: item.save(condition=SurveyItem.pk.does_not_exist()))

    def get(self, survey_id: str) -> Survey | None:
        item = get_item(SurveyItem, survey_pk(survey_id), SURVEY_SK, consistent=True)
        return item_to_survey(item) if item is not None else None

    def by_code(self, digest: str) -> Survey | None:
        code = get_item(SurveyCodeItem, f"SURVEYCODE#{digest}", "CODE")
        return self.get(code.survey_id) if code is not None else None

    def last_answered(self, customer_id: str) -> datetime | None:
        cooldown = get_item(SurveyCooldownItem, *_cooldown_key(customer_id))
        return cooldown.answered_at if cooldown is not None else None

    def forget_cooldown(self, customer_id: str) -> None:
        SurveyCooldownItem(*_cooldown_key(customer_id)).delete()

    def add_code(self, survey_id: str, digest: str, at: datetime) -> None:
        # Keyed by the hash: a link is found with one GetItem, never a scan.
        SurveyCodeItem(
            pk=f"SURVEYCODE#{digest}",
            sk="CODE",
            survey_id=survey_id,
            expires_at=int((at + CODE_RETENTION).timestamp()),
        ).save()

    def record_round(self, survey: Survey, round_number: int, event: Event) -> bool:
        expected = SurveyState.INVITED if round_number == 1 else SurveyState.REMINDED
        marker = str(round_number)
        try:
            with Transaction(self._connection) as writes:
                writes.update(
                    "survey",
                    SurveyItem(pk=survey_pk(survey.id), sk=SURVEY_SK),
                    actions=[SurveyItem.rounds.add({marker})],
                    condition=(SurveyItem.survey_state == expected.value)
                    & ~SurveyItem.rounds.contains(marker),
                )
                writes.events(event_items([event], None))
        except Refused:
            return False  # recorded already, or the survey moved on (answered, withdrawn)
        return True

    def answer(
        self,
        survey: Survey,
        answer: Answer,
        at: datetime,
        events: list[Event],
        ticket: TicketChange | None,
    ) -> None:
        open_states = [state.value for state in OPEN_STATES]
        actions: list[Action] = [
            SurveyItem.survey_state.set(SurveyState.ANSWERED.value),
            SurveyItem.score.set(answer.score),
            SurveyItem.answered_at.set(at),
        ]
        if answer.comment:
            actions.append(SurveyItem.comment.set(answer.comment))
        with Transaction(self._connection, _refusals(survey, ticket)) as writes:
            writes.update(
                "survey",
                SurveyItem(pk=survey_pk(survey.id), sk=SURVEY_SK),
                actions=actions,
                condition=SurveyItem.survey_state.is_in(*open_states),
            )
            writes.events(event_items(events, None))
            _write_ticket(writes, ticket, self._retention)
            pk, sk = _cooldown_key(survey.customer_id)
            cooldown = SurveyCooldownItem(
                pk=pk,
                sk=sk,
                answered_at=at,
                expires_at=int((at + COOLDOWN_RETENTION).timestamp()),
            )
            writes.save("cooldown", cooldown)

    def settle_expiry(
        self, survey: Survey, events: list[Event], ticket: TicketChange | None
    ) -> bool:
        refusals = _refusals(survey, ticket)
        refusals["survey"] = lambda: Refused(frozenset({"survey"}))  # settled already
        try:
            with Transaction(self._connection, refusals) as writes:
                writes.update(
                    "survey",
                    SurveyItem(pk=survey_pk(survey.id), sk=SURVEY_SK),
                    actions=[SurveyItem.settled_at.set(events[0].at)],
                    condition=(SurveyItem.survey_state == SurveyState.EXPIRED.value)
                    & SurveyItem.settled_at.does_not_exist(),
                )
                writes.events(event_items(events, None))
                _write_ticket(writes, ticket, self._retention)
        except Refused:
            return False
        return True

    def withdraw(self, survey_id: str) -> bool:
        return written(
            lambda: SurveyItem(pk=survey_pk(survey_id), sk=SURVEY_SK).update(
                actions=[SurveyItem.survey_state.set(SurveyState.WITHDRAWN.value)],
                condition=SurveyItem.survey_state.is_in(*[state.value for state in _UNFINISHED]),
            )
        )


def _write_ticket(writes: Transaction, ticket: TicketChange | None, retention: timedelta) -> None:
    if ticket is not None:
        item = ticket_to_item(ticket.ticket, on_disk=ticket.expected_version, retention=retention)
        writes.save("ticket", item)


def _refusals(survey: Survey, ticket: TicketChange | None) -> dict[str, Refusal]:
    """What a failed condition means: the survey left the state the write expected (that
    comes first), or the ticket moved."""
    refusals: dict[str, Refusal] = {"survey": lambda: SurveyStateChangedError(survey.id)}
    if ticket is not None:
        refusals["ticket"] = lambda: VersionConflictError(ticket.ticket.id)
    return refusals


class StepFunctionsSurveyWorkflow(SurveyWorkflow):
    """Executions of the survey state machine, named after their survey."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._machine = state_machine_arn

    def _execution_arn(self, name: str) -> str:
        prefix, _, machine = self._machine.rpartition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, payload: dict[str, Any]) -> None:
        try:
            self._client.start_execution(
                stateMachineArn=self._machine, name=name, input=json.dumps(payload)
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            logger.info("survey execution already started", extra={"execution": name})

    def stop(self, name: str) -> None:
        try:
            self._client.stop_execution(
                executionArn=self._execution_arn(name), cause="ticket reopened"
            )
        except self._client.exceptions.ExecutionDoesNotExist:
            return

    def answered(self, task_token: str) -> None:
        errors = self._client.exceptions
        try:
            self._client.send_task_success(taskToken=task_token, output="{}")
        except (errors.TaskTimedOut, errors.TaskDoesNotExist, errors.InvalidToken):
            # The window closed at the same moment, or a redelivery: the workflow's
            # own conditional writes see the answer and end quietly.
            logger.info("survey task already settled")
