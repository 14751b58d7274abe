"""Scale: items read by a list and by the SLA sweep at 10^3 vs 10^5 open tickets.

Loads N open tickets (N-10 due later, 10 overdue; spread over 997 customers, one
queue) into moto's table from infra/ with BatchWriteItem of the items the adapter
builds (`ticket_to_item`), then calls the real code: the sweep
(`chalicelib.service.sla.sweep`), a customer's list and a queue's list
(`chalicelib.service.tickets.list_tickets`, first page of 20). Prints the items
DynamoDB evaluated for each (ScannedCount of their Queries), and the ratio of the
10^5 figure to the 10^3 one. Target: proportional to what is due or shown, not to
the table. The sweep's breach transactions are counted, not run: moto's
transactions deep-copy the whole table (minutes at 10^5), and what is measured is
what the sweep reads. Figures, not a pass/fail test.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from msgspec.structs import replace

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
REGION = "ap-east-1"
DUE_NOW = 10
SIZES = (1_000, 100_000)


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
    from chalicelib.domain.privacy import DEFAULT_RETENTION
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
            item = ticket_to_item(ticket, on_disk=None, retention=DEFAULT_RETENTION)
            item.version = 1  # batch writes skip PynamoDB's versioning; store what create would
            batch.save(item)


class CountedCommits:
    """The real repository, its transactions counted instead of run (see the docstring)."""

    def __init__(self, repository: Any) -> None:
        self._repository = repository
        self.commits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repository, name)

    def commit(self, *_: Any, **__: Any) -> None:
        self.commits += 1


Figures = dict[str, tuple[int, int, str]]  # what -> (items read, returned, calls)


def measure(open_tickets: int, meter: ReadMeter) -> tuple[Figures, float]:
    from moto import mock_aws
    from msgspec.structs import replace as with_

    from chalicelib import bootstrap
    from chalicelib.config import Settings
    from chalicelib.domain.identity import Caller, Role
    from chalicelib.service.sla import sweep
    from chalicelib.service.tickets import ListFilters, list_tickets
    from local.resources import create_resources

    now = datetime.now(UTC)
    figures: Figures = {}
    with mock_aws():
        create_resources(endpoint_url=None, region=REGION)
        bootstrap.use(bootstrap.bootstrap(Settings.from_env(dict(os.environ))))
        started = time.perf_counter()
        load_open_tickets(open_tickets, now)
        seeded = time.perf_counter() - started
        ports = bootstrap.container().ticket_ports()
        counted = CountedCommits(ports.repository)
        runs: dict[str, Callable[[], object]] = {
            "SLA sweep (10 due)": lambda: sweep(with_(ports, repository=counted)),
            "customer's list, page 1": lambda: list_tickets(
                ports, Caller(Role.CUSTOMER, "cust-1"), ListFilters()
            ),
            "queue's list, page 1": lambda: list_tickets(
                ports, Caller(Role.AGENT, "agent-1"), ListFilters(queue="cards")
            ),
        }
        for label, run in runs.items():
            meter.reset()
            run()
            calls = ", ".join(f"{name} x{n}" for name, n in sorted(meter.calls.items()))
            figures[label] = (meter.scanned, meter.returned, calls)
        figures["SLA sweep (10 due)"] = (
            *figures["SLA sweep (10 due)"][:2],
            figures["SLA sweep (10 due)"][2] + f", breach transactions x{counted.commits}",
        )
    return figures, seeded


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
    meter = ReadMeter()
    meter.install()
    results = {size: measure(size, meter) for size in SIZES}
    small, large = SIZES
    print(
        f"{'read':26} {'tickets':>8} {'items read':>10} {'returned':>8} {'read/tickets':>12}  calls"
    )
    for label in results[small][0]:
        for size in SIZES:
            read, returned, calls = results[size][0][label]
            print(f"{label:26} {size:>8} {read:>10} {returned:>8} {read / size:>12.5f}  {calls}")
        ratio = results[large][0][label][0] / max(1, results[small][0][label][0])
        print(f"{'':26} items read at {large:,} / at {small:,}: {ratio:.2f}x", end="")
        print(f" (tickets: {large // small}x)")
    seeding = ", ".join(f"{size:,}: {results[size][1]:.0f} s" for size in SIZES)
    print(f"(seeding by BatchWriteItem took {seeding})")


if __name__ == "__main__":
    main()
