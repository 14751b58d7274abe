"""Email out carries the ticket's reply token and threads on the customer's mail (SPEC 12)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.mail import reply_address, ticket_of_token, token_in
from chalicelib.domain.ticket import TicketRequest, open_ticket
from chalicelib.service.inbound_mail import ReplyThreading
from chalicelib.service.notifications import NotificationPorts, notify
from chalicelib.service.ports import ReplyKeysUnavailableError
from tests.fakes import (
    FixedClock,
    InMemoryMailThreads,
    InMemoryNotificationStore,
    InMemoryTicketRepository,
    RecordingNotifier,
    RecordingOpsAlerter,
    SequentialIds,
)

KEY = b"k" * 32
DOMAIN = "reply.example"
NOON = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


class Keys:
    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing

    def signing_keys(self) -> tuple[bytes, ...]:
        if self.failing:
            raise ReplyKeysUnavailableError("down")
        return (KEY,)


def _ports(keys: Keys) -> tuple[NotificationPorts, InMemoryMailThreads, RecordingNotifier]:
    repository = InMemoryTicketRepository()
    request = TicketRequest(
        "web", "consultation", "card", "Card blocked", "", {"email": "ann@example.com"}
    )
    ticket, created = open_ticket(
        request,
        Caller(Role.CUSTOMER, "cust-1"),
        ticket_id="T-1",
        reference="SD-7K4Q9M2P",
        event_id="E-created",
        now=NOON,
    )
    repository.create(ticket, [created])
    threads = InMemoryMailThreads(repository)
    notifier = RecordingNotifier()
    ports = NotificationPorts(
        tickets=repository,
        store=InMemoryNotificationStore(repository),
        notifier=notifier,
        ids=SequentialIds(),
        clock=FixedClock(NOON),
        public_base_url="https://sd.example",
        alerts=RecordingOpsAlerter(),
        sleep=lambda _: None,
        mail_threading=ReplyThreading(threads, keys, DOMAIN),
    )
    return ports, threads, notifier


def test_desk_email_carries_the_token_and_its_id_is_kept():
    ports, threads, notifier = _ports(Keys())
    notify(ports.tickets.events("T-1")[0], ports)
    [sent] = notifier.sent
    assert sent.thread is not None
    assert sent.thread.reply_to == reply_address(KEY, "T-1", DOMAIN)
    token = token_in([sent.thread.reply_to], DOMAIN)
    assert token is not None
    assert sent.thread.in_reply_to is None  # the customer has not written yet
    assert threads.ticket_of_sent(("email-1",)) == "T-1"


def test_after_the_customer_wrote_the_desk_answers_in_thread():
    ports, threads, notifier = _ports(Keys())
    threads.remember_received("T-1", "c2@example.com", ("c1@example.com",))
    notify(ports.tickets.events("T-1")[0], ports)
    [sent] = notifier.sent
    assert sent.thread is not None
    assert sent.thread.in_reply_to == "<c2@example.com>"
    assert sent.thread.references == ("<c1@example.com>",)


def test_without_the_key_the_email_fails_visibly_instead_of_going_without_its_token():
    ports, _, notifier = _ports(Keys(failing=True))
    notify(ports.tickets.events("T-1")[0], ports)
    assert notifier.sent == []
    failed = [e for e in ports.tickets.events("T-1") if e.type == "notification.failed"]
    assert [e.data["reason"] for e in failed] == ["reply_token_unavailable"]


def test_tokens_of_ulid_tickets_verify():
    ticket_id = "T-01JABCDEFGHJKMNPQRSTVWXYZ0"
    address = reply_address(KEY, ticket_id, DOMAIN)
    token = token_in([address], DOMAIN)
    assert token is not None and ticket_of_token([KEY], token) == ticket_id
