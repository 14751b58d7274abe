"""Copies between domain Structs and PynamoDB items, derived from the Struct's fields.

An item stores most of a Struct's fields under the same name and as they are; a
mapping names only the fields it converts, so a new plain field is declared once
(on the Struct and the item) and is copied both ways with no third mention.
"""

from __future__ import annotations

from typing import Any

import msgspec


def fields_except(struct_type: type[msgspec.Struct], *converted: str) -> tuple[str, ...]:
    """The fields of `struct_type` stored as they are: all but the `converted` ones."""
    names = struct_type.__struct_fields__
    unknown = set(converted) - set(names)
    if unknown:
        raise ValueError(f"{struct_type.__name__} has no field {sorted(unknown)}")
    return tuple(name for name in names if name not in converted)


def values_of(source: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The attributes `names` of `source` (a Struct or an item), by name."""
    return {name: getattr(source, name) for name in names}
