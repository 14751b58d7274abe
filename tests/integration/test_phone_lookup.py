"""The phone lookup on moto (SPEC 12, STOP): each ticket with a contact number has an
entry `PHONE#<sha256(number)>` / `TICKET#<id>` naming its customer, written in the
transaction that opens the ticket, dropped by erasure, expiring with the ticket."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from msgspec.structs import replace

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import DynamoTicketRepository, expire_phone_lookup
from chalicelib.domain.contact import Contact
from chalicelib.domain.identity import Caller, Role
from chalicelib.domain.inbound_sms import phone_key
from chalicelib.domain.lifecycle import apply_action
from chalicelib.service.ports import ReferenceTakenError, TicketWrite
from chalicelib.service.privacy import erase_customer
from tests.integration.repository_support import AGENT, NOW, new_ticket, table_items

PHONE = "+8613812348000"
OTHER_PHONE = "+8613912349000"
AUDITOR = Caller(Role.AUDITOR, "aud-1")


def _repository() -> DynamoTicketRepository:
    repository = bootstrap.container().repository
    assert isinstance(repository, DynamoTicketRepository)
    return repository


def _phone_items(table_name: str) -> list[dict[str, Any]]:
    return [item for item in table_items(table_name) if item["pk"].startswith("PHONE#")]


def test_opening_a_ticket_writes_its_numbers_hash_never_the_number(aws: dict[str, Any]) -> None:
    repository = _repository()
    ticket, created = new_ticket(1)
    repository.create(ticket, [created])
    no_phone, opened = new_ticket(2, contact=Contact(None, "a@b.cn", "email", "zh-CN"))
    repository.create(no_phone, [opened])

    [entry] = _phone_items(aws["table_name"])
    assert entry["pk"] == f"PHONE#{phone_key(PHONE)}"
    assert (entry["sk"], entry["customer_id"]) == (f"TICKET#{ticket.id}", "cust-1")
    assert entry["item_type"] == "phone_ticket" and "expires_at" not in entry
    assert not [i for i in table_items(aws["table_name"]) if "13812348000" in i["pk"] + i["sk"]]
    assert repository.customers_by_phone(phone_key(PHONE)) == ["cust-1"]
    assert repository.customers_by_phone(phone_key(OTHER_PHONE)) == []


def test_the_entry_is_part_of_the_opening_transaction(aws: dict[str, Any]) -> None:
    repository = _repository()
    first, created = new_ticket(1, reference="SD-00000001")
    repository.create(first, [created])
    clash, opened = new_ticket(2, reference="SD-00000001", customer="cust-2")
    with pytest.raises(ReferenceTakenError):
        repository.create(clash, [opened])
    assert repository.customers_by_phone(phone_key(PHONE)) == ["cust-1"]  # nothing half-written


def test_customers_of_every_ticket_using_the_number_once_each(aws: dict[str, Any]) -> None:
    repository = _repository()
    for number, customer in ((1, "cust-2"), (2, "cust-1"), (3, "cust-2")):
        ticket, created = new_ticket(number, customer=customer)
        repository.create(ticket, [created])
    elsewhere, opened = new_ticket(4, customer="cust-3")
    repository.create(replace(elsewhere, contact=replace(elsewhere.contact, phone=OTHER_PHONE)), [])
    review, review_created = new_ticket(5, customer="cust-4")  # opened in a multi-ticket write
    repository.commit_many([TicketWrite(review.id, None, review, [review_created])])

    assert repository.customers_by_phone(phone_key(PHONE)) == ["cust-1", "cust-2", "cust-4"]
    assert repository.customers_by_phone(phone_key(OTHER_PHONE)) == ["cust-3"]


def test_erasure_drops_the_customers_entries_and_keeps_the_others(aws: dict[str, Any]) -> None:
    repository = _repository()
    mine, created = new_ticket(1)
    repository.create(mine, [created])
    theirs, opened = new_ticket(2, customer="cust-2")
    repository.create(theirs, [opened])
    cancelled, events = apply_action(
        mine, "cancel", {"reason": "by mistake"}, AGENT, now=NOW, new_event_id=lambda: "E-9"
    )
    repository.commit(mine.id, mine.version, cancelled, events)

    erase_customer(bootstrap.container().privacy_ports(), AUDITOR, "cust-1")

    assert repository.customers_by_phone(phone_key(PHONE)) == ["cust-2"]
    assert [item["sk"] for item in _phone_items(aws["table_name"])] == [f"TICKET#{theirs.id}"]


def test_retention_stamps_the_entry_and_writes_none_where_there_was_none(
    aws: dict[str, Any],
) -> None:
    repository = _repository()
    ticket, created = new_ticket(1)
    repository.create(ticket, [created])
    bootstrap.container().privacy_store.expire_ticket_records(ticket.id, 1_900_000_000)
    [entry] = _phone_items(aws["table_name"])
    assert entry["expires_at"] == 1_900_000_000

    boto3.resource("dynamodb").Table(aws["table_name"]).delete_item(
        Key={"pk": entry["pk"], "sk": entry["sk"]}
    )  # as for a ticket opened before the lookup existed
    expire_phone_lookup(PHONE, ticket.id, 1_900_000_000)
    assert _phone_items(aws["table_name"]) == []
