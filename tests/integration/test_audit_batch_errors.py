"""The audit log's batch writes when DynamoDB refuses the whole call: the store's error
is mapped where every storage error is (adapters/transactions.py), and a refusal of the
whole call is not resent by us (the SDK has retried it already). Real adapter on moto;
a botocore `before-call` handler answers BatchWriteItem with the error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib.adapters.models import AuditItem
from chalicelib.adapters.records import DynamoAuditLog
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.identity import Caller, Role
from chalicelib.service.ports import DependencyUnavailableError, StoreThrottledError

AGENT = Caller(Role.AGENT, "agent-7")
_EVENT = "before-call.dynamodb.BatchWriteItem"


class RefusedBatches:
    """Answers every BatchWriteItem with `status` and the AWS error `code`."""

    def __init__(self, status: int, code: str) -> None:
        self.status, self.code = status, code
        self.calls = 0
        AuditItem._get_connection().connection.client.meta.events.register(_EVENT, self)

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        self.calls += 1
        error = {"Error": {"Code": self.code, "Message": "refused"}}
        return AWSResponse("https://dynamodb", self.status, {}, None), error

    def remove(self) -> None:
        AuditItem._get_connection().connection.client.meta.events.unregister(_EVENT, self)


def _entries(count: int) -> list[AuditEntry]:
    at = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    return [AuditEntry(f"L-{n}", at, AGENT, "list_tickets", f"T-{n}") for n in range(count)]


@pytest.mark.parametrize(
    ("status", "code", "mapped"),
    [
        (400, "ProvisionedThroughputExceededException", StoreThrottledError),
        (400, "ThrottlingException", StoreThrottledError),
        (500, "InternalServerError", DependencyUnavailableError),
        (503, "ServiceUnavailable", DependencyUnavailableError),
    ],
)
def test_a_batch_the_store_refuses_whole_is_the_ports_error_at_once(aws, status, code, mapped):
    refused = RefusedBatches(status, code)
    waits: list[float] = []
    try:
        with pytest.raises(mapped):
            DynamoAuditLog(sleep=waits.append).record_many(_entries(3), 2_000_000_000)
    finally:
        refused.remove()
    assert (refused.calls, waits) == (1, [])  # not resent: the SDK retried it already


def test_a_batch_refused_for_a_reason_not_ours_to_map_is_raised_as_it_is(aws):
    refused = RefusedBatches(400, "ValidationException")
    try:
        with pytest.raises(Exception, match="ValidationException") as raised:
            DynamoAuditLog(sleep=lambda _: None).record_many(_entries(1), 2_000_000_000)
    finally:
        refused.remove()
    assert not isinstance(raised.value, StoreThrottledError | DependencyUnavailableError)
    assert refused.calls == 1


def test_unprocessed_items_are_resent_after_a_doubling_pause(aws):
    class LeftUnprocessed(RefusedBatches):
        def __call__(self, params: dict[str, Any], **_: Any) -> Any:
            self.calls += 1
            if self.calls > 3:
                return None  # let DynamoDB (moto) write them
            requested = json.loads(params["body"])["RequestItems"]
            return AWSResponse("https://dynamodb", 200, {}, None), {"UnprocessedItems": requested}

    unprocessed = LeftUnprocessed(200, "")
    waits: list[float] = []
    try:
        DynamoAuditLog(sleep=waits.append).record_many(_entries(2), 2_000_000_000)
    finally:
        unprocessed.remove()
    assert unprocessed.calls == 4
    assert waits == [0.05, 0.1, 0.2]  # after the first, second and third call
    assert len(DynamoAuditLog().page("actor", AGENT.id, 10, None).items) == 2
