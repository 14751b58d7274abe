"""Reports, audit log and privacy on the single table (SPEC section 10)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from pynamodb.connection import Connection

from chalicelib.adapters.dynamo import (
    ERASED_SK,
    TICKET_SK,
    _key_time,
    application_to_map,
    check_ticket_version,
    event_items,
    event_sk,
    expire_phone_lookup,
    position,
    read_position,
    ticket_pk,
)
from chalicelib.adapters.models import (
    AuditItem,
    ContactAttribute,
    CounterItem,
    ErasureMarkerItem,
    EventItem,
    IdempotencyItem,
    PreferencesItem,
    ReferenceItem,
    SurveyItem,
    TableItem,
    TicketItem,
)
from chalicelib.adapters.surveys import SURVEY_SK, survey_pk
from chalicelib.adapters.transactions import Transaction, storage_call, written
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.privacy import DEFAULT_RETENTION, anonymized_response, retention_expiry
from chalicelib.domain.surveys import OPEN_STATES, SurveyState
from chalicelib.domain.ticket import Ticket
from chalicelib.service.ports import (
    AuditLog,
    CounterReader,
    Page,
    PrivacyStore,
    StartKey,
    StoreThrottledError,
    VersionConflictError,
)
from chalicelib.service.retries import (
    BATCH_ATTEMPTS,
    BATCH_BACKOFF_SECONDS,
    backoff,
    one_of,
    retry,
)

_UNFINISHED_SURVEY_STATES = sorted({SurveyState.PENDING.value, *OPEN_STATES})
# A transaction holds at most 100 items; the last one also carries the ticket and its event.
_REWRITES_PER_TRANSACTION = 90


class DynamoCounterReader(CounterReader):
    def slots(self, family: str, first: str, last: str) -> list[tuple[str, int]]:
        items = CounterItem.query(f"COUNTER#{family}", CounterItem.sk.between(first, last))
        return [(item.sk, int(item.total)) for item in items]


def audit_pk(entry: AuditEntry) -> str:
    if entry.ticket_id:
        return f"AUDIT#T#{entry.ticket_id}"
    if entry.customer_id:
        return f"AUDIT#C#{entry.customer_id}"
    return f"AUDIT#A#{entry.actor.id}"


# BatchWriteItem takes at most 25 puts; what it leaves unprocessed is resent with backoff.
AUDIT_BATCH = 25


class _Unprocessed(Exception):
    """DynamoDB left some items of a batch unprocessed (capacity): resent."""


def _audit_item(entry: AuditEntry, expires_at: int) -> AuditItem:
    return AuditItem(
        pk=audit_pk(entry),
        sk=f"{_key_time(entry.at)}#{entry.id}",
        at=entry.at,
        actor_role=entry.actor.role.value,
        audit_actor=entry.actor.id,
        action=entry.action,
        ticket_id=entry.ticket_id,
        customer_id=entry.customer_id,
        list_query=dict(entry.query) if entry.query else None,
        inbox_id=entry.inbox_id,
        expires_at=expires_at,
    )


class DynamoAuditLog(AuditLog):
    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def record(self, entry: AuditEntry, expires_at: int) -> None:
        _audit_item(entry, expires_at).save()

    def record_many(self, entries: list[AuditEntry], expires_at: int) -> None:
        items = [_audit_item(entry, expires_at).serialize() for entry in entries]
        for start in range(0, len(items), AUDIT_BATCH):
            self._write_batch(items[start : start + AUDIT_BATCH])

    def _write_batch(self, items: list[dict[str, Any]]) -> None:
        # The model's own (cached) connection: PynamoDB has no public call that sends one
        # BatchWriteItem and returns what DynamoDB left unprocessed. Model.batch_write()
        # resends those itself (Meta.max_retry_attempts times, no backoff, then a PutError
        # with no error code), and a Connection of our own knows no schema for the table.
        connection = AuditItem._get_connection()

        def send() -> None:
            nonlocal items
            with storage_call():  # a refusal of the whole call: the ports' error, at once
                result = connection.batch_write_item(put_items=items)
            unprocessed = result.get("UnprocessedItems", {}).get(AuditItem.Meta.table_name, [])
            items = [request["PutRequest"]["Item"] for request in unprocessed]
            if items:
                raise _Unprocessed()

        retry(
            send,
            attempts=BATCH_ATTEMPTS,
            when=one_of(_Unprocessed),
            given_up=lambda _: StoreThrottledError(),
            pause=backoff(self._sleep, BATCH_BACKOFF_SECONDS),
        )

    def page(self, by: str, value: str, limit: int, start_key: StartKey | None) -> Page[AuditEntry]:
        names = {"pk", "sk"} if by == "ticket" else {"pk", "sk", "audit_actor"}
        options: dict[str, Any] = {
            "scan_index_forward": False,
            "limit": limit + 1,
            "last_evaluated_key": read_position(start_key, names, "AUDIT#"),
        }
        if by == "ticket":
            results = AuditItem.query(f"AUDIT#T#{value}", **options)
        else:
            results = AuditItem.by_actor.query(value, **options)
        items = list(results)
        page, more = items[:limit], len(items) > limit
        next_key = None
        if more and page:
            last = page[-1]
            key = {"pk": last.pk, "sk": last.sk}
            if by != "ticket":
                key["audit_actor"] = last.audit_actor
            next_key = position(key)
        return Page([_entry(item) for item in page], next_key)


def _entry(item: AuditItem) -> AuditEntry:
    return AuditEntry(
        id=item.sk.rpartition("#")[2],
        at=item.at,
        actor=Caller(Role(item.actor_role), item.audit_actor),
        action=item.action,
        ticket_id=item.ticket_id,
        customer_id=item.customer_id,
        query=item.list_query.as_dict() if item.list_query else None,
        inbox_id=item.inbox_id,
    )


class DynamoPrivacyStore(PrivacyStore):
    def __init__(self, connection: Connection, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._connection = connection
        self._retention = retention  # how long the erasure marker is kept

    def anonymize_ticket(
        self, expected_version: int, changed: Ticket, rewritten: list[Event], added: list[Event]
    ) -> None:
        # Event rewrites and blanked stored responses (kept: a retry must not book twice),
        # 90 a transaction; the last also carries the ticket and its new event. Each is
        # the same when written again, so an erasure cut short finishes when repeated.
        rewrites: list[_Rewrite] = [partial(_rewrite_event, event=event) for event in rewritten]
        rewrites += [
            partial(_blank_stored_response, stored=stored)
            for stored in self._stored_responses(changed.id)
        ]
        early, last = _split(rewrites)
        for chunk in early:  # only tickets with a very long timeline or many stored responses
            with Transaction(self._connection) as writes:
                _apply(writes, chunk)
        refusals = {"ticket": lambda: VersionConflictError(changed.id)}
        with Transaction(self._connection, refusals) as writes:
            writes.update(
                "ticket",
                TicketItem(pk=ticket_pk(changed.id), sk=TICKET_SK, version=expected_version),
                actions=_anonymized_ticket_actions(changed),
                condition=TicketItem.pk.exists(),
            )
            writes.save("erased", _erasure_marker(changed, self._retention))
            _apply(writes, last)
            writes.events(event_items(added, None))

    def anonymize_records(
        self, ticket_id: str, expected_version: int, rewritten: list[Event]
    ) -> None:
        early, last = _split([partial(_rewrite_event, event=event) for event in rewritten])
        for chunk in early:
            with Transaction(self._connection) as writes:
                _apply(writes, chunk)
        refusals = {"ticket": lambda: VersionConflictError(ticket_id)}
        with Transaction(self._connection, refusals) as writes:
            check_ticket_version(writes, ticket_id, expected_version)
            _apply(writes, last)

    @staticmethod
    def _stored_responses(ticket_id: str) -> list[IdempotencyItem]:
        """The responses kept for retries of this ticket's writes (24 h), found through
        the events that carry their key; expired ones are gone already."""
        items = EventItem.query(ticket_pk(ticket_id), EventItem.sk.startswith("EVENT#"))
        keys = sorted({item.idempotency_pk for item in items if item.idempotency_pk})
        found = []
        for pk in keys:
            try:
                found.append(IdempotencyItem.get(pk, "IDEMPOTENCY", consistent_read=True))
            except IdempotencyItem.DoesNotExist:
                continue
        return found

    def forget_preferences(self, customer_id: str) -> bool:
        return written(
            lambda: PreferencesItem(pk=f"CUSTOMER#{customer_id}", sk="PREFERENCES").delete(
                condition=PreferencesItem.pk.exists()
            )
        )

    def forget_survey_comment(self, survey_id: str) -> None:
        survey = SurveyItem(pk=survey_pk(survey_id), sk=SURVEY_SK)
        written(  # a survey already gone has no comment left to forget
            lambda: survey.update(
                actions=[SurveyItem.comment.remove()], condition=SurveyItem.pk.exists()
            )
        )
        # One still waiting ends as on a reopen (its links answer as expired; the
        # workflow's next step finds it withdrawn and stops): no answer after the erasure.
        written(
            lambda: survey.update(
                actions=[SurveyItem.survey_state.set(SurveyState.WITHDRAWN.value)],
                condition=SurveyItem.survey_state.is_in(*_UNFINISHED_SURVEY_STATES),
            )
        )

    def expire_event(self, event: Event, expires_at: int) -> None:
        written(
            lambda: EventItem(pk=ticket_pk(event.ticket_id), sk=event_sk(event.id)).update(
                actions=[EventItem.expires_at.set(expires_at)],
                condition=EventItem.pk.exists(),
            )
        )

    def expire_ticket_records(self, ticket_id: str, expires_at: int) -> None:
        for item in TableItem.query(ticket_pk(ticket_id), TableItem.sk < "F"):
            if isinstance(item, EventItem):
                EventItem(pk=item.pk, sk=item.sk).update(
                    actions=[EventItem.expires_at.set(expires_at)]
                )
            elif isinstance(item, TicketItem):
                ReferenceItem(pk=f"REFERENCE#{item.reference}", sk="REFERENCE").update(
                    actions=[ReferenceItem.expires_at.set(expires_at)]
                )
                expire_phone_lookup(item.contact.phone, item.ticket_id, expires_at)


def _erasure_marker(changed: Ticket, retention: timedelta) -> ErasureMarkerItem:
    """What a notification's outcome checks (adapters/notifications.py), written with
    the anonymized ticket. Kept the retention from the erasure: the ticket, closed before
    it, expires no later, and an outcome that may name the customer is written only by a
    run that read the ticket still there, within that run (at most 15 minutes)."""
    expires_at = retention_expiry(changed.updated_at, retention)  # updated_at: the erasure
    return ErasureMarkerItem(pk=ticket_pk(changed.id), sk=ERASED_SK, expires_at=expires_at)


_Rewrite = Callable[[Transaction], None]


def _split(rewrites: list[_Rewrite]) -> tuple[list[list[_Rewrite]], list[_Rewrite]]:
    chunks = [
        rewrites[start : start + _REWRITES_PER_TRANSACTION]
        for start in range(0, len(rewrites), _REWRITES_PER_TRANSACTION)
    ] or [[]]
    return chunks[:-1], chunks[-1]


def _apply(writes: Transaction, rewrites: list[_Rewrite]) -> None:
    for rewrite in rewrites:
        rewrite(writes)


def _rewrite_event(writes: Transaction, event: Event) -> None:
    writes.update(
        f"rewrite:{event.id}",
        EventItem(pk=ticket_pk(event.ticket_id), sk=event_sk(event.id)),
        actions=[EventItem.data.set(event.data)],
        condition=EventItem.pk.exists(),
    )


def _blank_stored_response(writes: Transaction, stored: IdempotencyItem) -> None:
    writes.update(
        f"stored:{stored.pk}",
        IdempotencyItem(pk=stored.pk, sk="IDEMPOTENCY"),
        actions=[IdempotencyItem.body.set(anonymized_response(stored.body))],
        condition=IdempotencyItem.pk.exists(),
    )


def _anonymized_ticket_actions(changed: Ticket) -> list[Any]:
    contact = changed.contact
    return [
        TicketItem.subject.set(changed.subject),
        TicketItem.description.set(changed.description),
        TicketItem.contact.set(
            ContactAttribute(preferred=contact.preferred, locale=contact.locale)
        ),
        TicketItem.updated_at.set(changed.updated_at),
        # The contact email's hash in the lookup index still named the customer as its
        # sender's (an email from that address was told as a customer's).
        TicketItem.lookup_pk.remove(),
        TicketItem.lookup_sk.remove(),
        *_anonymized_application(changed),
    ]


def _anonymized_application(changed: Ticket) -> list[Any]:
    plain = application_to_map(changed.application)
    return [] if plain is None else [TicketItem.application.set(plain)]
