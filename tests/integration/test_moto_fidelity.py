"""The local stack's moto patches (local/moto_fidelity.py): transactions are serializable
and atomic at the cost of what they touch, rolled-back writes never reach the stream,
the stream keeps 24 hours, and ClientRequestToken makes a retried transaction idempotent."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local import moto_fidelity

TABLE = "servicedesk"


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": name}, "sk": {"S": "x"}}


def _put(key: str, **attributes: Any) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {**_key(key), **attributes},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _add_one(key: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": _key(key),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def _item(dynamodb: Any, key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = dynamodb.get_item(
        TableName=TABLE, Key=_key(key), ConsistentRead=True
    ).get("Item")
    return found


class Stream:
    """Reads the table's stream like the local pump does."""

    def __init__(self, arn: str) -> None:
        self.client = boto3.client("dynamodbstreams")
        self.arn = arn
        shards = self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.shard_id = shards[0]["ShardId"]

    def iterator(self, kind: str = "TRIM_HORIZON", **sequence: str) -> str:
        iterator: str = self.client.get_shard_iterator(
            StreamArn=self.arn, ShardId=self.shard_id, ShardIteratorType=kind, **sequence
        )["ShardIterator"]
        return iterator

    def read(self, iterator: str) -> tuple[list[dict[str, Any]], str]:
        page = self.client.get_records(ShardIterator=iterator)
        return page["Records"], page["NextShardIterator"]

    def keys(self, iterator: str) -> list[str]:
        return [r["dynamodb"]["Keys"]["pk"]["S"] for r in self.read(iterator)[0]]


@pytest.fixture
def stream(aws: dict[str, str]) -> Stream:
    return Stream(aws["stream_arn"])


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock()
    moto_fidelity.set_clock(fake)
    yield fake
    moto_fidelity.set_clock(None)


def test_a_stream_iterator_keeps_working_after_a_cancelled_transaction(aws, stream):
    dynamodb = boto3.client("dynamodb")
    iterator = stream.iterator()
    dynamodb.transact_write_items(TransactItems=[_put("A")])
    records, after_a = stream.read(iterator)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["A"]

    with pytest.raises(ClientError):  # B would be written, then A's condition cancels both
        dynamodb.transact_write_items(TransactItems=[_put("B"), _put("A")])
    dynamodb.transact_write_items(TransactItems=[_put("C")])

    assert stream.keys(after_a) == ["C"]
    assert _item(dynamodb, "B") is None


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(aws, stream):
    dynamodb = boto3.client("dynamodb")
    dynamodb.transact_write_items(
        TransactItems=[
            _put("updated", v={"S": "before"}),
            _put("deleted", v={"S": "kept"}),
            _put("guard"),
        ]
    )
    before = {key: _item(dynamodb, key) for key in ("updated", "deleted", "added")}
    position = stream.read(stream.iterator())[1]

    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("updated"),
                        "UpdateExpression": "SET v = :after ADD n :one",
                        "ExpressionAttributeValues": {":after": {"S": "after"}, ":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": _key("deleted")}},
                _put("added", v={"S": "new"}),
                _add_one("created-by-update"),
                _put("updated-too"),
                {  # fails last: cancels the whole transaction
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("guard"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert {key: _item(dynamodb, key) for key in before} == before
    assert _item(dynamodb, "created-by-update") is None
    assert _item(dynamodb, "updated-too") is None
    assert stream.read(position)[0] == []


def test_a_request_error_half_way_rolls_back_what_was_written(aws, stream):
    """moto raises some request errors (two operations on one item) after it wrote the
    operations before; DynamoDB writes nothing."""
    dynamodb = boto3.client("dynamodb")
    position = stream.iterator("LATEST")
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[_put("first"), _put("twice"), _add_one("twice")]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _item(dynamodb, "first") is None
    assert stream.read(position)[0] == []
    dynamodb.transact_write_items(TransactItems=[_put("first")])
    assert stream.keys(position) == ["first"]


def _load(table: str, count: int) -> None:
    """Straight into moto's backend (as its BatchWriteItem would, stream records included):
    10^4 items through the SDK would take most of this test's time."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][boto3.session.Session().region_name]
    attributes = {"item_type": {"S": "ticket"}, "subject": {"S": "Card blocked abroad " * 5}}
    for number in range(count):
        backend.put_item(table, {**_key(f"load-{number}"), **attributes})


def _twin_table(dynamodb: Any, name: str) -> None:
    """An empty table with the desk's keys and stream."""
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    keys = {key["AttributeName"] for key in table["KeySchema"]}
    dynamodb.create_table(
        TableName=name,
        KeySchema=table["KeySchema"],
        AttributeDefinitions=[
            attribute
            for attribute in table["AttributeDefinitions"]
            if attribute["AttributeName"] in keys
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=table["StreamSpecification"],
    )


class _CopyCounter:
    """Stands in for `copy.deepcopy` and counts the objects each outermost call copies
    (the size of its memo): what a backup costs, whatever the machine's speed."""

    def __init__(self, deepcopy: Callable[..., Any]) -> None:
        self._deepcopy = deepcopy
        self.objects = 0

    def __call__(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if memo is not None:
            return self._deepcopy(value, memo)
        memo = {}
        copied = self._deepcopy(value, memo)
        self.objects += len(memo)
        return copied

    def during(self, act: Callable[[], object]) -> int:
        before = self.objects
        act()
        return self.objects - before


def _two_puts(dynamodb: Any, table: str, number: int) -> None:
    items = [_put(f"ticket-{number}"), _put(f"event-{number}")]
    for item in items:
        item["Put"]["TableName"] = table
    dynamodb.transact_write_items(TransactItems=items)


def test_a_transaction_on_a_big_table_copies_what_it_does_on_an_empty_one(aws, monkeypatch):
    """Issue 15: moto copied the whole table per transaction, so every write cost
    O(all writes ever made). Counted in objects copied, not in time: a transaction on
    a 10^4-item table copies exactly what the same one copies on an empty table."""
    dynamodb = boto3.client("dynamodb")
    _twin_table(dynamodb, "empty")
    _load(TABLE, 10_000)
    assert dynamodb.describe_table(TableName=TABLE)["Table"]["ItemCount"] == 10_000
    counter = _CopyCounter(copy.deepcopy)
    monkeypatch.setattr(copy, "deepcopy", counter)
    copied = {
        table: counter.during(partial(_two_puts, dynamodb, table, 1)) for table in (TABLE, "empty")
    }
    assert copied[TABLE] == copied["empty"], copied
    assert copied[TABLE] < 1_000, copied  # not the 10^4 items


def test_the_stream_keeps_24_hours_of_records(aws, stream, clock):
    dynamodb = boto3.client("dynamodb")
    for number in range(50):
        dynamodb.transact_write_items(TransactItems=[_put(f"old-{number}")])
    clock.now += timedelta(hours=23, minutes=55)
    dynamodb.transact_write_items(TransactItems=[_put("recent")])
    from_the_start = stream.iterator()
    page = stream.client.get_records(ShardIterator=from_the_start, Limit=50)
    last_old = page["Records"][-1]["dynamodb"]["SequenceNumber"]
    after_old = stream.iterator("AFTER_SEQUENCE_NUMBER", SequenceNumber=last_old)

    clock.now += timedelta(minutes=10)  # the 50 are now 24 h 5 min old
    dynamodb.transact_write_items(TransactItems=[_put("new")])

    assert stream.keys(stream.iterator()) == ["recent", "new"]  # TRIM_HORIZON moved on
    assert stream.keys(after_old) == ["recent", "new"]  # a reader's iterator stays valid
    with pytest.raises(ClientError) as trimmed:
        stream.read(from_the_start)
    assert trimmed.value.response["Error"]["Code"] == "TrimmedDataAccessException"
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in stream.read(after_old)[0]]
    assert sequences == [int(last_old) + 1, int(last_old) + 2]  # numbers are never reused
    again = stream.iterator("AT_SEQUENCE_NUMBER", SequenceNumber=str(sequences[1]))
    assert stream.keys(again) == ["new"]


def test_the_stream_shard_stays_bounded_as_writes_go_on(aws, stream, clock):
    dynamodb = boto3.client("dynamodb")
    for hour in range(30):
        dynamodb.transact_write_items(TransactItems=[_put(f"at-{hour}-a"), _put(f"at-{hour}-b")])
        clock.now += timedelta(hours=1)
    dynamodb.transact_write_items(TransactItems=[_put("last")])  # 30 h after the first
    records = stream.read(stream.iterator())[0]
    assert len(records) == 2 * 24 + 1  # written 7 h to 30 h after the first: the last 24 h
    assert records[0]["dynamodb"]["Keys"]["pk"]["S"] == "at-6-a"


def test_shard_iterators_expire_after_15_minutes(aws, stream, clock):
    iterator = stream.iterator()
    clock.now += timedelta(minutes=14)
    _, following = stream.read(iterator)
    clock.now += timedelta(minutes=2)
    with pytest.raises(ClientError) as expired:
        stream.read(iterator)
    assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert stream.read(following)[0] == []  # made 2 minutes ago: still valid


def _transact(dynamodb: Any, token: str, *items: dict[str, Any]) -> None:
    dynamodb.transact_write_items(TransactItems=list(items), ClientRequestToken=token)


def test_a_replayed_client_request_token_succeeds_without_writing_again(aws, stream, clock):
    dynamodb = boto3.client("dynamodb")
    position = stream.iterator("LATEST")
    _transact(dynamodb, "create-T1", _put("T1"), _add_one("counter"))
    clock.now += timedelta(minutes=9)
    _transact(dynamodb, "create-T1", _put("T1"), _add_one("counter"))  # a conditional Put too

    assert _item(dynamodb, "counter") == {**_key("counter"), "n": {"N": "1"}}
    assert stream.keys(position) == ["T1", "counter"]


def test_a_client_request_token_with_other_parameters_is_refused(aws, clock):
    dynamodb = boto3.client("dynamodb")
    _transact(dynamodb, "create-T1", _put("T1"), _add_one("counter"))
    with pytest.raises(ClientError) as refused:
        _transact(dynamodb, "create-T1", _put("T2"), _add_one("counter"))
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert _item(dynamodb, "T2") is None
    assert _item(dynamodb, "counter") == {**_key("counter"), "n": {"N": "1"}}


def test_a_client_request_token_is_new_again_after_10_minutes(aws, clock):
    dynamodb = boto3.client("dynamodb")
    _transact(dynamodb, "count", _add_one("counter"))
    clock.now += timedelta(minutes=10, seconds=1)
    _transact(dynamodb, "count", _add_one("counter"))
    assert _item(dynamodb, "counter") == {**_key("counter"), "n": {"N": "2"}}


def test_a_cancelled_transaction_leaves_its_token_unused(aws):
    dynamodb = boto3.client("dynamodb")
    _transact(dynamodb, "first", _put("T1"))
    with pytest.raises(ClientError):
        _transact(dynamodb, "second", _put("T2"), _put("T1"))
    dynamodb.delete_item(TableName=TABLE, Key=_key("T1"))
    _transact(dynamodb, "second", _put("T2"), _put("T1"))  # runs again, now succeeds
    assert _item(dynamodb, "T2") is not None


def test_transactions_are_serializable(aws):
    """Read-check-write from many threads: each transaction moves the counter from the
    value it read, so every success is one step and no two succeed from the same value."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=TABLE, Item={**_key("counter"), "n": {"N": "0"}})
    successes: list[int] = []
    clients = [boto3.client("dynamodb") for _ in range(6)]  # the session is not thread-safe

    def step(worker: int) -> None:
        client = clients[worker]
        for _ in range(10):
            seen = int(_item(client, "counter")["n"]["N"])  # type: ignore[index]
            try:
                client.transact_write_items(TransactItems=_step_from(seen, worker))
            except ClientError:
                continue
            successes.append(seen)

    _in_threads(step, workers=6)
    final = int(_item(dynamodb, "counter")["n"]["N"])  # type: ignore[index]
    assert sorted(successes) == list(range(final))
    assert final > 0


def _step_from(seen: int, worker: int) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key("counter"),
                "UpdateExpression": "SET n = :next",
                "ConditionExpression": "n = :seen",
                "ExpressionAttributeValues": {
                    ":seen": {"N": str(seen)},
                    ":next": {"N": str(seen + 1)},
                },
            }
        },
        {"Put": {"TableName": TABLE, "Item": {**_key(f"step-{seen}"), "by": {"N": str(worker)}}}},
    ]


def _in_threads(work: Callable[[int], None], workers: int) -> None:
    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_the_local_pump_carries_on_after_its_iterator_expired(aws, clock):
    from local.pump import StreamPump

    delivered: list[str] = []

    def handler(event: dict[str, Any], _: Any) -> None:
        delivered.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    dynamodb = boto3.client("dynamodb")
    pump = StreamPump(boto3.client("dynamodbstreams"), aws["stream_arn"], handler, interval=0.05)
    pump.start()
    try:
        dynamodb.transact_write_items(TransactItems=[_put("before")])
        _wait_until(lambda: delivered == ["before"])
        clock.now += timedelta(minutes=16)  # the iterator the pump holds has expired
        dynamodb.transact_write_items(TransactItems=[_put("after")])
        _wait_until(lambda: delivered == ["before", "after"])  # and nothing twice
    finally:
        pump.stop()
        pump.join(timeout=5)


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


def test_an_update_item_writes_one_stream_record(aws, stream):
    """moto wrote two INSERTs for an UpdateItem creating its item; a refused one none."""
    dynamodb = boto3.client("dynamodb")
    position = stream.iterator("LATEST")
    with pytest.raises(ClientError) as refused:
        dynamodb.update_item(
            TableName=TABLE,
            Key=_key("nothing"),
            UpdateExpression="SET n = missing + :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _item(dynamodb, "nothing") is None
    dynamodb.update_item(
        TableName=TABLE,
        Key=_key("created"),
        UpdateExpression="SET n = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    records = stream.read(position)[0]
    assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [
        ("INSERT", {**_key("created"), "n": {"N": "1"}})
    ]
