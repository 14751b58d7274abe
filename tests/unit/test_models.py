"""adapters/models.py declares every item type of the single table, and lists them all."""

from __future__ import annotations

import app  # noqa: F401  (every module that could declare an item type is imported)
from chalicelib.adapters.models import ALL_MODELS, TableItem, bind_table


def _item_types(base: type[TableItem]) -> set[type[TableItem]]:
    found: set[type[TableItem]] = set()
    for sub in base.__subclasses__():
        found |= {sub} | _item_types(sub)
    return found


def test_every_item_type_is_declared_in_models_and_listed():
    """ALL_MODELS is what bind_table re-points and what the drift test checks: an item
    type left out would keep a connection to the table it first used."""
    declared = _item_types(TableItem)
    assert {model.__module__ for model in declared} == {"chalicelib.adapters.models"}
    assert set(ALL_MODELS) == declared | {TableItem}
    assert len(ALL_MODELS) == len(set(ALL_MODELS))


def test_binding_the_table_drops_every_items_old_connection():
    before = (TableItem.Meta.table_name, TableItem.Meta.region, TableItem.Meta.host)
    try:
        for model in ALL_MODELS:
            model._get_connection()  # each item type has talked to the first table
        bind_table("servicedesk-other", "ap-east-1", "http://127.0.0.1:9")
        assert [m.__name__ for m in ALL_MODELS if m._connection is not None] == []
        assert {m._get_connection().table_name for m in ALL_MODELS} == {"servicedesk-other"}
    finally:
        TableItem.Meta.table_name, TableItem.Meta.region, TableItem.Meta.host = before
        for model in ALL_MODELS:
            model._connection = None
