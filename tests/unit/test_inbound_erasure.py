"""Erasure (SPEC 10) of what email and SMS in keep (SPEC 12): inbox items staff linked or
ticketed, their stored raw mail, the raw mail of verified replies, threading records and
attachment names in events. In-memory fakes."""

from __future__ import annotations

from msgspec.structs import replace

from chalicelib.domain.events import EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbox import Channel, InboxItem, InboxStatus, TriageReason, inbox_id_for
from chalicelib.domain.mail import reply_address
from chalicelib.domain.privacy import ERASED
from chalicelib.domain.statuses import Status
from chalicelib.service import inbox
from chalicelib.service.audit import AuditPorts
from chalicelib.service.privacy import (
    InboxErasure,
    PrivacyPorts,
    RawMailStore,
    erase_customer,
)
from tests.fakes import (
    FixedClock,
    InMemoryAuditLog,
    InMemoryInboxStore,
    InMemoryMailThreads,
    InMemoryNotificationStore,
    InMemoryPrivacyStore,
)
from tests.mail_desk import BUCKET, DOMAIN, KEY, PDF, Desk, mail

AGENT = Caller(Role.AGENT, "agent-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")


class FakeInboxErasure(InboxErasure):
    def __init__(self, store: InMemoryInboxStore, threads: InMemoryMailThreads) -> None:
        self.store, self.threads = store, threads

    def forget_item(self, item_id: str) -> str | None:
        item = self.store.items.get(item_id)
        if item is None:
            return None
        attachments = tuple(replace(a, filename=ERASED) for a in item.attachments)
        self.store.items[item_id] = replace(
            item, sender="", subject=ERASED, text=ERASED, attachments=attachments, message_id=None
        )
        return item.source

    def forget_thread(self, ticket_id: str) -> None:
        self.threads.threads.pop(ticket_id, None)


class FakeRawMail(RawMailStore):
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def delete(self, key: str) -> None:
        self.desk.mails.objects.pop((BUCKET, key), None)


def _item(desk: Desk, key: str, text: str) -> InboxItem:
    desk.mails.objects[(BUCKET, key)] = b"raw"
    item = InboxItem(
        id=inbox_id_for(key),
        channel=Channel.EMAIL,
        sender="ann@example.com",
        subject="About Ann's card",
        text=text,
        received_at=desk.clock(),
        status=InboxStatus.OPEN,
        reason=TriageReason.UNKNOWN_SENDER,
        source=key,
        message_id="m1@example.com",
    )
    desk.store.put(item)
    return item


def _privacy(desk: Desk, *, with_inbox: bool = True) -> PrivacyPorts:
    notifications = InMemoryNotificationStore()
    audit = AuditPorts(InMemoryAuditLog(), desk.ids, FixedClock())
    return PrivacyPorts(
        desk.repository,
        InMemoryPrivacyStore(desk.repository, notifications),
        notifications,
        audit,
        inbox=FakeInboxErasure(desk.store, desk.threads) if with_inbox else None,
        raw_mail=FakeRawMail(desk) if with_inbox else None,
    )


def _close(desk: Desk, ticket_id: str) -> None:
    ticket = desk.repository.tickets[ticket_id]
    desk.repository.tickets[ticket_id] = replace(ticket, status=Status.CLOSED)


def test_erasure_blanks_the_linked_and_ticketed_items_and_deletes_their_raw_mail():
    desk = Desk()
    inbox_ports = desk.ports.inbox
    ticket = desk.ticket()
    # A verified reply with an attachment: the comment, its raw mail, a thread record.
    _, reply_key = desk.deliver(
        mail(reply_address(KEY, ticket.id, DOMAIN), ("ann-passport.pdf", "application/pdf", PDF))
    )
    linked = _item(desk, "inbound/linked", "Ann's second note")
    inbox.link(inbox_ports, AGENT, linked.id, ticket.id)
    ticketed = _item(desk, "inbound/ticketed", "Ann's new question")
    opened = inbox.open_ticket_from(
        inbox_ports,
        AGENT,
        ticketed.id,
        {"kind": "consultation", "category": "card", "customer_id": "cust-1"},
    )
    stranger = _item(desk, "inbound/stranger", "Someone else")
    assert desk.threads.thread(ticket.id) is not None
    _close(desk, ticket.id)
    _close(desk, opened.id)

    erase_customer(_privacy(desk), AUDITOR, "cust-1")

    for item_id in (linked.id, ticketed.id):
        item = desk.store.items[item_id]
        assert (item.sender, item.text, item.subject, item.message_id) == ("", ERASED, ERASED, None)
    assert desk.store.items[stranger.id].text == "Someone else"  # not theirs: kept
    remaining = {key for _, key in desk.mails.objects}
    assert remaining == {"inbound/stranger"}
    assert reply_key not in remaining
    assert desk.threads.thread(ticket.id) is None
    stored = repr(desk.repository.events(ticket.id)) + repr(desk.repository.events(opened.id))
    for personal in ("ann-passport", "Ann", "ann@example.com"):
        assert personal not in stored


def test_events_name_the_inbox_item_and_the_raw_mail_they_came_from():
    desk = Desk()
    ticket = desk.ticket()
    _, key = desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN)))
    linked = _item(desk, "inbound/linked", "note")
    inbox.link(desk.ports.inbox, AGENT, linked.id, ticket.id)
    comments = [e for e in desk.repository.events(ticket.id) if e.type == EventType.COMMENT_ADDED]
    assert [(c.data.get("mail_source"), c.data.get("inbox_id")) for c in comments] == [
        (key, None),
        (None, linked.id),
    ]


def test_a_second_erasure_finds_nothing_more_to_do():
    desk = Desk()
    ticket = desk.ticket()
    desk.deliver(mail(reply_address(KEY, ticket.id, DOMAIN)))
    _close(desk, ticket.id)
    privacy = _privacy(desk)
    assert erase_customer(privacy, AUDITOR, "cust-1").anonymized_now == 1
    assert erase_customer(privacy, AUDITOR, "cust-1").anonymized_now == 0
