"""botocore event hooks for the benchmarks: see every DynamoDB call any client makes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any


def on_dynamodb_calls(event_name: str, handler: Callable[..., None]) -> None:
    """Register `handler` for `event_name` (e.g. "before-call.dynamodb") on every DynamoDB
    client created from now on, PynamoDB's own included."""
    on_client_calls("dynamodb", event_name, handler)


def on_client_calls(service: str, event_name: str, handler: Callable[..., None]) -> None:
    """Register `handler` for `event_name` (e.g. "before-call.events.PutEvents") on every
    client of `service` created from now on."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(session, *args, **kwargs)
        if client.meta.service_model.service_name == service:
            client.meta.events.register(event_name, handler)
        return client

    botocore.session.Session.create_client = create_client


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (UTF-8), per AWS's sizing rules."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    kind, inner = next(iter(value.items()))
    sizes: dict[str, Callable[[], int]] = {
        "S": lambda: len(inner.encode()),
        "N": lambda: math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1,
        "BOOL": lambda: 1,
        "NULL": lambda: 1,
        "M": lambda: 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items()),
        "L": lambda: 3 + sum(_value_size(v) + 1 for v in inner),
        "SS": lambda: sum(len(s.encode()) for s in inner),
    }
    return sizes.get(kind, lambda: len(json.dumps(inner)))()


class CapacityMeter:
    """Read and write capacity units of every DynamoDB call, by AWS's published rules.

    Asks for ReturnConsumedCapacity on every call (botocore `provide-client-params`) and
    keeps what the service reports in `reported`; moto's figures are not DynamoDB's
    (a 1.5 KB put reports 1 unit, transactions report none), so the units that count
    are computed from item sizes: reads 4 KB per unit (eventually consistent: half),
    writes 1 KB per unit, transactional items twice. Items an update, delete or
    condition check touches are sized from moto's own table (no extra call).
    """

    def __init__(self) -> None:
        self.read_units = 0.0
        self.write_units = 0.0
        self.reported = 0.0
        self.items_read = 0
        self.calls: dict[str, int] = {}
        self._params: dict[str, Any] = {}

    def install(self) -> CapacityMeter:
        on_dynamodb_calls("provide-client-params.dynamodb", self._ask)
        on_dynamodb_calls("after-call.dynamodb", self._after)
        return self

    def take(self) -> tuple[float, float]:
        taken = (self.read_units, self.write_units)
        self.read_units = self.write_units = self.reported = 0.0
        self.items_read = 0
        self.calls = {}
        return taken

    def _ask(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "TOTAL"
        self._params = params  # one call at a time: the after-call event does not carry them

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        name, params = model.name, self._params
        self.calls[name] = self.calls.get(name, 0) + 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.reported += float(entry.get("CapacityUnits", 0))
        reads = {"GetItem": [parsed.get("Item") or {}], "Query": parsed.get("Items") or []}
        reads["Scan"] = reads["Query"]
        if name in reads:
            items = [item for item in reads[name] if item]
            self.items_read += len(items) if name != "GetItem" else int(bool(items))
            self.read_units += _read_units(sum(map(item_size, items)), params)
        elif name == "TransactWriteItems":
            self.write_units += sum(
                2 * self._write_units(entry) for entry in params["TransactItems"]
            )
        elif name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                self.write_units += sum(self._write_units(request) for request in requests)
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.write_units += self._write_units({name[:-4]: params})

    def _write_units(self, entry: dict[str, Any]) -> int:
        ((kind, body),) = entry.items()
        if kind in ("Put", "PutRequest"):
            size = item_size(body["Item"])
        else:
            size = _stored_size(body.get("TableName", ""), body.get("Key", {}))
        return max(1, math.ceil(size / 1024))


def _read_units(size: int, params: dict[str, Any]) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if params.get("ConsistentRead") else units / 2


def _stored_size(table_name: str, key: dict[str, Any]) -> int:
    """The stored item's size, read from moto's backend (in-process), 0 when absent."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]]
        table = backend.get_table(table_name)
        item = table.get_item(DynamoType(key["pk"]), DynamoType(key["sk"]))
    except Exception:  # noqa: BLE001 - a bench estimate: unknown means empty
        return 0
    return item_size(item.to_json()["Attributes"]) if item is not None else 0
