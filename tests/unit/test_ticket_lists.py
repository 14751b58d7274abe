"""Listing tickets with the in-memory fakes: customers their own, staff by exactly one
key (queue, assignee, customer, reference), the index each filter names, paging."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.errors import ValidationError
from chalicelib.service.ports import ListQuery
from chalicelib.service.tickets import ListFilters, list_query, list_tickets
from tests.unit.ticket_support import (
    AUDITOR,
    HOLDER,
    OWNER,
    STRANGER,
    SUPERVISOR,
    clock_of,
    make_ports,
    open_as,
    seed,
)


def filters_with(name: str, value: str) -> ListFilters:
    named: dict[str, Any] = {name: value}
    return ListFilters(**named)


def test_customers_list_their_own_tickets_newest_first():
    ports = make_ports()
    older = open_as(ports)
    clock_of(ports).advance(minutes=1)
    open_as(ports, STRANGER)
    clock_of(ports).advance(minutes=1)
    newer = open_as(ports)
    page = list_tickets(ports, OWNER, ListFilters())
    assert [ticket.id for ticket in page.items] == [newer.id, older.id]
    assert page.next_key is None


def test_customers_may_narrow_by_status():
    ports = make_ports()
    seed(ports, "resolved")
    waiting = seed(ports, "waiting_on_customer", HOLDER.id)
    page = list_tickets(ports, OWNER, ListFilters(status="waiting_on_customer"))
    assert [ticket.id for ticket in page.items] == [waiting.id]


@pytest.mark.parametrize("field", ["customer_id", "queue", "assignee", "reference"])
def test_customers_may_not_name_a_list_key(field):
    with pytest.raises(ValidationError) as raised:
        list_tickets(make_ports(), OWNER, filters_with(field, "x"))
    assert [error.path for error in raised.value.errors] == [field]


@pytest.mark.parametrize("field", ["customer_id", "queue", "assignee", "reference"])
@pytest.mark.parametrize("value", ["cust\r\n1", "cust\x001", "a\tb", "a\u2028b", "a\x85b"])
def test_staff_list_keys_are_single_line_ids(field, value):
    # SPEC 5: single-line fields (ids too) refuse control characters.
    with pytest.raises(ValidationError) as raised:
        list_query(SUPERVISOR, filters_with(field, value))
    assert [error.path for error in raised.value.errors] == [field]


def test_a_customer_naming_themselves_is_still_refused():
    with pytest.raises(ValidationError):
        list_query(OWNER, ListFilters(customer_id=OWNER.id))


@pytest.mark.parametrize(
    "filters",
    [ListFilters(), ListFilters(status="new"), ListFilters(queue="cards", assignee="agent-1")],
    ids=["none", "status-only", "two"],
)
@pytest.mark.parametrize("caller", [HOLDER, SUPERVISOR, AUDITOR])
def test_staff_name_exactly_one_list_key(caller, filters):
    with pytest.raises(ValidationError):
        list_tickets(make_ports(), caller, filters)


def test_a_customers_query_is_bound_to_the_caller():
    query = list_query(OWNER, ListFilters(status="new", limit=5))
    assert query == ListQuery("customer", OWNER.id, "new", 5, None)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (ListFilters(customer_id="cust-9"), ListQuery("customer", "cust-9")),
        (ListFilters(queue="cards", status="new"), ListQuery("queue", "cards", "new")),
        (ListFilters(assignee="agent-1", limit=3), ListQuery("assignee", "agent-1", None, 3)),
    ],
)
def test_a_staff_list_queries_the_index_its_filter_names(filters, expected):
    assert list_query(AUDITOR, filters) == expected


def test_staff_list_by_queue_assignee_and_customer():
    ports = make_ports()
    mine = seed(ports, "assigned", HOLDER.id)
    clock_of(ports).advance(minutes=1)
    fresh = open_as(ports)
    other = open_as(ports, STRANGER, category="loan")

    def ids(**filters: Any) -> list[str]:
        return [t.id for t in list_tickets(ports, SUPERVISOR, ListFilters(**filters)).items]

    assert ids(queue="cards") == [fresh.id, mine.id]
    assert ids(queue="cards", status="new") == [fresh.id]
    assert ids(assignee=HOLDER.id) == [mine.id]
    assert ids(customer_id=STRANGER.id) == [other.id]


def test_staff_find_a_ticket_by_its_reference_as_read_out():
    ports = make_ports()
    ticket = open_as(ports)
    spoken = ticket.reference.lower().replace("-", " ")
    page = list_tickets(ports, AUDITOR, ListFilters(reference=spoken))
    assert [t.id for t in page.items] == [ticket.id]
    narrowed = list_tickets(ports, AUDITOR, ListFilters(reference=spoken, status="closed"))
    assert narrowed.items == []
    unknown = list_tickets(ports, AUDITOR, ListFilters(reference="SD-ZZZZZZZZ"))
    assert unknown.items == []


def test_lists_page_with_the_repository_key():
    ports = make_ports()
    for _ in range(3):
        open_as(ports)
        clock_of(ports).advance(minutes=1)
    first = list_tickets(ports, OWNER, ListFilters(limit=2))
    assert len(first.items) == 2
    assert first.next_key is not None
    rest = list_tickets(ports, OWNER, ListFilters(limit=2, start_key=first.next_key))
    assert len(rest.items) == 1
    assert rest.next_key is None
    assert {t.id for t in first.items}.isdisjoint({t.id for t in rest.items})
