"""The REAL survey state machine, run by moto's Step Functions executor in-process.

The stream pump feeds the real stream handler, exactly as the local stack does;
only the SMS provider is a recorder so the test can read the links it was given.
Delays come from the execution input, so each path takes seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
import msgspec
import pytest

from chalicelib import bootstrap
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.surveys import (
    Answer,
    Survey,
    SurveyState,
    code_digest,
    new_code,
    survey_id,
)
from chalicelib.domain.ticket import Ticket
from chalicelib.handlers.stream import on_table_change
from chalicelib.service import surveys
from chalicelib.service.notifications import issue_survey_code
from chalicelib.service.ports import ListQuery
from chalicelib.service.tickets import StoredResponse, act, create_ticket
from local.pump import StreamPump
from tests.fakes import RecordingNotifier, card_request

CUSTOMER = Caller(Role.CUSTOMER, "c-survey")
AGENT = Caller(Role.AGENT, "a-survey")
TRANSITION_BUDGET = 10  # Standard workflows bill each state transition
LINK = re.compile(r"/s/([A-Za-z0-9_-]{22})")


def _eventually(check: Callable[[], Any], timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true after {timeout} s: {check.__doc__ or check}")


class Desk:
    def __init__(
        self, resources: dict[str, str], notifier: RecordingNotifier, pump: StreamPump
    ) -> None:
        self.resources = resources
        self.notifier = notifier
        self.pump = pump
        self.sfn = boto3.client("stepfunctions")

    def drain(self) -> None:
        """Until the pump has handled every record on the stream, those its reactions wrote
        included: what the handler would send has been sent."""
        while True:
            ends = self._stream_ends()
            _eventually(partial(self.pump.has_read_to, ends))
            if self._stream_ends() == ends:
                return

    def _stream_ends(self) -> dict[str, str]:
        streams = boto3.client("dynamodbstreams")
        arn = self.resources["stream_arn"]
        ends = {}
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = streams.get_records(ShardIterator=iterator)
                if not response["Records"]:
                    break
                ends[shard["ShardId"]] = response["Records"][-1]["dynamodb"]["SequenceNumber"]
                iterator = response.get("NextShardIterator")
        return ends

    def resolved_ticket(self, phone: str, locale: str = "zh-CN") -> Ticket:
        request = card_request({"phone": phone, "locale": locale})
        ticket_id = create_ticket(
            bootstrap.container().ticket_ports(),
            CUSTOMER,
            request,
            lambda t: StoredResponse(201, t.id),
        ).body
        for action, params in (("assign", {}), ("start", {}), ("resolve", {"resolution": "ok"})):
            ticket = act(bootstrap.container().ticket_ports(), AGENT, ticket_id, action, params)
        return ticket

    def ticket(self, ticket_id: str) -> Ticket:
        found = bootstrap.container().ticket_ports().repository.get(ticket_id)
        assert found is not None
        return found

    def codes(self, phone: str) -> list[str]:
        return [
            match
            for message in self.notifier.sent
            if message.to == phone
            for match in LINK.findall(message.text)
        ]

    def execution(self, ticket: Ticket, resolution: int = 1) -> dict[str, Any]:
        machine = self.resources["survey_state_machine_arn"]
        prefix, _, name = machine.rpartition(":stateMachine:")
        arn = f"{prefix}:execution:{name}:{survey_id(ticket.id, resolution)}"
        return self.sfn.describe_execution(executionArn=arn)

    def finished(self, ticket: Ticket) -> dict[str, Any] | None:
        try:
            execution = self.execution(ticket)
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None  # the stream has not started it yet
        return execution if execution["status"] != "RUNNING" else None

    def states_entered(self, execution: dict[str, Any]) -> list[str]:
        history = self.sfn.get_execution_history(executionArn=execution["executionArn"])
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in history["events"]
            if event["type"].endswith("StateEntered")
        ]

    def history_text(self, execution: dict[str, Any]) -> str:
        history = self.sfn.get_execution_history(executionArn=execution["executionArn"])
        return str(history["events"]) + str(execution.get("input"))


@pytest.fixture
def desk(aws: dict[str, str]) -> Iterator[Desk]:
    settings = msgspec.structs.replace(
        bootstrap.container().settings,
        survey_state_machine_arn=aws["survey_state_machine_arn"],
        survey_delay_seconds=1,
        survey_window_seconds=3,
    )
    notifier = RecordingNotifier()
    bootstrap.use(msgspec.structs.replace(bootstrap.bootstrap(settings), notifier=notifier))
    pump = StreamPump(
        boto3.client("dynamodbstreams"), aws["stream_arn"], on_table_change, interval=0.1
    )
    pump.start()
    yield Desk(aws, notifier, pump)
    pump.stop()
    pump.join(timeout=5)


def _code_from_the_functions_configuration(survey: str, round_number: int) -> str:
    """What anyone who could read the function's configuration could compute while codes
    were derived (HMAC of the survey id and round under the cursor key)."""
    secret = bootstrap.container().settings.cursor_key
    assert secret is not None
    key = hmac.new(secret, b"servicedesk survey codes v1", hashlib.sha256).digest()
    mac = hmac.new(key, f"{survey}#{round_number}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")


def _answer(code: str, score: int) -> None:
    ports = bootstrap.container().survey_ports(workflow=False)
    surveys.answer_survey(ports, surveys.find_survey(ports, code), Answer(score, None))


def test_answered_survey_closes_the_ticket_in_few_transitions(desk):
    ticket = desk.resolved_ticket("+8613800000001")
    code = _eventually(lambda: desk.codes("+8613800000001"))[0]
    computed = _code_from_the_functions_configuration(survey_id(ticket.id, 1), 1)
    assert code != computed  # random: no key in the configuration gives it away
    with pytest.raises(NotFoundError):
        surveys.find_survey(bootstrap.container().survey_ports(workflow=False), computed)
    _answer(code, 5)
    execution = _eventually(lambda: desk.finished(ticket))
    assert execution["status"] == "SUCCEEDED"
    assert desk.ticket(ticket.id).status == "closed"
    entered = desk.states_entered(execution)
    assert entered[-1] == "Answered"
    assert len(entered) <= TRANSITION_BUDGET, entered
    table = boto3.client("dynamodb")
    raw = table.get_item(
        TableName=desk.resources["table_name"],
        Key={"pk": {"S": f"SURVEY#{survey_id(ticket.id, 1)}"}, "sk": {"S": "SURVEY"}},
    )["Item"]
    kept = int(raw["expires_at"]["N"]) - int(time.time())
    retention = bootstrap.container().settings.retention_days * 86400
    assert retention - 3600 < kept <= retention  # kept as long as the ticket's records
    assert code not in str(raw)  # only the code's hash is stored, and not here
    text = desk.history_text(execution)
    assert "+8613800000001" not in text and "Card blocked" not in text and code not in text


def test_low_score_opens_a_service_recovery_ticket(desk):
    ticket = desk.resolved_ticket("+8613800000002", "en-US")
    code = _eventually(lambda: desk.codes("+8613800000002"))[0]
    _answer(code, 1)
    repository = bootstrap.container().ticket_ports().repository

    def recovery() -> list[Ticket]:
        """a recovery ticket exists"""
        page = repository.query_tickets(ListQuery("customer", CUSTOMER.id, limit=50))
        return [t for t in page.items if t.parent_id == ticket.id]

    [child] = _eventually(recovery)
    assert (child.queue, child.priority, child.kind) == ("service-recovery", "high", "complaint")
    assert _eventually(lambda: desk.finished(ticket))["status"] == "SUCCEEDED"


def test_unanswered_survey_is_reminded_once_then_expires_and_closes(desk):
    ticket = desk.resolved_ticket("+8613800000003")
    execution = _eventually(lambda: desk.finished(ticket))
    entered = desk.states_entered(execution)
    assert entered[-3:] == ["Remind", "Expire", "Expired"], entered
    assert len(entered) <= TRANSITION_BUDGET, entered
    _eventually(lambda: desk.ticket(ticket.id).status == "closed")
    invitation, reminder = desk.codes("+8613800000003")
    assert invitation != reminder
    ports = bootstrap.container().survey_ports(workflow=False)
    for code in (invitation, reminder):
        assert surveys.find_survey(ports, code).survey.public_status == "expired"
    types = [e.type for e in bootstrap.container().ticket_ports().repository.events(ticket.id)]
    assert [t for t in types if t.startswith("survey.")] == [
        "survey.invited",
        "survey.reminded",
        "survey.expired",
    ]


def test_a_codes_hash_is_its_key_and_every_code_given_out_keeps_working(aws):
    store = bootstrap.container().survey_store
    at = datetime.now(UTC)
    survey = Survey("T-CODES-r1", "T-CODES", "c-codes", 1, SurveyState.INVITED, "zh-CN", at)
    assert store.create(survey)
    # A link sent before codes were random (its hash stored the same way) and two new ones.
    codes = ["A" * 11 + "b" * 11, issue_survey_code(store, survey.id, at)]
    store.add_code(survey.id, code_digest(codes[0]), at)
    codes.append(issue_survey_code(store, survey.id, at))
    assert len(set(codes)) == 3
    for code in codes:
        assert store.by_code(code_digest(code)) == survey
    stored = boto3.client("dynamodb").get_item(
        TableName=aws["table_name"],
        Key={"pk": {"S": f"SURVEYCODE#{code_digest(codes[1])}"}, "sk": {"S": "CODE"}},
    )["Item"]
    assert stored["survey_id"] == {"S": survey.id} and codes[1] not in str(stored)
    assert store.by_code(code_digest(new_code())) is None


def test_reopen_before_the_invitation_sends_nothing(desk):
    current = bootstrap.container()
    # A delay no slow machine runs out before the reopen: its reaction stops the execution.
    later = msgspec.structs.replace(current.settings, survey_delay_seconds=600)
    bootstrap.use(msgspec.structs.replace(bootstrap.bootstrap(later), notifier=current.notifier))
    ticket = desk.resolved_ticket("+8613800000004")

    def running() -> bool:
        """the survey's execution is waiting out its delay"""
        try:
            return bool(desk.execution(ticket)["status"] == "RUNNING")
        except desk.sfn.exceptions.ExecutionDoesNotExist:
            return False

    _eventually(running)
    act(
        bootstrap.container().ticket_ports(),
        CUSTOMER,
        ticket.id,
        "reopen",
        {"reason": "still blocked"},
    )
    execution = _eventually(lambda: desk.finished(ticket))
    assert execution["status"] == "ABORTED"
    desk.drain()  # whatever the workflow wrote has been handled
    assert desk.codes("+8613800000004") == []
    survey = bootstrap.container().survey_ports(workflow=False).surveys.get(survey_id(ticket.id, 1))
    assert survey is not None and survey.public_status == "expired"
    assert desk.ticket(ticket.id).status == "in_progress"
