"""The ticket repository and reaction ledger on the single DynamoDB table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.models import (
    ContactAttribute,
    CounterItem,
    EventItem,
    ReactionMarkerItem,
    ReferenceItem,
    SlaAttribute,
    TableItem,
    TicketItem,
)
from chalicelib.domain.contact import Contact
from chalicelib.domain.counters import CounterKey
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import OPEN_STATUSES, PRIORITY_RANK, Sla, Ticket
from chalicelib.service.ports import ReactionLedger, ReferenceTakenError, TicketRepository

TICKET_SK = "TICKET"
REACTION_MARKER_TTL = timedelta(days=7)  # longer than the stream's 24 h retention


def ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def event_sk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def _key_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ticket_to_item(ticket: Ticket, *, new: bool) -> TicketItem:
    """The item for a ticket; for an existing one its version guards the write."""
    list_sk = f"{_key_time(ticket.created_at)}#{ticket.id}"
    item = TicketItem(
        pk=ticket_pk(ticket.id),
        sk=TICKET_SK,
        ticket_id=ticket.id,
        reference=ticket.reference,
        customer_id=ticket.customer_id,
        channel=ticket.channel,
        kind=ticket.kind,
        category=ticket.category,
        subject=ticket.subject,
        description=ticket.description,
        priority=ticket.priority,
        status=ticket.status,
        tier=ticket.tier,
        queue=ticket.queue,
        assignee=ticket.assignee,
        parent_id=ticket.parent_id,
        contact=ContactAttribute(**vars(ticket.contact)),
        sla=_sla_attribute(ticket.sla),
        appointment=ticket.appointment,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        received_at=ticket.received_at,
        list_sk=list_sk,
        customer_key=f"CUSTOMER#{ticket.customer_id}",
        customer_status_key=f"CUSTOMER#{ticket.customer_id}#{ticket.status}",
        queue_key=f"QUEUE#{ticket.queue}",
        queue_status_key=f"QUEUE#{ticket.queue}#{ticket.status}",
    )
    if not new:
        item.version = ticket.version
    _set_sparse_keys(item, ticket, list_sk)
    return item


def _set_sparse_keys(item: TicketItem, ticket: Ticket, list_sk: str) -> None:
    if ticket.assignee:
        item.assignee_key = f"ASSIGNEE#{ticket.assignee}"
        item.assignee_status_key = f"ASSIGNEE#{ticket.assignee}#{ticket.status}"
    if ticket.status == "new" and not ticket.assignee:
        item.claim_pk = f"CLAIM#{ticket.queue}"
        item.claim_sk = f"{PRIORITY_RANK[ticket.priority]}#{list_sk}"
    next_due = _next_due(ticket)
    if next_due is not None:
        item.due_pk = "DUE"
        item.due_sk = f"{_key_time(next_due)}#{ticket.id}"


def _next_due(ticket: Ticket) -> datetime | None:
    if ticket.status not in OPEN_STATUSES or ticket.sla.paused:
        return None
    pending = []
    if ticket.sla.first_responded_at is None and "first_response" not in ticket.sla.breaches:
        pending.append(ticket.sla.first_response_due)
    if "resolution" not in ticket.sla.breaches:
        pending.append(ticket.sla.resolution_due)
    return min((due for due in pending if due is not None), default=None)


def _sla_attribute(sla: Sla) -> SlaAttribute:
    return SlaAttribute(
        first_response_due=sla.first_response_due,
        resolution_due=sla.resolution_due,
        first_responded_at=sla.first_responded_at,
        breaches=set(sla.breaches) or None,
        paused=int(sla.paused),
    )


def item_to_ticket(item: TicketItem) -> Ticket:
    sla = item.sla
    return Ticket(
        id=item.ticket_id,
        reference=item.reference,
        customer_id=item.customer_id,
        channel=item.channel,
        kind=item.kind,
        category=item.category,
        subject=item.subject,
        description=item.description,
        priority=item.priority,
        status=item.status,
        tier=int(item.tier),
        queue=item.queue,
        assignee=item.assignee,
        parent_id=item.parent_id,
        contact=Contact(
            phone=item.contact.phone,
            email=item.contact.email,
            preferred=item.contact.preferred,
            locale=item.contact.locale,
        ),
        sla=Sla(
            first_response_due=sla.first_response_due,
            resolution_due=sla.resolution_due,
            first_responded_at=sla.first_responded_at,
            breaches=tuple(sorted(sla.breaches or ())),
            paused=bool(sla.paused),
        ),
        appointment=item.appointment.as_dict() if item.appointment else None,
        created_at=item.created_at,
        updated_at=item.updated_at,
        received_at=item.received_at,
        version=int(item.version or 1),
    )


def event_to_item(event: Event) -> EventItem:
    return EventItem(
        pk=ticket_pk(event.ticket_id),
        sk=event_sk(event.id),
        event_id=event.id,
        ticket_id=event.ticket_id,
        event_type=event.type,
        at=event.at,
        actor_role=event.actor.role.value,
        actor_id=event.actor.id,
        data=event.data,
    )


def item_to_event(item: EventItem) -> Event:
    data: dict[str, Any] = item.data.as_dict() if item.data else {}
    return Event(
        id=item.event_id,
        ticket_id=item.ticket_id,
        type=item.event_type,
        at=item.at,
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


class DynamoTicketRepository(TicketRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def create(self, ticket: Ticket, event: Event) -> None:
        reference = ReferenceItem(
            pk=f"REFERENCE#{ticket.reference}", sk="REFERENCE", ticket_id=ticket.id
        )
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(
                    ticket_to_item(ticket, new=True), condition=TicketItem.pk.does_not_exist()
                )
                transaction.save(reference, condition=ReferenceItem.pk.does_not_exist())
                transaction.save(event_to_item(event), condition=EventItem.pk.does_not_exist())
        except TransactWriteError as error:
            if _failed_check(error, index=1):
                raise ReferenceTakenError(ticket.reference) from error
            raise

    def get(self, ticket_id: str) -> Ticket | None:
        try:
            item = TicketItem.get(ticket_pk(ticket_id), TICKET_SK)
        except TicketItem.DoesNotExist:
            return None
        return item_to_ticket(item)

    def events(self, ticket_id: str) -> list[Event]:
        items = EventItem.query(ticket_pk(ticket_id), EventItem.sk.startswith("EVENT#"))
        return [item_to_event(item) for item in items]


def _failed_check(error: TransactWriteError, index: int) -> bool:
    reasons = error.cancellation_reasons or []
    reason = reasons[index] if index < len(reasons) else None
    return reason is not None and reason.code == "ConditionalCheckFailed"


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
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(marker, condition=ReactionMarkerItem.pk.does_not_exist())
                for key, increment in sorted(counters.items()):
                    transaction.update(
                        CounterItem(pk=f"COUNTER#{key.family}", sk=key.slot),
                        actions=[
                            CounterItem.total.add(increment),
                            CounterItem.item_type.set(CounterItem),
                        ],
                    )
        except TransactWriteError as error:
            if _failed_check(error, index=0):
                return False
            raise
        return True

    def counter(self, key: CounterKey) -> int:
        try:
            item = CounterItem.get(f"COUNTER#{key.family}", key.slot)
        except CounterItem.DoesNotExist:
            return 0
        return int(item.total)
