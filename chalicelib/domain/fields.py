"""Copies between Structs by field name: what two shapes share is declared once, on them."""

from __future__ import annotations

from typing import Any

import msgspec


def shared_fields(
    source: msgspec.Struct, target: type[msgspec.Struct], *converted: str
) -> dict[str, Any]:
    """The fields of `source` that `target` declares too, by name, but the `converted` ones
    (the caller gives those itself)."""
    taken = set(target.__struct_fields__).difference(converted)
    return {name: getattr(source, name) for name in source.__struct_fields__ if name in taken}
