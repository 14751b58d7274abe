"""The ticket repository and reaction ledger on the single DynamoDB table."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import islice
from typing import Any

import msgspec
from pynamodb.connection import Connection

from chalicelib.adapters.mapping import StoredFields, values_of
from chalicelib.adapters.models import (
    ContactAttribute,
    CounterItem,
    EventItem,
    IdempotencyItem,
    PhoneTicketItem,
    ReactionMarkerItem,
    ReferenceItem,
    SlaAttribute,
    TableItem,
    TicketItem,
    get_item,
)
from chalicelib.adapters.transactions import Refusal, Refused, Transaction, written
from chalicelib.domain.applications import Application
from chalicelib.domain.complaints import Complaint
from chalicelib.domain.contact import Contact
from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event, EventType
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.lifecycle import CLAIMABLE_STATUSES
from chalicelib.domain.privacy import retention_expiry
from chalicelib.domain.sla import next_due
from chalicelib.domain.statuses import Status
from chalicelib.domain.ticket import FINISHED_STATUSES, PRIORITY_RANK, Sla, Ticket
from chalicelib.service.ports import (
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    ListQuery,
    Page,
    ReactionLedger,
    ReferenceTakenError,
    StartKey,
    TicketRepository,
    TicketWrite,
    UnknownPositionError,
    VersionConflictError,
)

# "#" sorts before "EVENT#": one Query returns the ticket, then its oldest events.
TICKET_SK = "#TICKET"
# The erasure marker's sort key: after "F", out of that first-page Query (sk < "F").
ERASED_SK = "~ERASED"
REACTION_MARKER_TTL = timedelta(days=7)  # longer than the stream's 24 h retention
# One partition: the sweep reads only what is due, which stays small at any scale.
DUE_PARTITION = "DUE"


def ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def event_sk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def _key_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# How the item stores a Ticket: `id` renamed, the fields below converted, every other
# field under its own name as it is (a new plain field needs only its item attribute).
_TICKET = StoredFields(
    Ticket,
    TicketItem,
    converted=(
        "status",
        "tier",
        "resolutions",
        "contact",
        "sla",
        "appointment",
        "version",
        "application",
        "complaint",
        "recused",
    ),
    renamed={"id": "ticket_id"},
)
_SLA = StoredFields(Sla, SlaAttribute, converted=("breaches", "paused", "extended", "unpaused"))


def ticket_to_item(ticket: Ticket, *, on_disk: int | None, retention: timedelta) -> TicketItem:
    """The item for a ticket. `on_disk` is the version the write expects to replace
    (None for a new ticket); PynamoDB conditions on it and stores the next one.
    A closed or cancelled ticket expires `retention` after it finished (TTL): the
    configured retention, which every writer passes (no default to forget it with)."""
    list_sk = f"{_key_time(ticket.created_at)}#{ticket.id}"
    item = TicketItem(
        pk=ticket_pk(ticket.id),
        sk=TICKET_SK,
        **_TICKET.item_values(ticket),
        status=ticket.status,
        tier=ticket.tier,
        resolutions=ticket.resolutions,
        contact=ContactAttribute(**msgspec.structs.asdict(ticket.contact)),
        sla=_sla_attribute(ticket.sla),
        appointment=ticket.appointment,
        application=application_to_map(ticket.application),
        complaint=_complaint_text(ticket.complaint),
        recused=set(ticket.recused) or None,
        list_sk=list_sk,
        customer_status=f"{ticket.customer_id}#{ticket.status}",
        queue_status=f"{ticket.queue}#{ticket.status}",
    )
    if on_disk is not None:
        item.version = on_disk
    if ticket.status in FINISHED_STATUSES:
        item.expires_at = retention_expiry(ticket.updated_at, retention)
    _set_sparse_keys(item, ticket, list_sk)
    return item


def _set_sparse_keys(item: TicketItem, ticket: Ticket, list_sk: str) -> None:
    if ticket.assignee:
        item.assignee_status = f"{ticket.assignee}#{ticket.status}"
    if ticket.status in CLAIMABLE_STATUSES and not ticket.assignee:
        item.claim_queue = ticket.queue
        # Most urgent, then oldest, then nearest due.
        due_key = _key_time(due) if (due := next_due(ticket)) else "~"
        item.claim_sk = f"{PRIORITY_RANK[ticket.priority]}#{list_sk[:27]}#{due_key}#{ticket.id}"
    due = next_due(ticket)
    if due is not None:
        item.due_pk = DUE_PARTITION
        item.due_sk = f"{_key_time(due)}#{ticket.id}"
    if ticket.contact.email:
        item.lookup_pk = contact_email_key(ticket.contact.email)
        item.lookup_sk = list_sk


def contact_email_key(address: str) -> str:
    """The `lookup` index's key of a contact email (hashed: no address in an index key)."""
    return "EMAIL#" + hashlib.sha256(address.strip().lower().encode()).hexdigest()


def phone_lookup_pk(key: str) -> str:
    """The partition of the tickets whose contact uses a number (`key`: its SHA-256)."""
    return f"PHONE#{key}"


def phone_lookup_item(ticket: Ticket) -> PhoneTicketItem | None:
    """The ticket's entry under its contact number's hash (None without a number): no
    index, a key the number's hash names, so a STOP finds every customer using it."""
    if not ticket.contact.phone:
        return None
    return PhoneTicketItem(
        pk=phone_lookup_pk(phone_key(ticket.contact.phone)),
        sk=ticket_pk(ticket.id),
        customer_id=ticket.customer_id,
    )


def expire_phone_lookup(phone: str | None, ticket_id: str, expires_at: int) -> None:
    """Retention: the ticket's phone lookup entry expires with it. Only an entry that
    exists (a ticket opened before the lookup has none; an UpdateItem would create one)."""
    if not phone:
        return
    entry = PhoneTicketItem(pk=phone_lookup_pk(phone_key(phone)), sk=ticket_pk(ticket_id))
    stamp = PhoneTicketItem.expires_at.set(expires_at)
    written(partial(entry.update, actions=[stamp], condition=PhoneTicketItem.pk.exists()))


def _sla_attribute(sla: Sla) -> SlaAttribute:
    return SlaAttribute(
        **_SLA.item_values(sla),
        breaches=set(sla.breaches) or None,
        paused=int(sla.paused),
        extended=int(sla.extended),
        unpaused=set(sla.unpaused) or None,
    )


def _sla(attribute: SlaAttribute) -> Sla:
    return Sla(
        **_SLA.struct_values(attribute),
        breaches=tuple(sorted(attribute.breaches or ())),
        paused=bool(attribute.paused),
        extended=bool(attribute.extended),
        unpaused=tuple(sorted(attribute.unpaused or ())),
    )


def item_to_ticket(item: TicketItem) -> Ticket:
    return Ticket(
        **_TICKET.struct_values(item),
        status=Status(item.status),
        tier=int(item.tier),
        resolutions=int(item.resolutions or 0),
        contact=Contact(**values_of(item.contact, Contact.__struct_fields__)),
        sla=_sla(item.sla),
        appointment=item.appointment.as_dict() if item.appointment else None,
        version=int(item.version or 1),
        application=map_to_application(item.application),
        complaint=_complaint(item.complaint),
        recused=tuple(sorted(item.recused or ())),
    )


def application_to_map(application: Application | None) -> dict[str, Any] | None:
    """The application as a plain map (times as RFC 3339 text)."""
    if application is None:
        return None
    plain: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(application))
    return plain


def map_to_application(stored: Any) -> Application | None:
    if not stored:
        return None
    data = stored.as_dict() if hasattr(stored, "as_dict") else dict(stored)
    return msgspec.convert(_plain_numbers(data), Application, strict=False)


def _plain_numbers(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: whole ones as int, others as float."""
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _complaint_text(complaint: Complaint | None) -> str | None:
    return msgspec.json.encode(complaint).decode() if complaint is not None else None


def _complaint(text: str | None) -> Complaint | None:
    return msgspec.json.decode(text, type=Complaint) if text else None


# How the item stores an Event: `id` renamed, the rest converted (`type`, `actor`, `data`).
_EVENT = StoredFields(
    Event, EventItem, converted=("type", "actor", "data"), renamed={"id": "event_id"}
)


def event_to_item(event: Event) -> EventItem:
    return EventItem(
        pk=ticket_pk(event.ticket_id),
        sk=event_sk(event.id),
        **_EVENT.item_values(event),
        event_type=event.type,
        actor_role=event.actor.role.value,
        actor_id=event.actor.id,
        data=event.data,
    )


def item_to_event(item: EventItem) -> Event:
    data: dict[str, Any] = item.data.as_dict() if item.data else {}
    return Event(
        **_EVENT.struct_values(item),
        type=EventType(item.event_type),
        actor=Caller(role=Role(item.actor_role), id=item.actor_id),
        data=data,
    )


def event_from_stream_image(image: Mapping[str, Any]) -> Event | None:
    """Decode a stream record's NewImage; None when the item is not an event."""
    if image.get("item_type", {}).get("S") != "event":
        return None
    item = TableItem.from_raw_data(dict(image))
    assert isinstance(item, EventItem)
    return item_to_event(item)


LIST_INDEXES = {
    # (list, with status?) -> (index, its hash key attribute)
    ("customer", False): ("by_customer", "customer_id"),
    ("customer", True): ("by_customer_status", "customer_status"),
    ("queue", False): ("by_queue", "queue"),
    ("queue", True): ("by_queue_status", "queue_status"),
    ("assignee", False): ("by_assignee", "assignee"),
    ("assignee", True): ("by_assignee_status", "assignee_status"),
}


def idempotency_pk(scope: str, key: str) -> str:
    # Hashed: keys are caller-chosen text of up to 255 characters.
    digest = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
    return f"IDEMPOTENCY#{digest}"


def _idempotency_item(record: IdempotencyRecord) -> IdempotencyItem:
    return IdempotencyItem(
        pk=idempotency_pk(record.scope, record.key),
        sk="IDEMPOTENCY",
        fingerprint=record.fingerprint,
        status=record.status,
        body=record.body,
        headers=record.headers,
        expires_at=int(record.expires_at.timestamp()),
    )


def _idempotency_condition(record: IdempotencyRecord) -> Any:
    # moto never deletes expired items and DynamoDB deletes them late: a record expired
    # by the time this one is written counts as absent.
    absent = IdempotencyItem.pk.does_not_exist()
    if record.written_at is None:
        return absent
    return absent | (IdempotencyItem.expires_at < int(record.written_at.timestamp()))


def event_items(events: list[Event], idempotency: IdempotencyRecord | None) -> list[EventItem]:
    """The items of new events. With a stored response, the first event links it, so
    erasure finds every stored response through the events of the ticket it concerns."""
    items = [event_to_item(event) for event in events]
    if idempotency is not None and items:
        items[0].idempotency_pk = idempotency_pk(idempotency.scope, idempotency.key)
    return items


def write_new_ticket(
    writes: Transaction,
    ticket: Ticket,
    events: list[Event],
    idempotency: IdempotencyRecord | None,
    retention: timedelta,
) -> None:
    """A new ticket, its reference claim, its events and the stored response (if any)."""
    _write_new(writes, "", ticket, events, idempotency, retention=retention)
    write_idempotency(writes, idempotency)


def write_idempotency(writes: Transaction, idempotency: IdempotencyRecord | None) -> None:
    if idempotency is not None:
        writes.save(
            "idempotency", _idempotency_item(idempotency), _idempotency_condition(idempotency)
        )


def _write_new(
    writes: Transaction,
    prefix: str,
    ticket: Ticket,
    events: list[Event],
    idempotency: IdempotencyRecord | None,
    *,
    retention: timedelta,
) -> None:
    """A new ticket, its reference claim and its events; inside a write spanning tickets
    `prefix` numbers its items' names ("0:ticket")."""
    reference = ReferenceItem(
        pk=f"REFERENCE#{ticket.reference}", sk="REFERENCE", ticket_id=ticket.id
    )
    item = ticket_to_item(ticket, on_disk=None, retention=retention)
    writes.save(f"{prefix}ticket", item, TicketItem.pk.does_not_exist())
    writes.save(f"{prefix}reference", reference, ReferenceItem.pk.does_not_exist())
    write_phone_lookup(writes, prefix, ticket)
    writes.events(event_items(events, idempotency))


def write_phone_lookup(writes: Transaction, prefix: str, ticket: Ticket) -> None:
    """The ticket's phone lookup entry, in the transaction that gives it its contact
    (tickets are opened with their contact; no write path changes it afterwards)."""
    entry = phone_lookup_item(ticket)
    if entry is not None:
        writes.save(f"{prefix}phone", entry)


def check_ticket_version(
    writes: Transaction, ticket_id: str, expected_version: int, name: str = "ticket"
) -> None:
    """The write holds only while the ticket is at `expected_version` (not rewritten)."""
    writes.condition_check(
        name,
        TicketItem,
        ticket_pk(ticket_id),
        TICKET_SK,
        TicketItem.version == expected_version,
    )


def write_ticket_change(
    writes: Transaction,
    prefix: str,
    change: TicketWrite,
    idempotency: IdempotencyRecord | None,
    retention: timedelta,
) -> None:
    """A ticket changed at its expected version, with its events: rewritten, or for a
    timeline-only change (`changed` None) checked to be still at that version. Inside a
    write spanning tickets `prefix` numbers its items' names ("0:ticket")."""
    assert change.expected_version is not None, "a new ticket is _write_new's"
    if change.changed is None:
        check_ticket_version(writes, change.ticket_id, change.expected_version, f"{prefix}ticket")
    else:
        on_disk = change.expected_version
        item = ticket_to_item(change.changed, on_disk=on_disk, retention=retention)
        writes.save(f"{prefix}ticket", item)
    writes.events(event_items(change.events, idempotency))


def _many_refusals(writes: list[TicketWrite]) -> dict[str, Refusal]:
    """What a failed condition of each numbered item means (a write spanning tickets)."""
    refusals: dict[str, Refusal] = {}
    for number, write in enumerate(writes):
        if write.expected_version is None and write.changed is not None:
            refusals[f"{number}:reference"] = partial(ReferenceTakenError, write.changed.reference)
        else:
            refusals[f"{number}:ticket"] = partial(VersionConflictError, write.ticket_id)
    refusals["idempotency"] = IdempotencyKeyTakenError
    return refusals


def new_ticket_refusals(ticket: Ticket) -> dict[str, Refusal]:
    return {
        "reference": lambda: ReferenceTakenError(ticket.reference),
        "idempotency": IdempotencyKeyTakenError,
    }


class DynamoTicketRepository(TicketRepository):
    def __init__(self, connection: Connection, retention: timedelta) -> None:
        self._connection = connection
        self._retention = retention

    def create(
        self, ticket: Ticket, events: list[Event], idempotency: IdempotencyRecord | None = None
    ) -> None:
        with Transaction(self._connection, new_ticket_refusals(ticket)) as writes:
            write_new_ticket(writes, ticket, events, idempotency, self._retention)

    def commit(
        self,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        refusals: dict[str, Refusal] = {
            "ticket": lambda: VersionConflictError(ticket_id),
            "idempotency": IdempotencyKeyTakenError,
        }
        with Transaction(self._connection, refusals) as writes:
            change = TicketWrite(ticket_id, expected_version, changed, events)
            write_ticket_change(writes, "", change, idempotency, self._retention)
            write_idempotency(writes, idempotency)

    def commit_many(
        self, writes: list[TicketWrite], idempotency: IdempotencyRecord | None = None
    ) -> None:
        with Transaction(self._connection, _many_refusals(writes)) as transaction:
            for number, write in enumerate(writes):
                linked = idempotency if number == 0 else None
                if write.expected_version is None:
                    assert write.changed is not None
                    _write_new(
                        transaction,
                        f"{number}:",
                        write.changed,
                        write.events,
                        linked,
                        retention=self._retention,
                    )
                else:
                    write_ticket_change(transaction, f"{number}:", write, linked, self._retention)
            write_idempotency(transaction, idempotency)

    def get(self, ticket_id: str) -> Ticket | None:
        item = get_item(TicketItem, ticket_pk(ticket_id), TICKET_SK, consistent=True)
        return item_to_ticket(item) if item is not None else None

    def events(self, ticket_id: str) -> list[Event]:
        items = EventItem.query(ticket_pk(ticket_id), EventItem.sk.startswith("EVENT#"))
        return [item_to_event(item) for item in items]

    def event_page(self, ticket_id: str, limit: int, start_key: StartKey | None) -> Page[Event]:
        results = EventItem.query(
            ticket_pk(ticket_id),
            EventItem.sk.startswith("EVENT#"),
            limit=limit + 1,
            last_evaluated_key=read_position(start_key, _EVENT_KEY, ticket_pk(ticket_id)),
        )
        items = list(results)
        page, more = items[:limit], len(items) > limit
        next_key = _event_position(page) if more else None
        return Page([item_to_event(item) for item in page], next_key)

    def ticket_and_events(
        self, ticket_id: str, limit: int, start_key: StartKey | None
    ) -> tuple[Ticket | None, Page[Event]]:
        if start_key is not None:
            return self.get(ticket_id), self.event_page(ticket_id, limit, start_key)
        # "#TICKET" < "EVENT#..." < "F": the ticket, then its oldest events, in one Query.
        items = list(
            TableItem.query(
                ticket_pk(ticket_id), TableItem.sk < "F", limit=limit + 2, consistent_read=True
            )
        )
        ticket = next((item for item in items if isinstance(item, TicketItem)), None)
        events = [item for item in items if isinstance(item, EventItem)]
        page, more = events[:limit], len(events) > limit
        next_key = _event_position(page) if more else None
        return (
            item_to_ticket(ticket) if ticket else None,
            Page([item_to_event(item) for item in page], next_key),
        )

    def query_tickets(self, query: ListQuery) -> Page[Ticket]:
        index_name, hash_attribute = LIST_INDEXES[(query.index, query.status is not None)]
        hash_value = query.value if query.status is None else f"{query.value}#{query.status}"
        index = getattr(TicketItem, index_name)
        results = index.query(
            hash_value,
            scan_index_forward=False,
            limit=query.limit + 1,
            last_evaluated_key=read_position(
                query.start_key, {"pk", "sk", hash_attribute, "list_sk"}, "TICKET#"
            ),
        )
        items = list(results)
        page, more = items[: query.limit], len(items) > query.limit
        next_key = None
        if more and page:
            last = page[-1]
            next_key = position(
                {"pk": last.pk, "sk": last.sk, hash_attribute: hash_value, "list_sk": last.list_sk}
            )
        return Page([item_to_ticket(item) for item in page], next_key)

    def by_reference(self, reference: str) -> Ticket | None:
        claim = get_item(ReferenceItem, f"REFERENCE#{reference}", "REFERENCE")
        return self.get(claim.ticket_id) if claim is not None else None

    def claimable(self, queue: str, limit: int) -> list[Ticket]:
        # Read past entries the index kept from when `claim` also took escalated tickets
        # still `assigned` (their next write drops them), so they never hide newer ones.
        results = TicketItem.claimable.query(
            queue,
            filter_condition=TicketItem.status.is_in(*CLAIMABLE_STATUSES),
            page_size=limit,
        )
        return [item_to_ticket(item) for item in islice(results, limit)]

    def event(self, ticket_id: str, event_id: str) -> Event | None:
        item = get_item(EventItem, ticket_pk(ticket_id), event_sk(event_id))
        return item_to_event(item) if item is not None else None

    def append_events(self, events: list[Event]) -> None:
        for event in events:  # one already written by an earlier delivery stays as it is
            written(partial(event_to_item(event).save, condition=EventItem.pk.does_not_exist()))

    def customers_by_phone(self, key: str) -> list[str]:
        tickets = PhoneTicketItem.sk.startswith("TICKET#")
        items = PhoneTicketItem.query(phone_lookup_pk(key), tickets)
        return sorted({item.customer_id for item in items})

    def forget_phone(self, key: str, ticket_id: str) -> None:
        PhoneTicketItem(pk=phone_lookup_pk(key), sk=ticket_pk(ticket_id)).delete()

    def due_tickets(self, now: datetime, limit: int) -> list[Ticket]:
        results = TicketItem.due.query(
            DUE_PARTITION, TicketItem.due_sk <= f"{_key_time(now)}#~", limit=limit
        )
        return [item_to_ticket(item) for item in results]

    def idempotency_record(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        item = get_item(IdempotencyItem, idempotency_pk(scope, key), "IDEMPOTENCY", consistent=True)
        if item is None:
            return None
        expires_at = datetime.fromtimestamp(int(item.expires_at or 0), UTC)
        if expires_at <= now:
            return None
        return IdempotencyRecord(
            scope=scope,
            key=key,
            fingerprint=item.fingerprint,
            status=int(item.status),
            body=item.body,
            headers=item.headers.as_dict() if item.headers else {},
            expires_at=expires_at,
        )


# --- page positions: opaque to the service and the API (which signs them into cursors) ---

_EVENT_KEY = frozenset({"pk", "sk"})
_MAX_KEY_VALUE = 512


def position(key: Mapping[str, str]) -> StartKey:
    """The position after `key` (the last item read), as only this module reads it."""
    return StartKey(json.dumps(dict(key), sort_keys=True, separators=(",", ":")))


def read_position(
    start: StartKey | None, names: frozenset[str] | set[str], pk: str
) -> dict[str, dict[str, str]] | None:
    """ExclusiveStartKey of a position this module issued for the same access pattern
    (`pk`: the partition it must name, or the prefix of them ending in "#"); anything
    else is refused before it reaches DynamoDB."""
    if start is None:
        return None
    try:
        key = json.loads(start)
    except ValueError as error:
        raise UnknownPositionError() from error
    if (
        not isinstance(key, dict)
        or set(key) != set(names)
        or not all(isinstance(v, str) and 0 < len(v) <= _MAX_KEY_VALUE for v in key.values())
        or not (key["pk"].startswith(pk) if pk.endswith("#") else key["pk"] == pk)
    ):
        raise UnknownPositionError()
    return {name: {"S": value} for name, value in key.items()}


def _event_position(page: list[EventItem]) -> StartKey | None:
    return position({"pk": page[-1].pk, "sk": page[-1].sk}) if page else None


class DynamoReactionLedger(ReactionLedger):
    def __init__(self, connection: Connection, clock: Any) -> None:
        self._connection = connection
        self._clock = clock

    def apply_once(self, event_id: str, reaction: str, counters: Mapping[CounterKey, int]) -> bool:
        now = self._clock()
        marker = ReactionMarkerItem(
            pk=f"REACTION#{event_id}",
            sk=reaction,
            applied_at=now,
            expires_at=int((now + REACTION_MARKER_TTL).timestamp()),
        )
        try:
            with Transaction(self._connection) as writes:
                writes.save("marker", marker, ReactionMarkerItem.pk.does_not_exist())
                for key, increment in sorted(counters.items()):
                    writes.update(
                        f"counter:{key.family}:{key.slot}",
                        CounterItem(pk=f"COUNTER#{key.family}", sk=key.slot),
                        actions=[
                            CounterItem.total.add(increment),
                            CounterItem.item_type.set(CounterItem),
                        ],
                    )
        except Refused:
            return False  # applied already
        return True

    def release(self, event_id: str, reaction: str) -> None:
        ReactionMarkerItem(pk=f"REACTION#{event_id}", sk=reaction).delete()

    def counter(self, key: CounterKey) -> int:
        item = get_item(CounterItem, f"COUNTER#{key.family}", key.slot)
        return int(item.total) if item is not None else 0
