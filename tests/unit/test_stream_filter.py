"""The stream's event filter (infra/template.json, OnTableChange) against the handler: a
record the handler reacts to always passes (a dropped one would be a lost notification),
and every other write of the table never wakes the function. The local pump applies the
same filter, read from the template, with the subset of Lambda's pattern syntax it uses."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

import chalicelib.adapters.sms_index  # noqa: F401 - registers its item types
from chalicelib.adapters.models import TableItem
from chalicelib.handlers.stream import REACTIONS, reaction_to
from local.pump import StreamPump
from local.resources import load_template
from local.stream_filter import (
    matches,
    parse_pattern,
    record_filter,
    template_filter,
    template_patterns,
)

ARN = "arn:aws:dynamodb:ap-east-1:123456789012:table/servicedesk/stream/2026-12-06T00:00:00.000"


def _item_types() -> list[str]:
    discriminator = TableItem._get_discriminator_attribute()
    assert discriminator is not None
    class_map: dict[Any, str] = discriminator._class_map
    return sorted(class_map.values())


def test_every_item_type_of_the_table_is_known_here():
    # The grid below covers them all; the handler's own types among them.
    types = _item_types()
    assert {"event", "survey", "document", "ticket", "reaction", "sms_sent"} <= set(types)
    assert {item_type for _, _, item_type in REACTIONS} <= set(types)


def _image(item_type: str | None) -> dict[str, Any] | None:
    if item_type is None:
        return None
    image: dict[str, Any] = {"pk": {"S": "TICKET#T-1"}, "sk": {"S": "X"}}
    if item_type:
        image["item_type"] = {"S": item_type}
    return image


def _records() -> list[dict[str, Any]]:
    """Every shape a record of a NEW_AND_OLD_IMAGES stream takes: an INSERT has only its
    NewImage, a REMOVE only its OldImage, a MODIFY both, of one item type (no write
    changes an item's type); each item type, or an item written bare."""
    types: list[str | None] = ["", *_item_types()]
    shapes: list[tuple[str, str | None, str | None]] = [("INSERT", new, None) for new in types]
    shapes += [("REMOVE", None, old) for old in types]
    shapes += [("MODIFY", same, same) for same in types]
    records = []
    for name, new, old in shapes:
        dynamodb: dict[str, Any] = {"SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES"}
        for key, item_type in (("NewImage", new), ("OldImage", old)):
            image = _image(item_type)
            if image is not None:
                dynamodb[key] = image
        records.append({"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
    return records


def test_the_filter_passes_every_record_the_handler_reacts_to_and_little_else():
    passes = template_filter()
    records = _records()
    assert len(records) > 3 * 25
    dropped = [
        (record["eventName"], sorted(record["dynamodb"]))
        for record in records
        if reaction_to(record) is not None and not passes(record)
    ]
    assert not dropped  # a record dropped here would be a lost notification
    # What passes without a reaction is a change of an event or a document item (the
    # patterns match item types only, with no content filter to go wrong): nothing else.
    woken = {
        (record["eventName"], _item_type_of(record))
        for record in records
        if passes(record) and reaction_to(record) is None
    }
    assert woken == {("MODIFY", "event"), ("MODIFY", "document")}


def _item_type_of(record: dict[str, Any]) -> str:
    image = record["dynamodb"].get("NewImage") or record["dynamodb"]["OldImage"]
    return str(image.get("item_type", {}).get("S", ""))


@pytest.mark.parametrize(
    ("name", "item_type", "passes"),
    [
        ("INSERT", "event", True),
        ("MODIFY", "event", True),  # retention stamps, erasure rewrites: woken, ignored
        ("REMOVE", "event", False),  # TTL expiry of the timeline
        ("INSERT", "survey", True),
        ("MODIFY", "survey", True),  # the workflow's rounds and expiry
        ("REMOVE", "document", True),  # its object is deleted
        ("MODIFY", "document", True),  # woken, ignored
        ("INSERT", "ticket", False),
        ("MODIFY", "ticket", False),
        ("INSERT", "reaction", False),  # the ledger's own markers
        ("INSERT", "idempotency", False),
        ("MODIFY", "counter", False),
        ("INSERT", "audit", False),
    ],
)
def test_what_wakes_the_stream_function(name, item_type, passes):
    image = {"item_type": {"S": item_type}}
    images = {"INSERT": ("NewImage",), "REMOVE": ("OldImage",)}.get(name, ("NewImage", "OldImage"))
    record = {"eventName": name, "dynamodb": dict.fromkeys(images, image)}
    assert template_filter()(record) is passes


def test_the_filter_matches_item_types_in_the_dynamodb_key_only():
    # Lambda: "DynamoDB event source mappings only support filtering on the dynamodb key";
    # exact item types only: no content filter whose reading could drop a needed record.
    patterns = template_patterns()
    assert patterns
    for pattern in patterns:
        assert list(pattern) == ["dynamodb"]
        for image in pattern["dynamodb"].values():
            assert list(image) == ["item_type"] and list(image["item_type"]) == ["S"]
            assert all(isinstance(value, str) for value in image["item_type"]["S"])


def test_the_template_declares_the_filter_once_on_the_stream_function():
    template = load_template()
    functions = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        for source in resource.get("Properties", {}).get("Events", {}).values()
        if "FilterCriteria" in source.get("Properties", {})
    ]
    assert functions == ["OnTableChange"]
    assert len(template_patterns(template)) <= 5  # Lambda's default quota of filters


# --- the pattern syntax (the subset the template uses) --------------------------------------


@pytest.mark.parametrize(
    ("pattern", "record", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x", "y"]}, {"a": "y"}, True),  # OR within a list
        ({"a": ["x"]}, {"a": "z"}, False),
        ({"a": ["x"]}, {}, False),  # a missing key does not match
        ({"a": ["x"], "b": ["y"]}, {"a": "x", "b": "z"}, False),  # AND across keys
        ({"a": {"b": {"c": ["x"]}}}, {"a": {"b": {"c": "x", "d": 1}}}, True),
        ({"a": {"b": ["x"]}}, {"a": "x"}, False),  # an object pattern needs an object
        ({"a": ["x"]}, {"a": {"b": "x"}}, False),  # a value pattern needs a leaf
        ({"a": ["x"]}, {"a": ["z", "x"]}, True),  # a list in the record: any element
        ({"a": [1]}, {"a": 1.0}, True),  # numbers compare as numbers
        ({"a": [1]}, {"a": "1"}, False),
        ({"a": [True]}, {"a": 1}, False),  # a boolean is not a number
        ({"a": [True]}, {"a": True}, True),
        ({"a": [None]}, {"a": None}, True),
        ({"a": ["x"]}, "not an object", False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"exists": False}]}, {"a": "x"}, False),
        ({"a": [{"exists": True}]}, {"a": "x"}, True),
        ({"a": [{"exists": True}]}, {}, False),
        ({"a": {"b": [{"exists": False}]}}, {}, True),  # no leaf under a missing object
        ({"a": {"b": [{"exists": False}]}}, {"a": {"b": "x"}}, False),
        ({"a": {"b": ["x"]}}, {}, False),
        ({"a": ["x", {"exists": False}]}, {}, True),  # OR with the other options
    ],
)
def test_a_pattern_matches_as_lambdas_do(pattern, record, expected):
    assert matches(pattern, record) is expected


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [{"prefix": "x"}]}',  # content filters: not implemented locally
        '{"a": [{"exists": "yes"}]}',
        '{"a": [{"exists": true, "prefix": "x"}]}',
        '{"a": [["x"]]}',
        '{"a": []}',
        '{"a": "x"}',
        '{"a": {}}',
    ],
)
def test_a_pattern_outside_the_subset_is_refused_when_read(text):
    with pytest.raises(ValueError):
        parse_pattern(text)


def test_several_filters_pass_a_record_any_of_them_matches():
    passes = record_filter([{"a": ["x"]}, {"b": ["y"]}])
    assert passes({"b": "y"}) and passes({"a": "x"}) and not passes({"a": "y"})
    assert record_filter([])({"anything": "at all"})  # no filter: every record


# --- the local pump ----------------------------------------------------------------------


def _raw(name: str, item_type: str, sequence: str) -> dict[str, Any]:
    """A record as DynamoDB Streams' GetRecords returns it."""
    image = {"item_type": {"S": item_type}}
    images = {"INSERT": ("NewImage",), "REMOVE": ("OldImage",)}.get(name, ("NewImage", "OldImage"))
    return {
        "eventName": name,
        "dynamodb": {**dict.fromkeys(images, image), "SequenceNumber": sequence},
    }


class RecordingHandler:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.batches.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return {"batchItemFailures": []}


def _pump(handler: RecordingHandler, passes: Callable[[Mapping[str, Any]], bool] | None) -> Any:
    return StreamPump(None, ARN, handler, record_filter=passes)


def test_the_local_pump_hands_the_function_only_what_the_filter_passes():
    handler = RecordingHandler()
    pump = _pump(handler, template_filter())
    pump._deliver(
        [_raw("INSERT", "ticket", "1"), _raw("INSERT", "event", "2"), _raw("MODIFY", "ticket", "3")]
    )
    pump._deliver([_raw("INSERT", "reaction", "4"), _raw("MODIFY", "counter", "5")])
    assert handler.batches == [["2"]]  # the second batch invoked nothing
    assert pump.filtered_out == 4


def test_without_a_filter_the_pump_hands_every_record():
    handler = RecordingHandler()
    _pump(handler, None)._deliver([_raw("INSERT", "ticket", "1"), _raw("INSERT", "event", "2")])
    assert handler.batches == [["1", "2"]]


def test_the_template_patterns_are_json_lambda_accepts():
    sources = load_template()["Resources"]["OnTableChange"]["Properties"]["Events"].values()
    entries = [e for source in sources for e in source["Properties"]["FilterCriteria"]["Filters"]]
    assert entries
    for entry in entries:
        assert set(entry) == {"Pattern"}
        assert isinstance(json.loads(entry["Pattern"]), dict)
