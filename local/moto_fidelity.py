"""Make moto's DynamoDB behave like the real one where our code depends on it.

1. Isolation. moto applies TransactWriteItems without isolation: two
   transactions can both pass a condition. Real DynamoDB transactions are
   serializable. Every DynamoDB and DynamoDB Streams request in the moto server
   is serialized, so races tested locally behave as they will in AWS, and no
   stream reader ever sees a half-applied transaction.
2. Streams across a cancelled transaction. On a cancelled transaction moto
   restores a deep copy of the whole table, which carries a copy of the stream
   shard: readers holding an iterator on the live shard would never see another
   record (the local stream pump would stop). The live shard object is kept and
   given the restored records, so iterators stay valid and rolled-back writes
   never appear on the stream.
3. Cost. Before a transaction moto deep-copies the whole table once per item
   of the transaction (an 8-item booking: 8 copies); the copy is taken once per
   transaction instead, the same backup, so big transactions do not stall the
   serialized server as the table grows.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_PATCHED = False


def make_moto_faithful() -> None:
    global _PATCHED  # noqa: PLW0603 - patch once per process
    if _PATCHED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        handler.call_action = _serialized(handler.call_action)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _keeping_stream_shards(  # type: ignore[method-assign]
        _copying_each_table_once(DynamoDBBackend.transact_write_items)
    )
    _PATCHED = True


def _serialized(call_action: Any) -> Any:
    def call(self: Any) -> Any:
        with _LOCK:
            return call_action(self)

    return call


def _keeping_stream_shards(transact_write_items: Any) -> Any:
    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        live = {name: table.stream_shard for name, table in self.tables.items()}
        try:
            transact_write_items(self, transact_items)
        finally:
            for name, table in self.tables.items():
                shard = live.get(name)
                if shard is not None and table.stream_shard is not shard:
                    shard.items[:] = table.stream_shard.items  # the rolled-back records
                    shard.table = table
                    table.stream_shard = shard

    return transact


class _TableCopies:
    """Stands in for the `copy` module inside moto's DynamoDB backend: while a
    transaction runs, each table is deep-copied once (the backup loop copies the
    same, still unchanged, table for every item); everything else as usual."""

    def __init__(self) -> None:
        import copy

        self._copy = copy
        self.backups: dict[int, Any] | None = None

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if self.backups is None or not isinstance(value, Table):
            return self._copy.deepcopy(value, memo)
        if id(value) not in self.backups:
            self.backups[id(value)] = self._copy.deepcopy(value, memo)
        return self.backups[id(value)]


def _copying_each_table_once(transact_write_items: Any) -> Any:
    from moto.dynamodb import models

    copies = _TableCopies()
    models.copy = copies  # type: ignore[attr-defined,assignment]

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        copies.backups = {}  # requests are serialized (_LOCK): one transaction at a time
        try:
            transact_write_items(self, transact_items)
        finally:
            copies.backups = None

    return transact
