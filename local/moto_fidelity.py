"""Make moto's DynamoDB behave like the real one where our code depends on it.

1. Isolation. moto applies TransactWriteItems without isolation: two
   transactions can both pass a condition. Real DynamoDB transactions are
   serializable. Every DynamoDB and DynamoDB Streams request in the moto server
   is serialized, so races tested locally behave as they will in AWS, and no
   stream reader ever sees a half-applied transaction.
2. Atomicity at the cost of the transaction, not of the table. moto backs up a
   transaction by deep-copying each table it touches (once per item of the
   transaction, the stream shard included) and restores the copies on
   cancellation: every write cost O(all writes ever made). Here the transaction
   journals only the items it names (their state before) and the stream's next
   sequence number; a cancelled transaction puts those items back and drops the
   stream records it wrote. The live shard is never replaced, so readers'
   iterators stay valid, and a rolled-back write never appears on the stream.
   Any failure rolls back, also the request errors moto raises half-way.
3. Idempotent retries. TransactWriteItems honours ClientRequestToken as DynamoDB
   does: a successful request's token is remembered for 10 minutes; a replay
   with the same parameters succeeds without writing again, one with other
   parameters gets IdempotentParameterMismatchException. (A cancelled request
   leaves no token: its retry runs again.)
4. Streams keep 24 hours. Records older than that are trimmed from the shard
   (sequence numbers stay what they were: TRIM_HORIZON moves forward, an
   iterator behind it gets TrimmedDataAccessException), and shard iterators
   expire after 15 minutes (ExpiredIteratorException), as in DynamoDB Streams.
5. No O(table) bookkeeping per request. moto keeps every Item, stream record
   and shard iterator it ever made in its model registry (for /moto-api/data.json,
   which shows them as empty objects), so memory and the dump grew with every
   write; those three are not registered. A Query on the table's key reads the
   key's partition instead of every item of the table.
6. One stream record per write. An UpdateItem that creates its item wrote two
   INSERT records in moto (the bare key, then the item); DynamoDB writes one.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

STREAM_RETENTION = timedelta(hours=24)
SHARD_ITERATOR_LIFETIME = timedelta(minutes=15)
CLIENT_TOKEN_WINDOW = timedelta(minutes=10)

_LOCK = threading.RLock()
_PATCHED = False
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


def _utcnow() -> datetime:
    from moto.core.utils import utcnow

    return utcnow()


_clock: Callable[[], datetime] = _utcnow


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """The clock (naive UTC, like moto's) stamping stream records and ageing stream
    records, shard iterators and client tokens; None restores the real one."""
    global _clock  # noqa: PLW0603 - one clock per process, for tests
    _clock = clock or _utcnow


def make_moto_faithful() -> None:
    global _PATCHED  # noqa: PLW0603 - patch once per process
    if _PATCHED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        handler.call_action = _serialized(handler.call_action)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _journaled(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items
    )
    DynamoHandler.transact_write_items = _honouring_client_tokens(  # type: ignore[method-assign]
        DynamoHandler.transact_write_items
    )
    Table.query = _reading_one_partition(Table.query)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _one_record_per_update(  # type: ignore[method-assign]
        DynamoDBBackend.update_item
    )
    Table.put_item = _unrecorded_while_updating(Table.put_item)  # type: ignore[method-assign]
    _patch_streams()
    _stop_registering_per_write_models()
    _PATCHED = True


def _serialized(call_action: Any) -> Any:
    def call(self: Any) -> Any:
        with _LOCK:
            return call_action(self)

    return call


# --- 2. transactions journal what they touch ----------------------------------------------


class _NoTableCopies:
    """Stands in for the `copy` module inside moto's DynamoDB backend: while a
    transaction runs, its "backup" of a table is the live table itself (the journal
    is the backup); everything else is copied as usual."""

    def __init__(self) -> None:
        self.in_transaction = False

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if self.in_transaction and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


_ItemKey = tuple[str, Any, Any]  # table name, hash key, range key (DynamoType or None)


@dataclass
class _Journal:
    """The state a transaction may change: its items before it, and where each
    touched table's stream continues."""

    tables: dict[str, Any] = field(default_factory=dict)
    items: dict[_ItemKey, Any] = field(default_factory=dict)
    next_sequence: dict[str, int] = field(default_factory=dict)

    @classmethod
    def before(cls, backend: Any, transact_items: list[dict[str, Any]]) -> _Journal:
        journal = cls()
        for request in transact_items:
            for operation in request.values():
                journal._note(backend, operation)
        return journal

    def _note(self, backend: Any, operation: Any) -> None:
        table: Any = backend.tables.get(operation.get("TableName")) if _is_map(operation) else None
        key = _item_key(table, operation) if table is not None else None
        if key is None:
            return  # moto fails this operation before it writes anything
        self.tables[table.name] = table
        shard = table.stream_shard
        if shard is not None and table.name not in self.next_sequence:
            self.next_sequence[table.name] = shard.starting_sequence_number + len(shard.items)
        if key not in self.items:
            self.items[key] = copy.deepcopy(_stored_item(table, key[1], key[2]))

    def roll_back(self) -> None:
        for (name, hash_key, range_key), before in self.items.items():
            _restore_item(self.tables[name], hash_key, range_key, before)
        for name, next_sequence in self.next_sequence.items():
            shard = self.tables[name].stream_shard
            if shard is not None:
                del shard.items[max(0, next_sequence - shard.starting_sequence_number) :]


def _is_map(value: Any) -> bool:
    return isinstance(value, dict)


def _item_key(table: Any, operation: dict[str, Any]) -> _ItemKey | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    attributes: Any = operation.get("Item") if "Item" in operation else operation.get("Key")
    try:
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key = None
        if table.range_key_attr is not None:
            range_key = DynamoType(attributes[table.range_key_attr])
        return table.name, hash_key, range_key
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
        return None


def _stored_item(table: Any, hash_key: Any, range_key: Any) -> Any:
    # Not table.get_item: on a table with a sort key it adds an empty partition.
    stored = table.items.get(hash_key)
    if range_key is None or stored is None:
        return stored
    return stored.get(range_key)


def _restore_item(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
    if range_key is None:
        if before is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = before
        return
    partition = table.items.get(hash_key)
    if before is not None:
        table.items[hash_key][range_key] = before
    elif partition is not None:
        partition.pop(range_key, None)
        if not partition:
            del table.items[hash_key]


def _journaled(transact_write_items: Any) -> Any:
    from moto.dynamodb import models

    copies = _NoTableCopies()
    models.copy = copies  # type: ignore[attr-defined,assignment]

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal = _Journal.before(self, transact_items)
        copies.in_transaction = True  # requests are serialized (_LOCK): one at a time
        try:
            transact_write_items(self, transact_items)
        except BaseException:
            journal.roll_back()
            raise
        finally:
            copies.in_transaction = False

    return transact


# --- 3. ClientRequestToken --------------------------------------------------------------


@dataclass(frozen=True)
class _TokenUse:
    parameters: str
    until: datetime


def _idempotent_parameter_mismatch() -> Exception:
    from moto.dynamodb.exceptions import DynamodbException

    return DynamodbException(
        _ERROR_PREFIX + "IdempotentParameterMismatchException",
        "ClientRequestToken was used with other parameters within the last 10 minutes",
    )


def _client_tokens(backend: Any) -> dict[str, _TokenUse]:
    """The backend's tokens in the order they were used (so oldest first)."""
    tokens: dict[str, _TokenUse] | None = getattr(backend, "_servicedesk_client_tokens", None)
    if tokens is None:
        tokens = {}
        backend._servicedesk_client_tokens = tokens
    now = _clock()
    _drop_expired(tokens, lambda use: bool(use.until <= now))
    return tokens


def _drop_expired(entries: dict[str, Any], expired: Callable[[Any], bool]) -> None:
    """Entries are kept in the order they were made, which is the order they expire in."""
    while entries:
        oldest = next(iter(entries))
        if not expired(entries[oldest]):
            return
        del entries[oldest]


def _honouring_client_tokens(transact_write_items: Any) -> Any:
    def transact(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return transact_write_items(self)
        tokens = _client_tokens(self.dynamodb_backend)
        parameters = json.dumps(
            {name: value for name, value in self.body.items() if name != "ClientRequestToken"},
            sort_keys=True,
        )
        used = tokens.get(token)
        if used is not None:
            if used.parameters != parameters:
                raise _idempotent_parameter_mismatch()
            return _transaction_done()
        result = transact_write_items(self)
        tokens[token] = _TokenUse(parameters, _clock() + CLIENT_TOKEN_WINDOW)
        return result

    return transact


def _transaction_done() -> Any:
    from moto.core.responses import ActionResult

    return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})


# --- 4. streams: 24 h of records, iterators for 15 min ----------------------------------


def _patch_streams() -> None:
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    StreamShard.add = _stamped_and_trimmed(StreamShard.add)  # type: ignore[method-assign]
    StreamShard.get = _refusing_trimmed_reads(StreamShard.get)  # type: ignore[method-assign]
    ShardIterator.__init__ = _expiring(ShardIterator.__init__)  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = _pruning_expired(  # type: ignore[method-assign]
        DynamoDBStreamsBackend.get_shard_iterator
    )
    DynamoDBStreamsBackend.get_records = _pruning_expired(  # type: ignore[method-assign]
        _refusing_expired(DynamoDBStreamsBackend.get_records)
    )


def trim_stream_shard(shard: Any) -> None:
    """Drop the records older than the stream's retention; sequence numbers stay."""
    cutoff = _clock() - STREAM_RETENTION
    records = shard.items
    expired = 0
    while (
        expired < len(records)
        and records[expired].record["dynamodb"]["ApproximateCreationDateTime"] < cutoff
    ):
        expired += 1
    if expired:
        del records[:expired]
        shard.starting_sequence_number += expired


def _stamped_and_trimmed(add: Any) -> Any:
    def add_record(self: Any, old: Any, new: Any) -> None:
        add(self, old, new)
        if self.items:  # moto empties it when its own Lambda mappings took the records
            self.items[-1].record["dynamodb"]["ApproximateCreationDateTime"] = _clock()
        trim_stream_shard(self)

    return add_record


def _trimmed_data_access() -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(
        _ERROR_PREFIX + "TrimmedDataAccessException",
        "The operation attempted to read past the oldest stream record in a shard",
    )


def _refusing_trimmed_reads(get: Any) -> Any:
    def get_records(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        trim_stream_shard(self)
        if start < self.starting_sequence_number:
            raise _trimmed_data_access()
        return get(self, start, quantity)  # type: ignore[no-any-return]

    return get_records


def _expiring(init: Any) -> Any:
    def start(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.expires_at = _clock() + SHARD_ITERATOR_LIFETIME

    return start


def _pruning_expired(method: Any) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        now = _clock()
        _drop_expired(self.shard_iterators, lambda iterator: bool(iterator.expires_at <= now))
        return method(self, *args, **kwargs)

    return call


def _refusing_expired(get_records: Any) -> Any:
    def call(self: Any, iterator_arn: str, limit: int) -> Any:
        if iterator_arn not in self.shard_iterators:
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError(
                _ERROR_PREFIX + "ExpiredIteratorException",
                "Iterator expired. The iterator was created more than 15 minutes ago",
            )
        return get_records(self, iterator_arn, limit)

    return call


# --- 5. no O(table) work per request ----------------------------------------------------


def _untracked_instance(cls: type, *_: Any, **__: Any) -> Any:
    return object.__new__(cls)


def _stop_registering_per_write_models() -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    models: tuple[Any, ...] = (Item, StreamRecord, ShardIterator)
    for model in models:
        model.__new__ = staticmethod(_untracked_instance)
        model.instances_tracked.clear()


# Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
#             scan_index_forward, projection_expressions, index_name, ...)
_QUERY_INDEX_NAME = 6  # in the arguments after hash_key


def _reading_one_partition(query: Any) -> Any:
    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[_QUERY_INDEX_NAME] if len(args) > _QUERY_INDEX_NAME else None
        if kwargs.get("index_name", index_name) or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key)
        items = [] if partition is None else _partition_items(self, partition)
        self.all_items = lambda: items  # this Query only; requests are serialized
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    return partition_query


def _partition_items(table: Any, partition: Any) -> list[Any]:
    return list(partition.values()) if table.range_key_attr else [partition]


# --- 6. one stream record per update ------------------------------------------------------

_updating = threading.local()


def _one_record_per_update(update_item: Any) -> Any:
    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        _updating.active = True
        try:
            return update_item(self, *args, **kwargs)
        finally:
            _updating.active = False

    return update


def _unrecorded_while_updating(put_item: Any) -> Any:
    """moto's update_item creates a missing item with a bare put_item, then records the
    whole update as one INSERT itself: that inner put leaves no record of its own."""

    def put(self: Any, *args: Any, **kwargs: Any) -> Any:
        shard = self.stream_shard
        if not getattr(_updating, "active", False) or shard is None:
            return put_item(self, *args, **kwargs)
        self.stream_shard = None
        try:
            return put_item(self, *args, **kwargs)
        finally:
            self.stream_shard = shard

    return put
