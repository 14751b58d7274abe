"""The triage inbox and email threads on the single table (SPEC section 12).

Keys (docs/data-model.md): inbox items `INBOX#<id>`/`INBOX`, listed per status through the
sparse `lookup` index (`INBOX#<status>`, `<received at>#<id>`, newest first); desk emails
`MAILSENT#<SES message id>`/`MAIL`; the customer's last Message-ID on a ticket
`MAILTHREAD#<ticket>`/`THREAD`; receipts of stored messages taken `MAILIN#<sha256>`/`RECEIPT`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo import (
    TICKET_SK,
    contact_email_key,
    event_items,
    position,
    read_position,
    ticket_pk,
    ticket_to_item,
    write_new_ticket,
)
from chalicelib.adapters.mapping import StoredFields
from chalicelib.adapters.models import (
    InboxRecord,
    MailReceiptItem,
    MailSentItem,
    MailThreadItem,
    TicketItem,
    get_item,
)
from chalicelib.adapters.transactions import Refusal, Transaction, written
from chalicelib.domain.events import Event
from chalicelib.domain.inbox import (
    Channel,
    InboxAttachment,
    InboxItem,
    InboxStatus,
    TriageReason,
)
from chalicelib.domain.privacy import DEFAULT_RETENTION, ERASED
from chalicelib.domain.ticket import Ticket
from chalicelib.logs import logger
from chalicelib.service.ports import (
    Clock,
    InboxItemChangedError,
    InboxStore,
    MailThreads,
    Page,
    ReferenceTakenError,
    StartKey,
    TicketChange,
    VersionConflictError,
)
from chalicelib.service.privacy import InboxErasure, RawMailStore

INBOX_TTL = timedelta(days=180)  # an item (its sender and text) is kept this long
MAIL_SENT_TTL = timedelta(days=365)  # a reply to a desk email older than this is triaged
RECEIPT_TTL = timedelta(days=30)  # longer than any redelivery (SQS keeps 14 days at most)
_MAX_REFERENCES = 20


def _key_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inbox_pk(item_id: str) -> str:
    return f"INBOX#{item_id}"


# How the record stores an InboxItem: `id` renamed, the fields below converted, every
# other field under its own name as it is.
_INBOX = StoredFields(
    InboxItem,
    InboxRecord,
    converted=("channel", "status", "reason", "attachments", "notes", "version"),
    renamed={"id": "item_id"},
)


def inbox_item_to_record(item: InboxItem) -> InboxRecord:
    return InboxRecord(
        pk=inbox_pk(item.id),
        sk="INBOX",
        **_INBOX.item_values(item),
        channel=item.channel.value,
        status=item.status.value,
        reason=item.reason.value,
        attachments=_attachments_text(item.attachments),
        notes=json.dumps(list(item.notes)),
        item_version=item.version,
        lookup_pk=f"INBOX#{item.status.value}",
        lookup_sk=f"{_key_time(item.received_at)}#{item.id}",
        expires_at=int((item.received_at + INBOX_TTL).timestamp()),
    )


def record_to_inbox_item(record: InboxRecord) -> InboxItem:
    return InboxItem(
        **_INBOX.struct_values(record),
        channel=Channel(record.channel),
        status=InboxStatus(record.status),
        reason=TriageReason(record.reason),
        attachments=_attachments(record.attachments),
        notes=tuple(json.loads(record.notes or "[]")),
        version=int(record.item_version or 1),
    )


def _attachments_text(attachments: tuple[InboxAttachment, ...]) -> str:
    """JSON metadata of the attachments; `location` only where there is one."""
    entries = [
        {"filename": a.filename, "content_type": a.content_type, "size": a.size}
        | ({"location": a.location} if a.location else {})
        for a in attachments
    ]
    return json.dumps(entries, ensure_ascii=False)


def _attachments(text: str | None) -> tuple[InboxAttachment, ...]:
    return tuple(
        InboxAttachment(
            str(a.get("filename", "")),
            str(a.get("content_type", "")),
            int(a.get("size", 0)),
            a.get("location"),
        )
        for a in json.loads(text or "[]")
    )


def _write_change(writes: Transaction, change: TicketChange, retention: timedelta) -> None:
    """The ticket written at its expected version, or only checked when unchanged."""
    ticket = change.ticket
    if ticket.version == change.expected_version:
        writes.condition_check(
            "ticket",
            TicketItem,
            ticket_pk(ticket.id),
            TICKET_SK,
            TicketItem.version == change.expected_version,
        )
        return
    item = ticket_to_item(ticket, on_disk=change.expected_version, retention=retention)
    writes.save("ticket", item)


class DynamoInboxStore(InboxStore):
    def __init__(self, connection: Connection, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._connection = connection
        self._retention = retention

    def put(self, item: InboxItem) -> bool:
        record = inbox_item_to_record(item)
        return written(lambda: record.save(condition=InboxRecord.pk.does_not_exist()))

    def get(self, item_id: str) -> InboxItem | None:
        try:
            return record_to_inbox_item(
                InboxRecord.get(inbox_pk(item_id), "INBOX", consistent_read=True)
            )
        except InboxRecord.DoesNotExist:
            return None

    def page(self, status: str, limit: int, start_key: StartKey | None) -> Page[InboxItem]:
        hash_value = f"INBOX#{status}"
        results = InboxRecord.lookup.query(
            hash_value,
            scan_index_forward=False,
            limit=limit + 1,
            last_evaluated_key=read_position(
                start_key, {"pk", "sk", "lookup_pk", "lookup_sk"}, "INBOX#"
            ),
        )
        records = list(results)
        shown, more = records[:limit], len(records) > limit
        next_key = None
        if more and shown:
            last = shown[-1]
            next_key = position(
                {"pk": last.pk, "sk": last.sk, "lookup_pk": hash_value, "lookup_sk": last.lookup_sk}
            )
        return Page([record_to_inbox_item(record) for record in shown], next_key)

    def settle(
        self,
        handled: InboxItem,
        expected_version: int,
        *,
        new_ticket: Ticket | None = None,
        change: TicketChange | None = None,
        events: list[Event] | None = None,
    ) -> None:
        refusals: dict[str, Refusal] = {
            "inbox": lambda: InboxItemChangedError(handled.id),
            "ticket": lambda: VersionConflictError(change.ticket.id if change else ""),
            "reference": lambda: ReferenceTakenError(new_ticket.reference if new_ticket else ""),
        }
        with Transaction(self._connection, refusals) as writes:
            writes.save(
                "inbox", inbox_item_to_record(handled), InboxRecord.item_version == expected_version
            )
            if new_ticket is not None:
                write_new_ticket(writes, new_ticket, events or [], None, self._retention)
            elif change is not None:
                _write_change(writes, change, self._retention)
                writes.events(event_items(events or [], None))


class DynamoMailThreads(MailThreads):
    def __init__(
        self, connection: Connection, clock: Clock, retention: timedelta = DEFAULT_RETENTION
    ) -> None:
        self._connection = connection
        self._clock = clock  # stamps the expiry of what is kept without a caller's time
        self._retention = retention

    def remember_sent(self, ses_message_id: str, ticket_id: str, at: datetime) -> None:
        item = MailSentItem(
            pk=f"MAILSENT#{ses_message_id}",
            sk="MAIL",
            ticket_id=ticket_id,
            expires_at=int((at + MAIL_SENT_TTL).timestamp()),
        )
        try:
            item.save()
        except PynamoDBException:
            # The email went out; only threading by In-Reply-To is lost (the reply token
            # still names the ticket). Not worth failing the notification for.
            logger.warning("desk email id not recorded", extra={"ticket_id": ticket_id})

    def ticket_of_sent(self, ses_message_ids: tuple[str, ...]) -> str | None:
        for message_id in ses_message_ids[:_MAX_REFERENCES]:
            try:
                return str(MailSentItem.get(f"MAILSENT#{message_id}", "MAIL").ticket_id)
            except MailSentItem.DoesNotExist:
                continue
        return None

    def thread(self, ticket_id: str) -> tuple[str, tuple[str, ...]] | None:
        try:
            item = MailThreadItem.get(f"MAILTHREAD#{ticket_id}", "THREAD")
        except MailThreadItem.DoesNotExist:
            return None
        except PynamoDBException:
            # Threading headers are a courtesy to mail clients: send without them.
            logger.warning("mail thread not read", extra={"ticket_id": ticket_id})
            return None
        return item.message_id, tuple(json.loads(item.references or "[]"))

    def remember_received(
        self, ticket_id: str, message_id: str, references: tuple[str, ...]
    ) -> None:
        # References for the desk's answer: the customer's, oldest first, then theirs.
        chain = [*reversed(references[:_MAX_REFERENCES]), message_id]
        MailThreadItem(
            pk=f"MAILTHREAD#{ticket_id}",
            sk="THREAD",
            message_id=message_id,
            references=json.dumps(list(dict.fromkeys(chain))[-_MAX_REFERENCES:-1]),
            expires_at=int((self._clock() + MAIL_SENT_TTL).timestamp()),
        ).save()

    def customer_of_sender(self, address: str) -> str | None:
        results = TicketItem.lookup.query(
            contact_email_key(address), scan_index_forward=False, limit=1
        )
        for item in results:
            return str(item.customer_id)
        return None

    def _receipt(self, receipt: str, ticket_id: str) -> MailReceiptItem:
        expires = self._clock() + RECEIPT_TTL
        return MailReceiptItem(
            pk=f"MAILIN#{receipt}",
            sk="RECEIPT",
            ticket_id=ticket_id,
            expires_at=int(expires.timestamp()),
        )

    def receive(
        self,
        receipt: str,
        *,
        ticket_id: str,
        expected_version: int,
        changed: Ticket | None,
        events: list[Event],
    ) -> bool:
        refusals: dict[str, Refusal] = {
            "receipt": _AlreadyTaken,
            "ticket": lambda: VersionConflictError(ticket_id),
        }
        try:
            with Transaction(self._connection, refusals) as writes:
                writes.save(
                    "receipt",
                    self._receipt(receipt, ticket_id),
                    MailReceiptItem.pk.does_not_exist(),
                )
                if changed is None:
                    writes.condition_check(
                        "ticket",
                        TicketItem,
                        ticket_pk(ticket_id),
                        TICKET_SK,
                        TicketItem.version == expected_version,
                    )
                else:
                    item = ticket_to_item(
                        changed, on_disk=expected_version, retention=self._retention
                    )
                    writes.save("ticket", item)
                writes.events(event_items(events, None))
        except _AlreadyTaken:
            return False
        return True

    def receive_new(self, receipt: str, *, ticket: Ticket, events: list[Event]) -> bool:
        refusals: dict[str, Refusal] = {
            "receipt": _AlreadyTaken,
            "reference": lambda: ReferenceTakenError(ticket.reference),
        }
        try:
            with Transaction(self._connection, refusals) as writes:
                writes.save(
                    "receipt",
                    self._receipt(receipt, ticket.id),
                    MailReceiptItem.pk.does_not_exist(),
                )
                write_new_ticket(writes, ticket, events, None, self._retention)
        except _AlreadyTaken:
            return False
        return True

    def taken_by(self, receipt: str) -> str | None:
        item = get_item(MailReceiptItem, f"MAILIN#{receipt}", "RECEIPT", consistent=True)
        return str(item.ticket_id) if item is not None else None


class _AlreadyTaken(Exception):
    """The receipt exists: this stored message was already taken."""


class DynamoInboxErasure(InboxErasure):
    """Erasure (SPEC 10) of what email and SMS in keep on the table about a ticket."""

    def forget_item(self, item_id: str) -> str | None:
        try:
            record = InboxRecord.get(inbox_pk(item_id), "INBOX", consistent_read=True)
        except InboxRecord.DoesNotExist:
            return None
        attachments = [
            {**entry, "filename": ERASED} for entry in json.loads(record.attachments or "[]")
        ]
        record.update(
            actions=[
                InboxRecord.sender.set(""),
                InboxRecord.subject.set(ERASED if record.subject else ""),
                InboxRecord.text.set(ERASED),
                InboxRecord.attachments.set(json.dumps(attachments)),
                InboxRecord.message_id.remove(),
                InboxRecord.discard_reason.remove(),
            ]
        )
        return str(record.source) if record.source else None

    def forget_thread(self, ticket_id: str) -> None:
        MailThreadItem(pk=f"MAILTHREAD#{ticket_id}", sk="THREAD").delete()


class S3RawMailStore(RawMailStore):
    """The inbound bucket (its `inbound/` prefix: SES's receipt rule stores there)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)  # gone already: no error
