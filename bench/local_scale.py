"""Local create latency as the table grows: POST /v1/tickets through `make run`'s HTTP API
at 10^2, 10^3 and 10^4 tickets in the table.

Starts `python -m local.run` on free ports (as `make run` does, with its defaults), opens
one ticket through the API and, once the stream pump has reacted to it, takes every item
that ticket left in the table (ticket, reference, event, reaction marker...). The table
is filled with copies of those items (new ticket id, reference, event id and one of 997
customers in each) by BatchWriteItem, the pump reads past them (see `load`), and then
one client opens tickets one after another; the median create latency at each size is
printed with its ratio to the first. Figures, not a pass/fail test; goal: the 10^4
figure at most 1.5x the 10^2 one.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
REGION = "ap-east-1"
TABLE = "servicedesk"
SIZES = (100, 1_000, 10_000)
WARM_UP = 3
SAMPLES = 30
CUSTOMERS = 997
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TICKET = {
    "channel": "mobile",
    "kind": "consultation",
    "category": "card",
    "subject": "Card blocked abroad",
    "description": "My card was declined at a shop in Lisbon this morning.",
}


class Stack:
    def __init__(self, api_port: int, aws_port: int) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        self.aws = f"http://127.0.0.1:{aws_port}"
        self.dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=self.aws,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        )
        self.session = requests.Session()

    def open_ticket(self, customer: str) -> tuple[dict[str, Any], float]:
        from local.token import mint

        headers = {"Authorization": f"Bearer {mint('customers', customer)}"}
        started = time.perf_counter()
        response = self.session.post(
            f"{self.api}/v1/tickets", json=TICKET, headers=headers, timeout=60
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text
        return dict(response.json()), elapsed

    def ticket_items(self, ticket_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"TICKET#{ticket_id}"}},
            ConsistentRead=True,
        )["Items"]
        return items

    def has_reacted(self, event_id: str) -> bool:
        key = {"pk": {"S": f"REACTION#{event_id}"}, "sk": {"S": "count"}}
        return "Item" in self.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)

    def all_items(self) -> list[dict[str, Any]]:
        # A benchmark's look at the whole table, never a request path.
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]


@contextmanager
def started_stack() -> Iterator[Stack]:
    """`python -m local.run` on free ports, its output in build/bench-local-scale.log."""
    from local.stack import local_stack

    with local_stack(PROJECT_DIR / "build" / "bench-local-scale.log") as ports:
        yield Stack(*ports)


def _event_id(stack: Stack, ticket_id: str) -> str:
    events = [i for i in stack.ticket_items(ticket_id) if i["sk"]["S"].startswith("EVENT#")]
    return str(events[0]["event_id"]["S"])


def wait_for_reactions(stack: Stack, ticket_id: str, timeout: float = 1800) -> None:
    """The pump reads the stream in order: once it reacted to this ticket's event, it
    reacted to every earlier one."""
    event_id = _event_id(stack, ticket_id)
    deadline = time.monotonic() + timeout
    while not stack.has_reacted(event_id):
        if time.monotonic() > deadline:
            raise RuntimeError("the stream pump did not catch up in time")
        time.sleep(0.5)


def _crockford(number: int, width: int) -> str:
    return "".join(CROCKFORD[(number >> shift) & 31] for shift in range(5 * (width - 1), -1, -5))


class Template:
    """Every item one created ticket left in the table, and the strings that make them
    that ticket's (its ids, reference and customer)."""

    def __init__(self, items: list[dict[str, Any]], ticket: dict[str, Any], event_id: str) -> None:
        self.texts = [json.dumps(item) for item in items]
        self.ticket_id = ticket["id"]
        self.reference = ticket["reference"]
        self.customer = ticket["customer_id"]
        self.event_id = event_id

    @classmethod
    def capture(cls, stack: Stack) -> Template:
        before = {json.dumps(item, sort_keys=True) for item in stack.all_items()}
        ticket, _ = stack.open_ticket("cust-template")
        wait_for_reactions(stack, ticket["id"])
        event_id = _event_id(stack, ticket["id"])
        ours = (ticket["id"], ticket["reference"], event_id)
        items = [
            item
            for item in stack.all_items()
            if json.dumps(item, sort_keys=True) not in before
            and any(text in json.dumps(item) for text in ours)  # shared counters stay single
        ]
        return cls(items, ticket, event_id)

    def copy(self, number: int) -> list[dict[str, Any]]:
        # Same lengths and alphabets as the real ids: ULID time part kept, the rest numbered.
        replacements = {
            self.ticket_id: self.ticket_id[:12] + _crockford(number, len(self.ticket_id) - 12),
            self.event_id: self.event_id[:12] + _crockford(number, len(self.event_id) - 12),
            self.reference: "SD-" + _crockford(number + 2**39, 8),
            self.customer: f"cust-{number % CUSTOMERS:04d}",
        }
        copies = []
        for text in self.texts:
            copied = text
            for old, new in replacements.items():
                copied = copied.replace(old, new)
            copies.append(json.loads(copied))
        return copies


def load(stack: Stack, template: Template, first: int, count: int) -> None:
    """Writes the copies, 100 tickets at a time. Their events are history the pump must
    not react to again (their reaction markers are copied too): each event item is first
    written bare (a record the stream handler skips: no item type), then in full (a
    MODIFY, which it does not react to), so the pump catches up in seconds, not hours."""
    for chunk in range(first, first + count, 100):
        copies = [
            item
            for number in range(chunk, min(chunk + 100, first + count))
            for item in template.copy(number)
        ]
        bare = [{"pk": item["pk"], "sk": item["sk"]} for item in copies if _is_event(item)]
        _write_all(stack, bare)
        _write_all(stack, copies)


def _is_event(item: dict[str, Any]) -> bool:
    return bool(item.get("item_type", {}).get("S") == "event")


def _write_all(stack: Stack, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        _write(stack, [{"PutRequest": {"Item": item}} for item in items[start : start + 25]])


def _write(stack: Stack, batch: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {TABLE: batch}
    while pending:
        pending = stack.dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]


def median_create_ms(stack: Stack, size: int) -> float:
    timings = []
    for number in range(WARM_UP + SAMPLES):
        _, seconds = stack.open_ticket(f"cust-{(size + number) % CUSTOMERS:04d}")
        if number >= WARM_UP:
            timings.append(seconds * 1000)
    return statistics.median(timings)


def main() -> None:
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    results: dict[int, float] = {}
    with started_stack() as stack:
        template = Template.capture(stack)
        tickets = 1
        for size in SIZES:
            started = time.monotonic()
            load(stack, template, tickets, size - tickets)
            probe, _ = stack.open_ticket("cust-probe")
            wait_for_reactions(stack, probe["id"])
            tickets = size + 1
            loaded = time.monotonic() - started
            results[size] = median_create_ms(stack, size)
            tickets += WARM_UP + SAMPLES
            ratio = results[size] / results[SIZES[0]]
            print(
                f"{size:>6} tickets: median create {results[size]:7.1f} ms"
                f" ({ratio:.2f}x the first; loading took {loaded:.0f} s)",
                flush=True,
            )
    small, large = results[SIZES[0]], results[SIZES[-1]]
    print(
        f"local create at 10^4 vs 10^2 tickets: {large:.1f} ms vs {small:.1f} ms:"
        f" ratio {large / small:.2f}"
    )


if __name__ == "__main__":
    main()
