"""Audit entries (staff reads and writes) and erasure on request, with the fakes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from msgspec.structs import asdict, replace

from chalicelib.domain.audit import entry_for_event
from chalicelib.domain.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ThrottledError,
    ValidationError,
)
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.privacy import ERASED, anonymized_event, anonymized_response
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.service.audit import (
    AuditPorts,
    audit_page,
    audit_query,
    record_list_read,
    record_read,
)
from chalicelib.service.privacy import PrivacyPorts, erase_customer
from chalicelib.service.reactions import ReactionPorts, react
from chalicelib.service.tickets import (
    Answer,
    IdempotencyKey,
    StoredResponse,
    TicketPorts,
    act,
    comment,
    create_ticket,
)
from tests.fakes import (
    FixedClock,
    InMemoryAuditLog,
    InMemoryNotificationStore,
    InMemoryPrivacyStore,
    InMemoryReactionLedger,
    InMemoryTicketRepository,
    SequentialIds,
)

CUSTOMER = Caller(Role.CUSTOMER, "cust-1")
AGENT = Caller(Role.AGENT, "agent-1")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
PHONE, EMAIL = "+8613812348000", "jane.doe@example.com"
REQUEST = TicketRequest(
    "mobile", "consultation", "card", "Card 6222 blocked", "Jane Doe, Shanghai", None
)


class Desk:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.repository = InMemoryTicketRepository()
        self.ports = TicketPorts(self.repository, self.ids, self.clock)
        self.log = InMemoryAuditLog()
        self.audit = AuditPorts(self.log, self.ids, self.clock)
        self.notifications = InMemoryNotificationStore(self.repository)
        self.store = InMemoryPrivacyStore(self.repository, self.notifications)
        self.privacy = PrivacyPorts(self.repository, self.store, self.notifications, self.audit)
        self.ledger = InMemoryReactionLedger()
        self.reactions = ReactionPorts(
            self.ledger, tickets=self.repository, audit=self.log, privacy=self.store
        )

    def open(self, customer: Caller = CUSTOMER, key: str = "k1") -> Ticket:
        request = TicketRequest(**{**asdict(REQUEST), "contact": {"phone": PHONE, "email": EMAIL}})
        idempotency = IdempotencyKey(f"customer:{customer.id}:POST /v1/tickets", key, "f")
        render = lambda ticket: StoredResponse(201, f'{{"id": "{ticket.id}", "subject": "x"}}')  # noqa: E731
        body = create_ticket(self.ports, customer, request, render, idempotency).body
        return self.repository.tickets[body.split('"')[3]]

    def deliver_everything(self) -> None:
        for events in list(self.repository.event_log.values()):
            for event in list(events):
                react(event, self.reactions)


def _cancelled_with_history(desk: Desk) -> Ticket:
    ticket = desk.open()
    act(desk.ports, AGENT, ticket.id, "assign", {})
    act(desk.ports, AGENT, ticket.id, "start", {})
    render = lambda event: StoredResponse(201, event.id)  # noqa: E731
    comment(desk.ports, CUSTOMER, ticket.id, f"Call me on {PHONE}", False, answer=Answer(render))
    comment(desk.ports, AGENT, ticket.id, "Dear Jane Doe", False, answer=Answer(render))
    act(desk.ports, CUSTOMER, ticket.id, "cancel", {"reason": "Jane found the card"})
    return desk.repository.tickets[ticket.id]


# --- audit ---------------------------------------------------------------------------------


def _event(type_: str, actor: Caller, **data: object) -> Event:
    return Event("E-1", "T-1", EventType(type_), FixedClock()(), actor, dict(data))


def test_staff_writes_are_audited_once_per_write_customers_and_the_system_are_not():
    def action(event: Event) -> str | None:
        entry = entry_for_event(event)
        return entry.action if entry else None

    assert action(_event("ticket.status_changed", AGENT, action="resolve")) == "resolve"
    assert action(_event("comment.added", SUPERVISOR, internal=True)) == "internal_note"
    assert action(_event("ticket.created", AGENT)) == "create"
    # assign writes ticket.assigned and a derived status move: one audit entry
    assert entry_for_event(_event("ticket.status_changed", AGENT, action="assign")) is None
    assert entry_for_event(_event("comment.added", CUSTOMER)) is None
    assert entry_for_event(_event("sla.breached", SYSTEM)) is None


def test_a_staff_read_is_recorded_and_a_customer_read_is_not():
    desk = Desk()
    record_read(desk.audit, CUSTOMER, "read_ticket", ticket_id="T-1")
    assert desk.log.entries == {}
    record_read(desk.audit, AGENT, "read_ticket", ticket_id="T-1")
    [(entry, expires_at)] = desk.log.entries.values()
    assert (entry.actor, entry.action, entry.ticket_id) == (AGENT, "read_ticket", "T-1")
    assert expires_at == int((desk.clock() + timedelta(days=1826)).timestamp())


def test_a_staff_list_read_is_a_read_of_every_ticket_it_returns_with_its_query():
    desk = Desk()
    shown = [f"T-{n}" for n in range(60)]
    record_list_read(desk.audit, SUPERVISOR, shown, {"queue": "card", "status": "new"})
    entries = [entry for entry, _ in desk.log.entries.values()]
    assert sorted(e.ticket_id or "" for e in entries) == sorted(shown)
    assert {(e.actor, e.action) for e in entries} == {(SUPERVISOR, "list_tickets")}
    assert all(e.query == {"queue": "card", "status": "new"} for e in entries)
    assert desk.log.batches == [25, 25, 10]  # BatchWriteItem's limit, not 60 PutItems
    [seen] = audit_page(desk.audit, "ticket", "T-42", 10, None).items
    assert (seen.actor, seen.action, seen.query) == (
        SUPERVISOR,
        "list_tickets",
        {"queue": "card", "status": "new"},
    )


def test_a_list_by_customer_names_the_customer_and_an_empty_one_still_records_the_query():
    desk = Desk()
    record_list_read(desk.audit, AGENT, ["T-1"], {"customer_id": "cust-9"})
    record_list_read(desk.audit, AGENT, [], {"assignee": "agent-2"})
    by_actor = audit_page(desk.audit, "actor", AGENT.id, 10, None).items
    seen = sorted((e.ticket_id or "", e.customer_id or "", dict(e.query or {})) for e in by_actor)
    assert seen == [
        ("", "", {"assignee": "agent-2"}),
        ("T-1", "cust-9", {"customer_id": "cust-9"}),
    ]


def test_a_customers_own_list_is_not_audited():
    desk = Desk()
    record_list_read(desk.audit, CUSTOMER, ["T-1", "T-2"], {})
    assert desk.log.entries == {}


def test_a_list_whose_audit_entries_are_refused_is_not_shown():
    desk = Desk()
    desk.log.refusing = True
    with pytest.raises(ThrottledError):  # the view raises before it renders the page: a 429
        record_list_read(desk.audit, AGENT, ["T-1"], {"queue": "card"})


def test_the_audit_log_shows_reads_and_writes_newest_first_by_ticket_and_by_actor():
    desk = Desk()
    ticket = desk.open()
    desk.clock.advance(minutes=1)
    record_read(desk.audit, AGENT, "read_ticket", ticket_id=ticket.id)
    desk.clock.advance(minutes=1)
    act(desk.ports, AGENT, ticket.id, "assign", {})
    desk.deliver_everything()
    desk.deliver_everything()  # redelivery writes the same entries again, not new ones
    by_ticket = audit_page(desk.audit, "ticket", ticket.id, 10, None).items
    assert [e.action for e in by_ticket] == ["assign", "read_ticket"]
    assert [e.action for e in audit_page(desk.audit, "actor", "agent-1", 10, None).items] == [
        "assign",
        "read_ticket",
    ]
    first = audit_page(desk.audit, "actor", "agent-1", 1, None)
    assert first.next_key is not None
    assert [
        e.action for e in audit_page(desk.audit, "actor", "agent-1", 1, first.next_key).items
    ] == ["read_ticket"]


@pytest.mark.parametrize("caller", [CUSTOMER, AGENT, SUPERVISOR])
def test_only_auditors_read_the_audit_log(caller: Caller):
    with pytest.raises(ForbiddenError):
        audit_query(caller, None, None)  # 403 before the 400


@pytest.mark.parametrize(
    ("ticket_id", "actor"),
    [
        (None, None),
        ("T-1", "agent-1"),
        ("", None),
        ("x" * 129, None),
        (None, "agent\n7"),  # single-line ids refuse control characters (SPEC 5)
        ("T-1\x00", None),
    ],
)
def test_exactly_one_of_ticket_id_and_actor(ticket_id: str | None, actor: str | None):
    with pytest.raises(ValidationError):
        audit_query(AUDITOR, ticket_id, actor)


# --- erasure ---------------------------------------------------------------------------------


def test_anonymized_events_keep_statuses_and_lose_words_and_addresses():
    status = _event("ticket.status_changed", AGENT, action="resolve", to="resolved", resolution="x")
    erased = anonymized_event(status)
    assert erased is not None
    assert erased.data == {"action": "resolve", "to": "resolved", "resolution": ERASED}
    sent = anonymized_event(_event("notification.sent", SYSTEM, channel="sms", to="+86 1****8000"))
    assert sent is not None
    assert sent.data == {"channel": "sms", "to": ""}
    assert anonymized_event(_event("ticket.created", CUSTOMER, channel="web")) is None


def test_erasure_leaves_no_personal_data_and_keeps_the_counts():
    desk = Desk()
    ticket = _cancelled_with_history(desk)
    desk.notifications.save_preferences("cust-1", {"sms": True, "email": False})
    desk.deliver_everything()
    counters = dict(desk.ledger.counters)
    erasure = erase_customer(desk.privacy, AUDITOR, "cust-1")
    assert (erasure.tickets, erasure.anonymized_now, erasure.preferences_deleted) == (1, 1, True)
    desk.deliver_everything()
    stored = repr(desk.repository.tickets[ticket.id]) + repr(desk.repository.events(ticket.id))
    stored += repr(desk.repository.idempotency)  # kept for retries, blanked
    for personal in (PHONE, EMAIL, "Jane", "6222", "Shanghai", "138"):
        assert personal not in stored
    assert len(desk.repository.idempotency) == 1
    assert desk.notifications.preferences("cust-1") is None
    assert desk.ledger.counters == counters
    assert desk.repository.tickets[ticket.id].status == "cancelled"
    actions = [entry.action for entry, _ in desk.log.entries.values()]
    assert "erase_customer" in actions and "erase" in actions


def test_erasure_is_repeatable():
    desk = Desk()
    _cancelled_with_history(desk)
    erase_customer(desk.privacy, AUDITOR, "cust-1")
    events = len(desk.repository.events(next(iter(desk.repository.tickets))))
    again = erase_customer(desk.privacy, AUDITOR, "cust-1")
    assert (again.tickets, again.anonymized_now) == (1, 0)
    assert len(desk.repository.events(next(iter(desk.repository.tickets)))) == events


def test_erasure_waits_until_every_ticket_is_closed_or_cancelled():
    desk = Desk()
    _cancelled_with_history(desk)
    open_ticket = desk.open(key="k2")
    with pytest.raises(ConflictError) as raised:
        erase_customer(desk.privacy, AUDITOR, "cust-1")
    assert open_ticket.id in raised.value.detail
    assert desk.repository.tickets[open_ticket.id].contact.phone == PHONE  # nothing touched


def test_erasure_of_a_customer_never_seen_is_404_and_only_auditors_may_ask():
    desk = Desk()
    _cancelled_with_history(desk)
    with pytest.raises(NotFoundError):
        erase_customer(desk.privacy, AUDITOR, "cust-404")
    for caller in (AGENT, SUPERVISOR, CUSTOMER):
        with pytest.raises(ForbiddenError):
            erase_customer(desk.privacy, caller, "cust-1")
    with pytest.raises(NotFoundError):  # another customer's id reveals nothing
        erase_customer(desk.privacy, Caller(Role.CUSTOMER, "cust-2"), "cust-1")


def test_a_customer_known_only_by_preferences_can_be_erased():
    desk = Desk()
    desk.notifications.save_preferences("cust-9", {"sms": False, "email": True})
    erasure = erase_customer(desk.privacy, AUDITOR, "cust-9")
    assert (erasure.tickets, erasure.preferences_deleted) == (0, True)


def test_closing_stamps_the_retention_expiry_on_the_tickets_records():
    desk = Desk()
    ticket = _cancelled_with_history(desk)
    desk.deliver_everything()
    cancelled_at = desk.repository.tickets[ticket.id].updated_at
    assert desk.store.expiries == {
        ticket.id: int((cancelled_at + timedelta(days=1826)).timestamp())
    }


def test_a_stored_response_keeps_its_shape_without_personal_data():

    stored = json.dumps(
        {
            "id": "T-1",
            "subject": "Jane Doe, card 6222",
            "description": "Flat 12B",
            "contact": {"phone": "+86 138****8000", "email": "j***@x.cn", "locale": "en-US"},
            "status": "new",
            "data": {"body": "call me", "internal": False},
        }
    )
    blanked = json.loads(anonymized_response(stored))
    assert blanked == {
        "id": "T-1",
        "subject": ERASED,
        "description": ERASED,
        "contact": {"phone": None, "email": None, "preferred": "none", "locale": "en-US"},
        "status": "new",
        "data": {"body": ERASED, "internal": False},
    }
    assert json.loads(anonymized_response("not json")) == {"erased": True}


@pytest.mark.parametrize(
    "customer_id", ["cust-1\n", "cust-1\r", "\ncust-1", "cust 1", "c" * 129, ""]
)
def test_a_malformed_customer_id_names_no_one(customer_id):
    desk = Desk()
    _cancelled_with_history(desk)
    with pytest.raises(NotFoundError) as refused:
        erase_customer(desk.privacy, AUDITOR, customer_id)
    assert customer_id.strip() not in str(refused.value) or not customer_id.strip()


class _CustomerOpensMidway(InMemoryPrivacyStore):
    """The customer opens a ticket while the erasure runs (after their list was read)."""

    def __init__(self, desk: Desk) -> None:
        super().__init__(desk.repository, desk.notifications)
        self.desk = desk
        self.opened: Ticket | None = None

    def anonymize_ticket(
        self, expected_version: int, changed: Ticket, rewritten: list[Event], added: list[Event]
    ) -> None:
        super().anonymize_ticket(expected_version, changed, rewritten, added)
        if self.opened is None:
            self.opened = self.desk.open(key="k-midway")


def test_a_ticket_opened_while_the_erasure_runs_makes_it_a_409_until_it_is_finished():
    # The erasure answered 200 (all erased) while the new ticket kept the phone, email
    # and words, and the preferences that ticket's messages need were deleted.
    desk = Desk()
    _cancelled_with_history(desk)
    desk.notifications.save_preferences("cust-1", {"sms": True, "email": False})
    store = _CustomerOpensMidway(desk)
    with pytest.raises(ConflictError) as raised:
        erase_customer(replace(desk.privacy, store=store), AUDITOR, "cust-1")
    assert store.opened is not None and store.opened.id in raised.value.detail
    assert desk.notifications.preferences("cust-1") is not None  # its messages need them

    act(desk.ports, CUSTOMER, store.opened.id, "cancel", {})
    again = erase_customer(desk.privacy, AUDITOR, "cust-1")
    assert (again.tickets, again.anonymized_now, again.preferences_deleted) == (2, 1, True)
    assert desk.repository.tickets[store.opened.id].contact.phone is None
