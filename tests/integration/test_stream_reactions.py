"""The stream handler Lambda runs, fed real stream records from moto's table."""

from __future__ import annotations

from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.domain.counters import CounterKey, report_day
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.ticket import Ticket, TicketRequest
from chalicelib.service.tickets import StoredResponse, create_ticket
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


def test_a_bad_record_is_reported_and_does_not_block_the_others(aws):
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
    assert result == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    day = report_day(bootstrap.container().clock())
    assert (
        bootstrap.container().reaction_ports().ledger.counter(CounterKey("created#total", day)) == 1
    )


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
