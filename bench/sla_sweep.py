"""How much the SLA sweep reads: 10 tickets due among N open ones.

Loads N open tickets (N-10 due later, 10 overdue) into moto's table from
infra/, runs the real sweep (`chalicelib.service.sla.sweep`) and prints the
items DynamoDB evaluated for it (ScannedCount of its index Query), the items
returned, and the ratio to open tickets. Target: proportional to the due
tickets, not the open ones. Figures, not a pass/fail test.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
REGION = "ap-east-1"
DUE_NOW = 10


class ReadMeter:
    """Sums ScannedCount/Count of every DynamoDB Query, via botocore's after-call event."""

    def __init__(self) -> None:
        self.scanned = 0
        self.returned = 0
        self.calls: dict[str, int] = {}

    def install(self) -> None:
        from bench.hooks import on_dynamodb_calls

        on_dynamodb_calls("after-call.dynamodb", self._after)

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        if model.name == "Query":
            self.scanned += int(parsed.get("ScannedCount", 0))
            self.returned += int(parsed.get("Count", 0))

    def reset(self) -> None:
        self.scanned = self.returned = 0
        self.calls = {}


def load_open_tickets(count: int, now: datetime) -> None:
    from chalicelib.adapters.dynamo import ticket_to_item
    from chalicelib.adapters.models import TicketItem
    from chalicelib.domain.identity import Caller, Role
    from chalicelib.domain.ticket import Sla, TicketRequest, open_ticket

    request = TicketRequest(
        channel="web",
        kind="consultation",
        category="card",
        subject="Card question",
        description="",
        contact=None,
    )
    template, _ = open_ticket(
        request,
        Caller(Role.CUSTOMER, "cust-0"),
        ticket_id="T-0",
        reference="SD-00000000",
        event_id="E-0",
        now=now,
    )
    with TicketItem.batch_write() as batch:
        for number in range(count):
            overdue = number < DUE_NOW
            due = now - timedelta(minutes=5) if overdue else now + timedelta(days=1 + number % 9)
            ticket = replace(
                template,
                id=f"T-{number:026d}",
                reference=f"SD-{number:08d}",
                customer_id=f"cust-{number % 997}",
                sla=Sla(first_response_due=due),
            )
            item = ticket_to_item(ticket, on_disk=None)
            item.version = 1  # batch writes skip PynamoDB's versioning; store what create would
            batch.save(item)


def measure(open_tickets: int) -> tuple[float, int, int, dict[str, int], int]:
    from moto import mock_aws

    from chalicelib import bootstrap
    from chalicelib.config import Settings
    from chalicelib.service.sla import sweep
    from local.resources import create_resources

    meter = ReadMeter()
    meter.install()
    now = datetime.now(UTC)
    with mock_aws():
        create_resources(endpoint_url=None, region=REGION)
        bootstrap.reset()
        bootstrap.override(settings=Settings.from_env(dict(os.environ)))
        bootstrap.bind_storage()
        load_open_tickets(open_tickets, now)
        meter.reset()
        started = time.perf_counter()
        report = sweep(bootstrap.ticket_ports())
        elapsed = time.perf_counter() - started
    return elapsed, meter.scanned, meter.returned, dict(meter.calls), report.breached


def main() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "TABLE_NAME": "servicedesk",
        }
    )
    print(
        f"{'open tickets':>12} {'due':>4} {'items read':>10} {'returned':>8} "
        f"{'read/open':>9} {'breached':>8}  calls"
    )
    for open_tickets in (1_000, 10_000):
        _, scanned, returned, calls, breached = measure(open_tickets)
        detail = ", ".join(f"{name} x{n}" for name, n in sorted(calls.items()))
        print(
            f"{open_tickets:>12} {DUE_NOW:>4} {scanned:>10} {returned:>8} "
            f"{scanned / open_tickets:>9.4f} {breached:>8}  {detail}"
        )
    print("items read by the sweep = the due tickets only (sparse `due` index, due_sk <= now)")


if __name__ == "__main__":
    main()
