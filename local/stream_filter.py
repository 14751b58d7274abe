"""Lambda's event filtering for the local stream pump, read from the one declaration:
the `FilterCriteria` of the stream function's event source in infra/template.json. A
record that no filter matches never reaches the function, locally as deployed.

Only the subset of Lambda's filter-pattern syntax the template uses is implemented, and
a pattern outside it is refused when read (never silently matched differently):

- a pattern is a JSON object; every key in it must match the record (AND);
- a key's value is either an object (matched against the record's object at that key)
  or a non-empty list of options (OR): plain values, strings, numbers, booleans or null
  (the record's leaf at that key must equal one; a list in the record matches if any of
  its elements does), or `{"exists": true|false}` (whether the record has a leaf there:
  Lambda flattens both into paths, so a leaf under a missing object does not exist);
- a key missing from the record matches only `{"exists": false}`.

Other content filters (`prefix`, `anything-but`, `numeric`, ...) are not supported.
Several filters on one event source: a record passes when any of them matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from local.resources import load_template

FUNCTION = "OnTableChange"  # its logical id in infra/template.json

Record = Mapping[str, Any]


def template_patterns(template: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The stream function's filter patterns (none: every record goes through)."""
    resources = (template if template is not None else load_template())["Resources"]
    patterns: list[dict[str, Any]] = []
    for source in resources[FUNCTION]["Properties"]["Events"].values():
        filters = source["Properties"].get("FilterCriteria", {}).get("Filters", [])
        patterns.extend(parse_pattern(entry["Pattern"]) for entry in filters)
    return patterns


def parse_pattern(text: str) -> dict[str, Any]:
    pattern = json.loads(text)
    _check(pattern, "pattern")
    assert isinstance(pattern, dict)
    return pattern


def _check(node: Any, where: str) -> None:
    if isinstance(node, dict):
        if not node:
            raise ValueError(f"{where}: an empty object matches nothing in Lambda's syntax")
        for key, value in node.items():
            _check(value, f"{where}.{key}")
    elif isinstance(node, list):
        if not node:
            raise ValueError(f"{where}: an empty list")
        for value in node:
            if isinstance(value, list) or (isinstance(value, dict) and not _is_exists(value)):
                raise ValueError(f"{where}: content filters are not supported locally: {value}")
    else:
        raise ValueError(f"{where}: a pattern's values are objects or lists, not {node!r}")


def _is_exists(option: Mapping[str, Any]) -> bool:
    return list(option) == ["exists"] and isinstance(option["exists"], bool)


_MISSING = object()


def matches(pattern: Mapping[str, Any], record: Any) -> bool:
    if record is not _MISSING and not isinstance(record, Mapping):
        return False
    for key, wanted in pattern.items():
        value = record.get(key, _MISSING) if isinstance(record, Mapping) else _MISSING
        if isinstance(wanted, Mapping):
            if not matches(wanted, value):
                return False
        elif not any(_option_matches(option, value) for option in wanted):
            return False
    return True


def _option_matches(option: Any, value: Any) -> bool:
    leaf = value is not _MISSING and not isinstance(value, Mapping)
    if isinstance(option, Mapping):  # {"exists": bool}, checked when read
        return leaf is bool(option["exists"])
    return leaf and any(_same(option, each) for each in _leaves(value))


def _leaves(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _same(wanted: Any, value: Any) -> bool:
    """Equal and of the same JSON kind (True is not 1, "1" is not 1)."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(wanted, bool) and isinstance(value, bool) and wanted == value
    if isinstance(wanted, int | float) and isinstance(value, int | float):
        return float(wanted) == float(value)
    return type(wanted) is type(value) and bool(wanted == value)


def record_filter(patterns: list[dict[str, Any]]) -> Callable[[Record], bool]:
    """Whether Lambda hands a record (its event shape) to the function."""
    if not patterns:
        return lambda record: True
    return lambda record: any(matches(pattern, record) for pattern in patterns)


def template_filter() -> Callable[[Record], bool]:
    return record_filter(template_patterns())
