"""The stream handler Lambda runs, fed real stream records from moto's table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.adapters.event_bus import EventBridgeBus
from chalicelib.adapters.models import TicketItem
from chalicelib.domain.counters import CounterKey, report_day
from chalicelib.domain.events import Event
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.service.tickets import Answer, StoredResponse, act, comment, create_ticket
from local.stream_filter import template_filter
from tests.integration.streams import deliver, stream_records

REQUEST = TicketRequest(
    channel="branch",
    kind="application",
    category="loan",
    subject="Mortgage",
    description="",
    contact=None,
)


def _render(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, ticket.id)


def test_created_event_is_counted_once_even_when_redelivered(aws):
    ticket_id = create_ticket(
        bootstrap.container().ticket_ports(),
        Caller(Role.AGENT, "agent-1"),
        replace(REQUEST, customer_id="cust-7"),
        _render,
    ).body
    ticket = bootstrap.container().ticket_ports().repository.get(ticket_id)
    assert ticket is not None
    records = stream_records(aws["stream_arn"])
    assert {r["eventName"] for r in records} == {"INSERT"}

    assert deliver(records) == {"batchItemFailures": []}
    assert deliver(records) == {"batchItemFailures": []}  # at-least-once: a redelivery

    ledger = bootstrap.container().reaction_ports().ledger
    day = report_day(ticket.created_at)
    assert ledger.counter(CounterKey("created#total", day)) == 1
    assert ledger.counter(CounterKey("created#channel", f"{day}#branch")) == 1
    assert ledger.counter(CounterKey("created#kind", f"{day}#application")) == 1


def test_a_bad_record_stops_the_batch_and_the_retry_goes_on_from_it(aws):
    create_ticket(
        bootstrap.container().ticket_ports(), Caller(Role.CUSTOMER, "cust-8"), REQUEST, _render
    )
    good = stream_records(aws["stream_arn"])
    broken = {
        **good[0],
        "dynamodb": {
            **good[0]["dynamodb"],
            "SequenceNumber": "999",
            "NewImage": {"item_type": {"S": "event"}},
        },
    }
    result = deliver([broken, *good])
    # Reported with everything after it: Lambda resumes the shard from the first.
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": record["dynamodb"]["SequenceNumber"]} for record in [broken, *good]
        ]
    }
    day = report_day(bootstrap.container().clock())
    ledger = bootstrap.container().reaction_ports().ledger
    assert ledger.counter(CounterKey("created#total", day)) == 0  # nothing ran ahead of it
    assert deliver(good) == {"batchItemFailures": []}  # the retry, the bad record mended
    assert ledger.counter(CounterKey("created#total", day)) == 1


def _moto_sms() -> list[tuple[str, str]]:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    backend = sns_backends[DEFAULT_ACCOUNT_ID]["ap-east-1"]
    return [(number, text) for number, text, *_ in backend.sms_messages.values()]


def test_a_created_ticket_texts_the_customer_once_through_sns(aws):
    with_phone = replace(REQUEST, contact={"phone": "+8613812348000"})
    ticket_id = create_ticket(
        bootstrap.container().ticket_ports(), Caller(Role.CUSTOMER, "cust-9"), with_phone, _render
    ).body
    records = stream_records(aws["stream_arn"])
    deliver(records)
    deliver(records)  # redelivery
    texts = _moto_sms()
    assert len(texts) == 1
    number, text = texts[0]
    ticket = bootstrap.container().ticket_ports().repository.get(ticket_id)
    assert ticket is not None
    assert number == "+8613812348000"
    assert ticket.reference in text
    sent = [
        e
        for e in bootstrap.container().ticket_ports().repository.events(ticket_id)
        if e.type == "notification.sent"
    ]
    assert [(e.data["channel"], e.data["to"]) for e in sent] == [("sms", "+86 138****8000")]


def test_email_goes_through_ses_in_its_own_region(aws):
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    with_email = replace(REQUEST, contact={"email": "li.na@example.cn", "locale": "en-US"})
    create_ticket(
        bootstrap.container().ticket_ports(), Caller(Role.CUSTOMER, "cust-10"), with_email, _render
    )
    deliver(stream_records(aws["stream_arn"]))
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["ap-southeast-1"].sent_messages
    # Raw MIME (SendRawEmail): the recipient is the To header (SPEC 12).
    assert [message.destinations for message in sent] == [["li.na@example.cn"]]


# --- the export's ticket reads, one per ticket and batch ----------------------------------------


class GetItems:
    """The GetItem calls of the table models' own client, by key."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        key = params["Key"]
        self.keys.append((key["pk"]["S"], key["sk"]["S"]))

    def of_ticket(self, ticket_id: str) -> int:
        return self.keys.count((f"TICKET#{ticket_id}", "#TICKET"))


def _life(customer: str) -> str:
    """A ticket's events: created, assigned, started, three internal notes."""
    ports = bootstrap.container().ticket_ports()
    agent = Caller(Role.AGENT, "agent-1")
    ticket_id = create_ticket(ports, Caller(Role.CUSTOMER, customer), REQUEST, _render).body
    for action in ("assign", "start"):
        act(ports, agent, ticket_id, action, {})
    for number in range(3):
        comment(ports, agent, ticket_id, f"note {number}", True, answer=_note_answer())
    return ticket_id


def _note_answer() -> Answer[Event]:
    return Answer(lambda event: StoredResponse(201, event.id))


class DynamoCalls:
    """Every DynamoDB call moto answers (any client), by operation."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.dynamodb.responses import DynamoHandler

        self.actions: list[str] = []
        answer = DynamoHandler.call_action

        def counted(handler: Any) -> Any:
            self.actions.append(handler._get_action())
            return answer(handler)

        monkeypatch.setattr(DynamoHandler, "call_action", counted)

    def during(self, call: Callable[[], object]) -> int:
        start = len(self.actions)
        call()
        return len(self.actions) - start


def test_one_batch_reads_each_ticket_once_for_the_export(aws, monkeypatch):
    physical = aws["physical"]
    events = boto3.client("events")
    bootstrap.use(replace(bootstrap.container(), bus=EventBridgeBus(events, physical["EventBus"])))
    reads = GetItems()
    client = TicketItem._get_connection().connection.client
    client.meta.events.register("before-parameter-build.dynamodb.GetItem", reads)
    passes = template_filter()

    per_event = _life("cust-20")  # each record its own batch: a read per exported event
    records = [record for record in stream_records(aws["stream_arn"]) if passes(record)]
    assert len(records) >= 6 and all(_of(record, per_event) for record in records)
    calls = DynamoCalls(monkeypatch)
    results: list[dict[str, Any]] = []
    calls_before = calls.during(lambda: results.extend(deliver([record]) for record in records))

    batched = _life("cust-21")  # the same life in one batch
    mine = [r for r in stream_records(aws["stream_arn"]) if passes(r) and _of(r, batched)]
    calls_after = calls.during(lambda: results.append(deliver(mine)))
    assert all(result == {"batchItemFailures": []} for result in results)

    before, after = reads.of_ticket(per_event), reads.of_ticket(batched)
    assert len(mine) == len(records)
    assert before - after == len(mine) - 1, (before, after)  # the export's: one, not one per event
    assert calls_before - calls_after >= before - after
    print(
        f"{len(mine)} events of one ticket: ticket GetItems {before} a batch each, {after} in "
        f"one batch; DynamoDB calls {calls_before} and {calls_after}"
    )


def _of(record: dict[str, Any], ticket_id: str) -> bool:
    return bool(record["dynamodb"]["NewImage"]["pk"]["S"] == f"TICKET#{ticket_id}")
