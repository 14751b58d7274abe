"""A dependency the desk needs is down (DynamoDB, Secrets Manager), after the SDK's own
retries: the adapters say so with the ports' DependencyUnavailableError, the API answers
503 `service-unavailable` with Retry-After, and a write that failed so left nothing
behind, so the same request with the same Idempotency-Key succeeds later, once. (The
same through the app and moto: tests/integration/test_dependency_outage.py; throttling:
test_dependency_throttling.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pynamodb.exceptions import (
    CancellationReason,
    GetError,
    PutError,
    QueryError,
    TransactWriteError,
    VerboseClientError,
)

from chalicelib.adapters.secrets import REFRESH_SECONDS, SecretsManagerCursorKeys
from chalicelib.adapters.transactions import aws_failure, storage_error, written
from chalicelib.api.cursors import CursorCodec
from chalicelib.api.problems import GENERIC_PROBLEMS, problem_for
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket
from chalicelib.service import tickets
from chalicelib.service.idempotency import IdempotencyKey
from chalicelib.service.ports import (
    DependencyUnavailableError,
    IdempotencyRecord,
    StartKey,
    StoreThrottledError,
)
from chalicelib.service.retries import unavailable
from chalicelib.service.tickets import StoredResponse, TicketPorts
from tests.fakes import FixedClock, InMemoryTicketRepository, SequentialIds, card_request

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")


def _dynamodb(error: type[Any], code: str, operation: str = "GetItem") -> Any:
    cause = VerboseClientError({"Error": {"Code": code, "Message": "x"}}, operation)
    return error("failed", cause=cause)


@pytest.mark.parametrize(
    "error",
    [
        _dynamodb(GetError, "InternalServerError"),
        _dynamodb(QueryError, "ServiceUnavailable", "Query"),
        _dynamodb(TransactWriteError, "InternalServerError", "TransactWriteItems"),
        GetError("failed", cause=EndpointConnectionError(endpoint_url="https://dynamodb")),
        PutError("failed", cause=ReadTimeoutError(endpoint_url="https://dynamodb")),
    ],
    ids=["GetItem 500", "Query 503", "transaction 500", "no connection", "read timeout"],
)
def test_the_adapter_turns_a_dynamodb_outage_into_the_ports_error(error):
    mapped = storage_error(error)
    assert isinstance(mapped, DependencyUnavailableError)
    assert isinstance(aws_failure(error), DependencyUnavailableError)
    assert "failed" not in str(mapped)  # the service and its code, not PynamoDB's text


def test_a_single_item_write_that_timed_out_is_an_outage_not_a_crash():
    # PynamoDB's cause_response_code raises AttributeError on a read timeout's cause.
    def write() -> None:
        raise PutError("failed", cause=ReadTimeoutError(endpoint_url="https://dynamodb"))

    with pytest.raises(DependencyUnavailableError):
        written(write)


def test_capacity_refusals_and_conditions_stay_what_they_were():
    assert isinstance(
        storage_error(_dynamodb(PutError, "ProvisionedThroughputExceededException")),
        StoreThrottledError,
    )
    refused = aws_failure(_dynamodb(GetError, "ProvisionedThroughputExceededException"))
    assert isinstance(refused, StoreThrottledError)  # a read refused for capacity: 429
    assert storage_error(_dynamodb(PutError, "ConditionalCheckFailedException")) is None
    assert aws_failure(_dynamodb(GetError, "ValidationException")) is None
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "x"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code="TransactionConflict")],
    )
    assert aws_failure(TransactWriteError("failed", cause=cause)) is None


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "HeadObject")


def test_another_services_outage_is_told_and_a_bug_is_not():
    assert isinstance(aws_failure(_client_error("InternalError", 500)), DependencyUnavailableError)
    assert isinstance(aws_failure(_client_error("503", 503)), DependencyUnavailableError)
    assert isinstance(
        aws_failure(ReadTimeoutError(endpoint_url="https://s3")), DependencyUnavailableError
    )
    assert aws_failure(_client_error("AccessDenied", 403)) is None
    assert aws_failure(KeyError("id")) is None  # a bug stays a 500


def test_the_answer_is_a_503_problem_with_retry_after_and_no_internals():
    response = problem_for(unavailable())
    body = json.loads(response.body)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert (body["type"], body["status"]) == ("service-unavailable", 503)
    assert GENERIC_PROBLEMS[503] == (body["type"], body["title"])
    assert not any(word in body["detail"] for word in ("DynamoDB", "Secrets", "Error", "AWS"))


class SecretsManager:
    """A Secrets Manager client that is out of reach while `down`."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.down:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager")
        if VersionStage == "AWSPREVIOUS":
            error: Any = {"Error": {"Code": "ResourceNotFoundException"}}
            raise ClientError(error, "GetSecretValue")
        return {"SecretString": "k1" * 32}


def test_cursor_keys_out_of_reach_on_a_cold_start_are_an_outage_then_sign_once_back():
    client, now = SecretsManager(), [0.0]
    codec = CursorCodec(SecretsManagerCursorKeys(client, "arn:secret", clock=lambda: now[0]))
    with pytest.raises(DependencyUnavailableError) as raised:
        codec.encode(StartKey("position"), "query")
    assert aws_failure(raised.value) is raised.value
    client.down = False
    now[0] += REFRESH_SECONDS  # asked again after the pause that spares Secrets Manager
    cursor = codec.encode(StartKey("position"), "query")
    assert codec.decode(cursor, "query") == "position"


class UnreachableTicketRepository(InMemoryTicketRepository):
    """The in-memory repository whose writes fail while `down`, as the DynamoDB adapter
    reports an outage: the ports' error, nothing written."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.failed = 0

    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        if self.down:
            self.failed += 1
            raise DependencyUnavailableError("DynamoDB (TransactWriteError): InternalServerError")
        super().create(ticket, events, idempotency)


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, ticket.id)


def test_a_create_during_an_outage_leaves_nothing_and_the_same_key_then_creates_once():
    repository = UnreachableTicketRepository()
    ports = TicketPorts(repository=repository, ids=SequentialIds(), clock=FixedClock())
    key = IdempotencyKey("customer:cust-1:POST /v1/tickets", "k-1", "f")
    request = card_request({"email": "j@example.com"})
    repository.down = True
    with pytest.raises(DependencyUnavailableError):
        tickets.create_ticket(ports, CUSTOMER, request, _render, key)
    assert repository.failed == 1  # the SDK has retried already: not retried again
    assert (repository.tickets, repository.event_log, repository.idempotency) == ({}, {}, {})

    repository.down = False
    created = tickets.create_ticket(ports, CUSTOMER, request, _render, key)  # not in flight
    assert tickets.create_ticket(ports, CUSTOMER, request, _render, key) == created
    assert list(repository.tickets) == [created.body] and repository.writes == 1
