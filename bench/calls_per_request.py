"""DynamoDB calls per API request, counted with botocore event hooks.

Runs the real Chalice app in-process (its gateway, authorizer and views)
against moto with the table from infra/, drives one scripted ticket through
every ticket endpoint, and prints per endpoint: the DynamoDB operations it
made, GSI entries written, whether any Scan happened, and the capacity units it
consumed (read and write units by AWS's sizing rules, see bench/hooks.CapacityMeter;
GSI entries at 1 write unit per KB of the ticket item). Also prints the ticket
item's size: under 1 KB a transactional write costs its minimum of 2 write units
per item. Figures, not a pass/fail test.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.hooks import CapacityMeter, _value_size, item_size  # noqa: E402

REGION = "ap-east-1"
GSI_KEYS = {
    "by_customer": "customer_id",
    "by_customer_status": "customer_status",
    "by_queue": "queue",
    "by_queue_status": "queue_status",
    "by_assignee": "assignee",
    "by_assignee_status": "assignee_status",
    "claimable": "claim_queue",
    "due": "due_pk",
}


class CallCounter:
    """Counts DynamoDB operations on every botocore client created while active."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()

    def install(self) -> None:
        from bench.hooks import on_dynamodb_calls

        on_dynamodb_calls("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1

    def take(self) -> Counter[str]:
        taken, self.operations = self.operations, Counter()
        return taken


def gsi_writes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    """Index entries a ticket write touches: every entry it is in (ALL projection), and
    two (delete + put) where its key moved. Zero when the ticket item did not change."""
    if before == after:
        return 0
    writes = 0
    for key in GSI_KEYS.values():
        old = (before or {}).get(key)
        new = (after or {}).get(key)
        if old is None and new is None:
            continue
        writes += 2 if old is not None and new is not None and old != new else 1
    return writes


def main() -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "SERVICEDESK_AUTH_MODE": "local-hs256",
        "TABLE_NAME": "servicedesk",
    }.items():
        os.environ[name] = value
    counter = CallCounter()
    counter.install()
    meter = CapacityMeter().install()

    from moto import mock_aws

    with mock_aws():
        from local.resources import create_resources

        create_resources(endpoint_url=None, region=REGION)
        counter.take()
        run_script(counter, meter)


Row = tuple[str, int, Counter[str], int, tuple[float, float]]


def run_script(counter: CallCounter, meter: CapacityMeter) -> None:
    import boto3
    from chalice.test import Client

    from app import app
    from local.token import mint

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    customer = {
        "Authorization": "Bearer " + mint("customers", "cust-bench"),
        "Content-Type": "application/json",
    }
    agent = {
        "Authorization": "Bearer " + mint("agents", "agent-bench"),
        "Content-Type": "application/json",
    }
    body = json.dumps(
        {
            "channel": "mobile",
            "kind": "consultation",
            "category": "card",
            "subject": "Card blocked abroad",
            "description": "x" * 200,
            "contact": {"phone": "+8613812348000", "email": "jane@example.com"},
        }
    )
    rows: list[Row] = []
    state: dict[str, Any] = {}

    def ticket_item() -> dict[str, Any] | None:
        if "id" not in state:
            return None
        item = dynamodb.get_item(
            TableName="servicedesk",
            Key={"pk": {"S": f"TICKET#{state['id']}"}, "sk": {"S": "#TICKET"}},
        )
        found: dict[str, Any] | None = item.get("Item")
        return found

    with Client(app) as client:

        def call(
            label: str, method: str, path: str, headers: dict[str, str], payload: str | None = None
        ) -> Any:
            before = ticket_item() if "id" in state else None
            counter.take()
            meter.take()
            response = client.http.request(
                method, path.format(**state), headers=headers, body=(payload or "").encode()
            )
            operations = counter.take()
            units = meter.take()
            result = json.loads(response.body) if response.body else None
            state.setdefault("id", (result or {}).get("id"))
            after = ticket_item()
            gsi = gsi_writes(before, after)
            gsi_units = gsi * math.ceil(item_size(after or {}) / 1024)
            rows.append(
                (label, response.status_code, operations, gsi, (units[0], units[1] + gsi_units))
            )
            return result

        call("POST /v1/tickets (customer)", "POST", "/v1/tickets", customer, body)
        state["new_size"] = item_size(ticket_item() or {})
        call("GET /v1/tickets/{id} (customer)", "GET", "/v1/tickets/{id}", customer)
        call("GET /v1/tickets/{id} (agent)", "GET", "/v1/tickets/{id}", agent)
        call("GET /v1/tickets (customer)", "GET", "/v1/tickets", customer)
        call("GET /v1/tickets?queue= (agent)", "GET", "/v1/tickets?queue=cards", agent)
        call("POST /v1/queues/{q}/claim", "POST", "/v1/queues/cards/claim", agent)
        call(
            "POST actions start",
            "POST",
            "/v1/tickets/{id}/actions",
            agent,
            json.dumps({"action": "start"}),
        )
        call(
            "POST comments (public, staff)",
            "POST",
            "/v1/tickets/{id}/comments",
            agent,
            json.dumps({"body": "Looking into it"}),
        )
        call(
            "POST comments (internal)",
            "POST",
            "/v1/tickets/{id}/comments",
            agent,
            json.dumps({"body": "note", "internal": True}),
        )
        call(
            "POST actions resolve",
            "POST",
            "/v1/tickets/{id}/actions",
            agent,
            json.dumps({"action": "resolve", "resolution": "Unblocked"}),
        )
        call("GET /v1/tickets/{id}/timeline", "GET", "/v1/tickets/{id}/timeline", customer)

    item = ticket_item() or {}
    _print(rows, state["new_size"], item_size(item))
    print(
        "largest attributes:",
        ", ".join(
            f"{name}={len(name) + _value_size(value)}"
            for name, value in sorted(
                item.items(), key=lambda kv: -(len(kv[0]) + _value_size(kv[1]))
            )[:8]
        ),
    )


def _print(rows: list[Row], new_size: int, size: int) -> None:
    print(
        f"{'endpoint':34} {'status':>6} {'calls':>5} {'scans':>5} {'GSI writes':>10} "
        f"{'RCU':>5} {'WCU':>5}  operations"
    )
    for label, status, operations, gsi, (rcu, wcu) in rows:
        calls = sum(operations.values())
        detail = ", ".join(f"{op} x{n}" for op, n in sorted(operations.items()))
        print(
            f"{label:34} {status:>6} {calls:>5} {operations['Scan']:>5} {gsi:>10} "
            f"{rcu:>5.1f} {wcu:>5.0f}  {detail}"
        )
    reads = [r for r in rows if r[0].startswith("GET")]
    writes = [r for r in rows if not r[0].startswith("GET")]
    read_rcu = sum(r[4][0] for r in reads) / len(reads)
    write_wcu = sum(r[4][1] for r in writes) / len(writes)
    write_rcu = sum(r[4][0] for r in writes) / len(writes)
    print(
        f"capacity units: reads {read_rcu:.2f} RCU per request; writes {write_wcu:.1f} WCU "
        f"(GSI entries included) and {write_rcu:.2f} RCU per request"
    )
    print()
    print(
        f"reads: {sum(sum(r[2].values()) for r in reads) / len(reads):.2f} calls per request "
        f"(target 1); writes: "
        f"{sum(r[2]['TransactWriteItems'] for r in writes) / len(writes):.2f} transactions and "
        f"{sum(sum(r[2].values()) - r[2]['TransactWriteItems'] for r in writes) / len(writes):.2f}"
        f" other calls per request (target 1 + at most 1 read); scans: "
        f"{sum(r[2]['Scan'] for r in rows)}"
    )
    for label, bytes_ in (("new", new_size), ("resolved", size)):
        print(
            f"ticket item size ({label}, 200-character description): {bytes_} bytes "
            f"-> {math.ceil(bytes_ / 1024) * 2} WRU per transactional write "
            "(minimum 2 below 1 KB)"
        )


if __name__ == "__main__":
    main()
