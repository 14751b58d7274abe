"""One contract, two implementations: the triage inbox and mail threads, in memory and on
DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace
from pynamodb.connection import Connection

from chalicelib import bootstrap
from chalicelib.adapters.inbox import MAIL_SENT_TTL, RECEIPT_TTL, DynamoMailThreads
from chalicelib.adapters.models import MailReceiptItem, MailThreadItem
from chalicelib.domain.contact import Contact
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbox import (
    Channel,
    InboxAttachment,
    InboxItem,
    InboxStatus,
    TriageReason,
)
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service.ports import (
    InboxItemChangedError,
    InboxStore,
    MailThreads,
    TicketChange,
    TicketRepository,
    VersionConflictError,
)
from tests.fakes import InMemoryInboxStore, InMemoryMailThreads, InMemoryTicketRepository

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
AGENT = Caller(Role.AGENT, "agent-1")


@pytest.fixture(params=["memory", "dynamo"])
def parts(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[TicketRepository, InboxStore, MailThreads]]:
    if request.param == "memory":
        tickets = InMemoryTicketRepository()
        yield tickets, InMemoryInboxStore(tickets), InMemoryMailThreads(tickets)
        return
    request.getfixturevalue("aws")
    container = bootstrap.container()
    yield container.repository, container.inbox_store, container.mail_threads


def _item(number: int, **changes: Any) -> InboxItem:
    item = InboxItem(
        id=f"M-{number:04d}",
        channel=Channel.EMAIL,
        sender="eve@evil.example",
        subject=f"Subject {number}",
        text="文本 text",
        received_at=NOW + timedelta(minutes=number),
        status=InboxStatus.OPEN,
        reason=TriageReason.UNKNOWN_SENDER,
        attachments=(InboxAttachment("a.pdf", "application/pdf", 12, "inbound/x"),),
        notes=("html_converted",),
        message_id="c1@example.com",
        source=f"inbound/{number}",
    )
    return replace(item, **changes)


def _ticket(number: int, email: str = "Ann@Example.com"):
    request = TicketRequest("email", "consultation", "card", "Card", "", None, "cust-1")
    ticket, event = open_ticket(
        request,
        AGENT,
        ticket_id=f"T-{number:026d}",
        reference=f"SD-{number:08d}",
        event_id=f"E-{number:026d}",
        now=NOW,
    )
    return replace(ticket, contact=Contact(None, email, "email", "en-US")), event


def test_items_round_trip_once_and_list_newest_first_by_status(parts):
    _, store, _ = parts
    for number in range(5):
        assert store.put(_item(number)) is True
    assert store.put(_item(0)) is False
    assert store.get("M-0003") == _item(3)
    assert store.get("M-9999") is None
    first = store.page("open", 2, None)
    assert [i.id for i in first.items] == ["M-0004", "M-0003"]
    rest = store.page("open", 10, first.next_key)
    assert [i.id for i in rest.items] == ["M-0002", "M-0001", "M-0000"] and rest.next_key is None
    assert store.page("ticketed", 10, None).items == []


def test_settling_is_once_and_moves_the_item_between_statuses(parts):
    tickets, store, _ = parts
    store.put(_item(1))
    ticket, created = _ticket(1)
    handled = replace(_item(1), status=InboxStatus.TICKETED, ticket_id=ticket.id, version=2)
    store.settle(handled, 1, new_ticket=ticket, events=[created])
    assert tickets.get(ticket.id) is not None
    assert store.get("M-0001") == handled
    assert [i.id for i in store.page("ticketed", 10, None).items] == ["M-0001"]
    assert store.page("open", 10, None).items == []
    with pytest.raises(InboxItemChangedError):
        store.settle(replace(handled, status=InboxStatus.DISCARDED), 1)


def test_a_link_on_a_ticket_that_moved_writes_nothing(parts):
    tickets, store, _ = parts
    ticket, created = _ticket(2)
    tickets.create(ticket, [created])
    store.put(_item(2))
    linked = replace(_item(2), status=InboxStatus.LINKED, version=2)
    stale = TicketChange(replace(ticket, version=ticket.version + 1), ticket.version + 1)
    with pytest.raises(VersionConflictError):
        store.settle(linked, 1, change=stale, events=[])
    assert store.get("M-0002") == _item(2)


def test_threads_senders_and_receipts(parts):
    tickets, _, threads = parts
    ticket, created = _ticket(3)
    tickets.create(ticket, [created])
    threads.remember_sent("0100abc", ticket.id, NOW)
    assert threads.ticket_of_sent(("nope", "0100abc")) == ticket.id
    assert threads.ticket_of_sent(("nope",)) is None
    assert threads.customer_of_sender("ann@example.com") == "cust-1"
    assert threads.customer_of_sender("eve@evil.example") is None
    assert threads.thread(ticket.id) is None
    threads.remember_received(ticket.id, "c2@example.com", ("c1@example.com",))
    assert threads.thread(ticket.id) == ("c2@example.com", ("c1@example.com",))
    comment = replace(created, id="E-" + "9" * 26, type=created.type)
    assert threads.receive(
        "r1", ticket_id=ticket.id, expected_version=1, changed=None, events=[comment]
    )
    assert not threads.receive(
        "r1", ticket_id=ticket.id, expected_version=1, changed=None, events=[]
    )
    assert (threads.taken_by("r1"), threads.taken_by("r2")) == (ticket.id, None)
    with pytest.raises(VersionConflictError):
        threads.receive("r2", ticket_id=ticket.id, expected_version=7, changed=None, events=[])


def test_what_the_threads_keep_expires_by_the_injected_clock(aws):
    """The receipt of a received email and the thread of a customer's reply carry no
    caller's time: their TTL counts from the container's clock, not the machine's."""
    clock_now = datetime(2031, 1, 2, 3, 4, tzinfo=UTC)
    threads = DynamoMailThreads(Connection(region="ap-east-1"), lambda: clock_now)
    tickets = bootstrap.container().repository
    ticket, created = _ticket(4)
    tickets.create(ticket, [created])
    threads.remember_received(ticket.id, "c2@example.com", ())
    comment = replace(created, id="E-" + "8" * 26)
    assert threads.receive(
        "r9", ticket_id=ticket.id, expected_version=1, changed=None, events=[comment]
    )
    thread = MailThreadItem.get(f"MAILTHREAD#{ticket.id}", "THREAD")
    receipt = MailReceiptItem.get("MAILIN#r9", "RECEIPT")
    assert thread.expires_at == int((clock_now + MAIL_SENT_TTL).timestamp())
    assert receipt.expires_at == int((clock_now + RECEIPT_TTL).timestamp())
