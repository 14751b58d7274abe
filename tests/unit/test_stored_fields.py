"""StoredFields: a Struct's fields an item stores as they are, each declared once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.adapters.mapping import StoredFields
from chalicelib.adapters.models import EventItem
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role

EVENT = Event(
    "E-1", "T-1", EventType.ASSIGNED, datetime(2026, 12, 6, tzinfo=UTC), Caller(Role.AGENT, "a-1")
)


def test_fields_are_copied_under_their_own_or_their_renamed_name_both_ways():
    stored = StoredFields(
        Event, EventItem, converted=("type", "actor", "data"), renamed={"id": "event_id"}
    )
    values = stored.item_values(EVENT)
    assert values == {"event_id": "E-1", "ticket_id": "T-1", "at": EVENT.at}
    item = EventItem(**values)
    assert stored.struct_values(item) == {"id": "E-1", "ticket_id": "T-1", "at": EVENT.at}


def test_a_field_the_struct_lacks_fails_at_declaration():
    with pytest.raises(ValueError, match=r"Event has no field \['kind'\]"):
        StoredFields(Event, EventItem, converted=("kind", "type", "actor", "data"))


def test_an_attribute_the_item_lacks_fails_at_declaration():
    # `id` would be stored under its own name, which EventItem does not have.
    with pytest.raises(ValueError, match=r"EventItem has no attribute \['id'\]"):
        StoredFields(Event, EventItem, converted=("type", "actor", "data"))
    with pytest.raises(ValueError, match=r"EventItem has no attribute \['eventid'\]"):
        StoredFields(
            Event, EventItem, converted=("type", "actor", "data"), renamed={"id": "eventid"}
        )
