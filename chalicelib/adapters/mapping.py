"""Copies between domain Structs and PynamoDB items, derived from the Struct's fields.

An item stores most of a Struct's fields as they are, under the same name or a renamed
one (`id` as `ticket_id`); a mapping names only the fields it converts or renames, so a
new plain field is declared once (on the Struct and the item) and is copied both ways
with no third mention.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from pynamodb.attributes import AttributeContainer


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


class StoredFields:
    """The fields of a Struct that an item stores as they are, each declared once: under
    the same name, or under the attribute `renamed` names ({field: attribute}). A mapping
    converts only the `converted` fields itself. A name the Struct or the item lacks fails
    here, when the module that declares the mapping is imported."""

    def __init__(
        self,
        struct_type: type[msgspec.Struct],
        item_type: type[AttributeContainer],
        *,
        converted: tuple[str, ...] = (),
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        renamed = dict(renamed or {})
        as_is = fields_except(struct_type, *converted, *renamed)
        self._attributes = {name: name for name in as_is} | renamed  # field -> attribute
        known = item_type.get_attributes()
        missing = [name for name in self._attributes.values() if name not in known]
        if missing:
            raise ValueError(f"{item_type.__name__} has no attribute {missing}")

    def item_values(self, struct: msgspec.Struct) -> dict[str, Any]:
        """The item's attributes, by attribute name, from the Struct."""
        return {attribute: getattr(struct, name) for name, attribute in self._attributes.items()}

    def struct_values(self, item: object) -> dict[str, Any]:
        """The Struct's fields, by field name, from the item."""
        return {name: getattr(item, attribute) for name, attribute in self._attributes.items()}
