"""Erasure on moto: what an erased customer's records still hold, read off the
whole table (a Scan is fine in a test: it proves what no request path could show)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import contact_email_key
from chalicelib.adapters.models import SurveyItem
from chalicelib.adapters.surveys import SURVEY_SK, survey_pk
from chalicelib.domain.errors import SurveyClosedError
from chalicelib.domain.events import Event, NotificationSent
from chalicelib.domain.identity import SYSTEM, Caller, Role
from chalicelib.domain.privacy import ERASED, anonymized_event
from chalicelib.domain.surveys import Answer as SurveyAnswer
from chalicelib.domain.surveys import Survey, SurveyState, survey_id
from chalicelib.domain.ticket import Ticket, TicketRequest, ticket_view
from chalicelib.service.ports import VersionConflictError
from chalicelib.service.privacy import erase_customer
from chalicelib.service.surveys import SurveyView, answer_survey
from chalicelib.service.tickets import (
    Answer,
    IdempotencyKey,
    StoredResponse,
    act,
    comment,
    create_ticket,
)
from tests.integration.repository_support import table_items

CUSTOMER = Caller(Role.CUSTOMER, "cust-edges")
AGENT = Caller(Role.AGENT, "agent-7")
SUPERVISOR = Caller(Role.SUPERVISOR, "sup-1")
AUDITOR = Caller(Role.AUDITOR, "aud-1")
PHONE, EMAIL = "+8613812348000", "li.na@example.com"


def _created(ticket: Ticket) -> StoredResponse:
    return StoredResponse(201, json.dumps(ticket_view(ticket, CUSTOMER), ensure_ascii=False))


def _open(request: TicketRequest, key: str = "k-open") -> Ticket:
    scope = IdempotencyKey(f"customer:{CUSTOMER.id}:POST /v1/tickets", key, "fp")
    ports = bootstrap.container().ticket_ports()
    body = json.loads(create_ticket(ports, CUSTOMER, request, _created, scope).body)
    ticket = ports.repository.get(body["id"])
    assert ticket is not None
    return ticket


def _request(**changes: Any) -> TicketRequest:
    fields: dict[str, Any] = {
        "channel": "web",
        "kind": "consultation",
        "category": "card",
        "subject": "Card blocked",
        "description": "",
        "contact": {"phone": PHONE, "email": EMAIL},
        **changes,
    }
    return TicketRequest(**fields)


def _cancel(ticket_id: str) -> None:
    act(bootstrap.container().ticket_ports(), CUSTOMER, ticket_id, "cancel", {})


def test_erasure_blanks_the_application_form_kept_in_a_stored_response(aws):
    # The ticket's form was emptied, but the 201 kept for the create's Idempotency-Key
    # still held the customer's new address, and a retry returned it.
    address_change = bootstrap.container().applications.catalogue.get("address-change")
    form = {"new_address": "Flat 12B, 88 Century Avenue, Pudong"}
    ticket = _open(
        _request(kind="application", category="account", application_type=address_change, form=form)
    )
    _cancel(ticket.id)

    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)

    everything = repr(table_items(aws["table_name"]))
    assert "Century Avenue" not in everything
    [stored] = [
        i for i in table_items(aws["table_name"]) if str(i["pk"]).startswith("IDEMPOTENCY#")
    ]
    replay = json.loads(str(stored["body"]))
    assert replay["id"] == ticket.id  # a retry still gets the same ticket
    assert replay["application"]["form"] == {}  # as the erased ticket shows it


def test_erasure_unlinks_the_contact_email_from_the_customer(aws):
    # The ticket kept `lookup_pk` EMAIL#<sha256(address)> in the lookup index: the desk
    # still told the erased customer's address as a customer's (an email from it was
    # triaged `no_reference`, never `unknown_sender`), and the hash named the customer.
    ticket = _open(_request())
    _cancel(ticket.id)
    threads = bootstrap.container().mail_threads
    assert threads.customer_of_sender(EMAIL) == CUSTOMER.id

    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)

    assert threads.customer_of_sender(EMAIL) is None
    assert contact_email_key(EMAIL) not in repr(table_items(aws["table_name"]))


def test_erasure_of_a_ticket_with_many_stored_responses_fits_its_transactions(aws):
    # Each comment sent with an Idempotency-Key keeps a response for 24 h; the last
    # transaction carried every stored response besides up to 90 event rewrites, over
    # DynamoDB's 100 items: the erasure failed every time, the ticket stayed unerased.
    ticket = _open(_request(subject="Jane Doe's card"))
    ports = bootstrap.container().ticket_ports()
    for n in range(50):
        key = IdempotencyKey(f"customer:{CUSTOMER.id}:POST comment", f"c-{n}", "fp")
        render = lambda event: StoredResponse(201, json.dumps({"body": "Jane here"}))  # noqa: E731
        comment(ports, CUSTOMER, ticket.id, f"Jane here, {n}", False, answer=Answer(render, key))
    _cancel(ticket.id)

    erasure = erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)

    assert erasure.anonymized_now == 1
    everything = repr(table_items(aws["table_name"]))
    assert "Jane" not in everything
    stored = [i for i in table_items(aws["table_name"]) if str(i["pk"]).startswith("IDEMPOTENCY#")]
    assert len(stored) == 51
    assert all(ERASED in str(i["body"]) for i in stored)


def _invited_survey(ticket: Ticket) -> Survey:
    """A survey waiting for the customer's answer, as the workflow's Invite leaves it."""
    store = bootstrap.container().survey_store
    name = survey_id(ticket.id, 1)
    at = ticket.updated_at
    assert store.create(Survey(name, ticket.id, CUSTOMER.id, 1, SurveyState.PENDING, "en-US", at))
    SurveyItem(pk=survey_pk(name), sk=SURVEY_SK).update(
        actions=[SurveyItem.survey_state.set(SurveyState.INVITED.value)]
    )
    survey = store.get(name)
    assert survey is not None
    return survey


def test_a_survey_still_open_at_the_erasure_takes_no_answer_afterwards(aws):
    # A supervisor closed the resolved ticket while its survey waited; after the
    # erasure the link still took an answer: its comment went onto the survey record
    # and a `survey.answered` event of the anonymized ticket, which no erasure reaches
    # again (the ticket is anonymized already).
    ticket = _open(_request())
    ports = bootstrap.container().ticket_ports()
    for action, params in (("assign", {}), ("start", {}), ("resolve", {"resolution": "done"})):
        act(ports, AGENT, ticket.id, action, params)
    act(ports, SUPERVISOR, ticket.id, "close", {})
    survey = _invited_survey(ticket)

    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, CUSTOMER.id)

    answering = bootstrap.container().survey_ports(workflow=False)
    with pytest.raises(SurveyClosedError):
        answer_survey(answering, SurveyView(survey, ERASED), SurveyAnswer(2, "Li Na, 5 Oak Rd"))
    assert "Oak Rd" not in repr(table_items(aws["table_name"]))
    withdrawn = bootstrap.container().survey_store.get(survey.id)
    assert withdrawn is not None and withdrawn.state is SurveyState.WITHDRAWN


def test_late_records_are_rewritten_with_the_ticket_checked_not_written(aws):
    # The erasure's second pass (records written while it ran) changes only events: the
    # ticket keeps its version, and a ticket moved meanwhile makes it read again.
    ticket = _open(_request(), key="k-late")
    late = Event.of(
        "E-late",
        ticket.id,
        ticket.created_at,
        SYSTEM,
        NotificationSent(source_event="E-x", channel="sms", template="t", to="+86 138****8000"),
    )
    repository = bootstrap.container().repository
    repository.append_events([late])
    store = bootstrap.container().privacy_store
    rewritten = anonymized_event(late)
    assert rewritten is not None
    with pytest.raises(VersionConflictError):
        store.anonymize_records(ticket.id, ticket.version + 1, [rewritten])
    store.anonymize_records(ticket.id, ticket.version, [rewritten])
    assert repository.get(ticket.id) == ticket
    assert repository.event(ticket.id, "E-late") == rewritten
