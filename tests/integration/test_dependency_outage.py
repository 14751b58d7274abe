"""Fault injection: an AWS service the API needs is down. Real adapters on moto, the
requests through the Chalice app (its authorizer, views and middleware).

A botocore `before-send` handler refuses every attempt of the operations named down, as
a service out of reach does (EndpointConnectionError); the SDK retries them as it would
(its backoff recorded instead of slept), then gives up. The client must get a 503
problem+json with Retry-After, no stack trace and no internals; a write must have left
nothing behind, so the same request with the same Idempotency-Key succeeds once the
service is back, once.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import botocore.handlers
import msgspec
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError
from chalice.test import Client
from moto.core.botocore_stubber import MockRawResponse

import app as application
from chalicelib import bootstrap
from chalicelib.adapters.secrets import REFRESH_SECONDS, SecretsManagerCursorKeys
from local.token import mint

REGION = "ap-east-1"
TICKET = {
    "channel": "mobile",
    "kind": "consultation",
    "category": "card",
    "subject": "Card blocked abroad",
    "description": "",
}
# What a client may read in a 503: nothing of the service, the SDK or the code.
INTERNALS = ("Traceback", "Error", "DynamoDB", "Secrets", "botocore", "endpoint", "cursor")


@dataclass
class Outage:
    """Fails every attempt (the SDK's retries too) of the operations in `down`: the
    endpoint out of reach, or (`failing`, for reads: moto still sees the request) an
    answer 500 InternalServerError. The operations in `then` go down too once one of
    `down` has failed."""

    down: set[str] = field(default_factory=set)
    failing: bool = False
    throttled: bool = False  # answer 400 ProvisionedThroughputExceeded instead
    then: set[str] = field(default_factory=set)
    attempts: Counter[str] = field(default_factory=Counter)

    def __call__(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        operation = event_name.rpartition(".")[2]
        if operation not in self.down:
            return None
        self.attempts[operation] += 1
        self.down |= self.then
        if self.throttled:
            error = {"__type": "ProvisionedThroughputExceededException", "message": "Slow down"}
            return AWSResponse(request.url, 400, {}, MockRawResponse(json.dumps(error)))
        if not self.failing:
            raise EndpointConnectionError(endpoint_url=request.url)
        error = {"__type": "InternalServerError", "message": "Internal server error"}
        return AWSResponse(request.url, 500, {}, MockRawResponse(json.dumps(error)))


@dataclass
class Monotonic:
    """The cursor keys' clock, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Desk:
    client: Client
    outage: Outage
    table: str
    backoffs: list[float]
    clock: Monotonic

    def get(self, path: str, subject: str = "cust-1") -> Any:
        return self.client.http.get(path, headers=_auth(subject))

    def post(self, path: str, body: dict[str, Any], key: str) -> Any:
        headers = _auth("cust-1") | {"Content-Type": "application/json", "Idempotency-Key": key}
        return self.client.http.post(path, headers=headers, body=json.dumps(body))

    def items(self) -> list[dict[str, Any]]:
        pages = boto3.client("dynamodb", region_name=REGION).get_paginator("scan")
        return [item for page in pages.paginate(TableName=self.table) for item in page["Items"]]


def _auth(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint('customers', subject)}"}


@pytest.fixture
def desk(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    outage = Outage()
    # Every DynamoDB client made from now on (the models' and the transactions' are made on
    # first use) refuses what is down, before moto sees it: nothing reaches the table.
    handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("before-send.dynamodb", outage)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
    backoffs: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=backoffs.append))
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.meta.events.register_first("before-send.secrets-manager", outage)
    arn = secrets.create_secret(Name="cursor-key", SecretString="k1" * 32)["ARN"]
    clock = Monotonic()
    keys = SecretsManagerCursorKeys(secrets, arn, clock=clock)
    bootstrap.use(msgspec.structs.replace(bootstrap.container(), cursor_keys=keys))
    with Client(application.app) as client:
        yield Desk(client, outage, aws["table_name"], backoffs, clock)


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = json.loads(response.body)
    assert (body["type"], body["status"]) == ("service-unavailable", 503)
    assert set(body) == {"type", "title", "status", "detail"}
    assert not [word for word in INTERNALS if word.lower() in response.body.decode().lower()]


def _logged_once(caplog: pytest.LogCaptureFixture, route: str) -> logging.LogRecord:
    """The one warning the outage logged: no error, no stack trace, no caller's data."""
    records = [r for r in caplog.records if r.getMessage() == "dependency unavailable"]
    assert [r.levelno for r in caplog.records if r.levelno >= logging.ERROR] == []
    [record] = records
    assert (record.levelno, getattr(record, "route", None)) == (logging.WARNING, route)
    assert record.exc_info is None and "cust-1" not in str(vars(record))
    return record


def test_a_list_while_secrets_manager_is_down_answers_503_then_200_once_it_is_back(
    desk: Desk, caplog: pytest.LogCaptureFixture
):
    for key in ("k-1", "k-2"):
        assert desk.post("/v1/tickets", TICKET, key).status_code == 201
    caplog.clear()
    desk.outage.down = {"GetSecretValue"}  # a cold start: no key is held yet

    _assert_unavailable(desk.get("/v1/tickets?limit=1"))
    assert desk.outage.attempts["GetSecretValue"] > 1  # the SDK retried first
    assert "cursor key" in getattr(_logged_once(caplog, "/v1/tickets"), "cause", "")

    desk.outage.down = set()
    desk.clock.now += REFRESH_SECONDS  # Secrets Manager is asked again after a short pause
    first = desk.get("/v1/tickets?limit=1")
    assert first.status_code == 200
    cursor = json.loads(first.body)["next_cursor"]
    second = desk.get(f"/v1/tickets?limit=1&cursor={cursor}")
    assert second.status_code == 200
    shown = [json.loads(page.body)["items"][0]["id"] for page in (first, second)]
    assert len(set(shown)) == 2


@pytest.mark.parametrize(
    ("down", "failing"),
    [({"GetItem"}, False), ({"Query"}, True)],
    ids=["GetItem out of reach", "Query failing"],
)
def test_a_dynamodb_outage_on_a_read_answers_503_then_200_once_it_is_back(
    desk: Desk, down: set[str], failing: bool, caplog: pytest.LogCaptureFixture
):
    created = desk.post("/v1/tickets", TICKET, "k-1")
    ticket_id = json.loads(created.body)["id"]
    caplog.clear()
    desk.outage.down, desk.outage.failing = down, failing
    path = f"/v1/tickets/{ticket_id}" if down == {"GetItem"} else "/v1/tickets"

    _assert_unavailable(desk.get(path))
    assert sum(desk.outage.attempts.values()) > 1 and desk.backoffs  # after the SDK's retries
    _logged_once(caplog, "/v1/tickets/{ticket_id}" if down == {"GetItem"} else "/v1/tickets")

    desk.outage.down = set()
    assert desk.get(path).status_code == 200


@pytest.mark.parametrize(
    "then", [set(), {"GetItem"}], ids=["write", "and the check of its outcome"]
)
def test_a_dynamodb_outage_on_a_write_answers_503_and_the_same_key_then_creates_one_ticket(
    desk: Desk, then: set[str]
):
    desk.outage.down, desk.outage.then = {"TransactWriteItems"}, then
    _assert_unavailable(desk.post("/v1/tickets", TICKET, "k-1"))
    assert desk.outage.attempts["TransactWriteItems"] > 1
    assert bool(desk.outage.attempts["GetItem"]) == bool(then)  # it could not tell
    assert desk.items() == []  # nothing half-written: no ticket, event or stored response

    desk.outage.down = set()
    created = desk.post("/v1/tickets", TICKET, "k-1")  # no 409 request-in-flight
    assert created.status_code == 201
    again = desk.post("/v1/tickets", TICKET, "k-1")
    assert (again.status_code, again.body) == (201, created.body)
    tickets = [item for item in desk.items() if item["sk"]["S"] == "#TICKET"]
    assert [item["ticket_id"]["S"] for item in tickets] == [json.loads(created.body)["id"]]


def test_a_read_dynamodb_refuses_for_capacity_to_the_end_answers_429_then_200(desk: Desk):
    created = desk.post("/v1/tickets", TICKET, "k-1")
    path = f"/v1/tickets/{json.loads(created.body)['id']}"
    desk.outage.down, desk.outage.throttled = {"GetItem"}, True

    refused = desk.get(path)
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert json.loads(refused.body)["type"] == "throttled"
    assert desk.outage.attempts["GetItem"] > 1  # the SDK retried first

    desk.outage.down = set()
    assert desk.get(path).status_code == 200
