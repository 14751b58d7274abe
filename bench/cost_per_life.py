"""Cost per 1,000 ticket lives, from what one scripted life actually does.

The life: a customer opens a ticket (mobile, with a mainland phone), an agent assigns
it to themself, starts, comments publicly and resolves it; the survey workflow invites
the customer by SMS, the customer follows the link and answers on the survey page, the
answer closes the ticket and releases the workflow. All of it runs, in-process, against
moto (table, topic and state machine from infra/):

- the real Chalice app serves every request (authorizer included; survey routes are public);
- after every step the table's DynamoDB stream is read and handed to the real stream
  handler as Lambda's event source mapping does (one shard, one batch at a time, batches
  of up to 100, through the event filter of infra/template.json: a batch the filter
  empties invokes nothing), until it is quiet;
- moto's executor runs the real state machine (infra/statemachines/survey.asl.json): its
  Wait, its GetItem of the ticket, its waitForTaskToken UpdateItem of the survey, released
  by the answer's reaction (SendTaskSuccess). Delay and answer window are seconds here
  instead of 2 h and 72 h: that changes when things happen, not what.

Counted per life: API requests; Lambda invocations (API handler + authorizer per
authenticated request, the handler alone for the public survey routes, one per stream
batch delivered); DynamoDB read and write units (bench/hooks.CapacityMeter, AWS sizing
rules) of the app's calls and of the state machine's own tasks, plus the ticket's GSI
entries; SMS messages and segments (the texts moto's SNS received); Step Functions
transitions (states entered, from the execution's history); EventBridge events (the
PutEvents entries the export reaction sends to the servicedesk bus). The life priced is the
day's second: the first creates the day's report counters (compared at the end); a
third life lets the invitation's window run out and answers the reminder. Not counted:
the stream records TTL deletions add weeks later (batched with other tickets' records).
Prices come from the dated table next to this file. Figures and ratios, not a
pass/fail test.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.calls_per_request import gsi_writes  # noqa: E402
from bench.hooks import CapacityMeter, item_size, on_client_calls  # noqa: E402

REGION = "ap-east-1"
TABLE = "servicedesk"
PRICES = PROJECT_DIR / "bench" / "prices-ap-east-1-2026-11-28.json"
LIVES = 1_000
SURVEY_DELAY_SECONDS = 1
# Answer the invitation well inside its window; for the reminder, let a short one run out.
WINDOW_SECONDS = {1: 30, 2: 4}
LINK = re.compile(r"/s/([A-Za-z0-9_-]{22})")
TIMEOUT_SECONDS = 40.0


class ThreadMeter(CapacityMeter):
    """A CapacityMeter for the main thread's calls only (the app, the stream handler), or
    for the other threads' only (moto's Step Functions executor runs the ASL's tasks)."""

    def __init__(self, *, main_thread: bool) -> None:
        super().__init__()
        self._main_thread = main_thread

    def _mine(self) -> bool:
        return (threading.current_thread() is threading.main_thread()) == self._main_thread

    def _ask(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if self._mine():
            super()._ask(params, model, **kwargs)

    def _after(self, model: Any, parsed: dict[str, Any], **kwargs: Any) -> None:
        if self._mine():
            super()._after(model, parsed, **kwargs)


@dataclass
class Life:
    name: str
    customer: str
    phone: str
    answer_round: int  # 1: answers the invitation, 2: the reminder
    ticket_id: str = ""
    api_requests: int = 0  # authenticated: API handler + authorizer
    public_requests: int = 0  # survey routes: API handler only
    stream_batches: int = 0
    stream_records: int = 0
    stream_filtered: int = 0  # records the event filter kept from the function
    idle_batches: int = 0  # batches with no event and no survey record: nothing to react to
    read_units: float = 0.0
    write_units: float = 0.0
    steps: list[tuple[str, int, float, float]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    outcome: str = ""
    survey_item: dict[str, Any] = field(default_factory=dict)
    bus_events: int = 0  # timeline events exported to the servicedesk bus (PutEvents entries)

    def add(self, label: str, status: int, units: tuple[float, float]) -> None:
        self.read_units += units[0]
        self.write_units += units[1]
        self.steps.append((label, status, *units))


def _environment() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "PUBLIC_BASE_URL": "https://sd.bankxyz.cn.co",
            "SURVEY_DELAY_SECONDS": str(SURVEY_DELAY_SECONDS),
        }
    )


BUS_ENTRIES = [0]  # PutEvents entries sent by any client so far


def _count_bus_entries(params: dict[str, Any], **kwargs: Any) -> None:
    BUS_ENTRIES[0] += len(params.get("Entries", []))


def main() -> None:
    _environment()
    on_client_calls("events", "before-parameter-build.events.PutEvents", _count_bus_entries)
    app_meter = ThreadMeter(main_thread=True).install()
    workflow_meter = ThreadMeter(main_thread=False).install()
    from moto import mock_aws

    from local.moto_fidelity import make_moto_faithful

    make_moto_faithful()  # serializable transactions: the executor writes concurrently
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from local.resources import create_resources

        resources = create_resources(endpoint_url=None, region=REGION)
        os.environ.update(
            {
                "TABLE_NAME": resources["table_name"],
                "OPS_ALERTS_TOPIC_ARN": resources["ops_alerts_topic_arn"],
                "SERVICEDESK_EMAIL_SENDER": resources["email_sender"],
                "SES_REGION": resources["ses_region"],
                "SURVEY_STATE_MACHINE_ARN": resources["survey_state_machine_arn"],
                "SERVICEDESK_EVENT_BUS_NAME": resources["physical"]["EventBus"],
            }
        )
        desk = Desk(resources, app_meter, workflow_meter)
        # One survey per customer per 30 days: each life has its own customer.
        lives = [
            Life("first life of the day (creates its counters)", "cust-0", "+8613812347000", 1),
            Life("answered after the invitation", "cust-life", "+8613812348000", 1),
            Life("answered after the reminder", "cust-life-2", "+8613812348001", 2),
        ]
        started = time.monotonic()
        with contextlib.redirect_stdout(sys.stderr):  # the app's log and EMF metric lines
            for life in lives:
                desk.run(life)
        emails = _emails_sent(resources["ses_region"])
    table = json.loads(PRICES.read_text(encoding="utf-8"))
    report(lives, table, emails, time.monotonic() - started)


class Desk:
    """The app, the stream and the state machine of one moto account, driven step by step."""

    def __init__(
        self, resources: dict[str, str], app_meter: CapacityMeter, workflow_meter: CapacityMeter
    ) -> None:
        import boto3

        from local.pump import StreamPump
        from local.stream_filter import template_filter

        self.app_meter = app_meter
        self.workflow_meter = workflow_meter
        self.machine = resources["survey_state_machine_arn"]
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        # The pump's delivery (Lambda's record shape, its retries), called from this
        # thread after each step instead of from its own polling thread.
        self.pump = StreamPump(
            boto3.client("dynamodbstreams", region_name=REGION),
            resources["stream_arn"],
            self._invoke_stream_function,
            record_filter=template_filter(),
        )
        self.life = Life("", "", "", 0)
        self.client: Any = None
        self.sms_seen = 0

    # --- one life --------------------------------------------------------------------

    def run(self, life: Life) -> None:
        from chalice.test import Client

        from app import app
        from chalicelib import bootstrap
        from chalicelib.domain.surveys import survey_id
        from local.token import mint

        exported_before = BUS_ENTRIES[0]
        os.environ["SURVEY_WINDOW_SECONDS"] = str(WINDOW_SECONDS[life.answer_round])
        bootstrap.use(None)  # settings read again: this life's window
        self.life = life
        customer = {"Authorization": "Bearer " + mint("customers", life.customer)}
        agent = {"Authorization": "Bearer " + mint("agents", "agent-life")}
        ticket = {
            "channel": "mobile",
            "kind": "consultation",
            "category": "card",
            "subject": "Card blocked abroad",
            "description": "x" * 200,
            "contact": {"phone": life.phone, "email": "jane@example.com", "locale": "zh-CN"},
        }
        with Client(app) as client:
            self.client = client
            created = self.request("open (customer)", "POST", "/v1/tickets", customer, ticket)
            life.ticket_id = created["id"]
            actions = f"/v1/tickets/{life.ticket_id}/actions"
            self.request("assign (agent, self)", "POST", actions, agent, {"action": "assign"})
            self.request("start", "POST", actions, agent, {"action": "start"})
            comment = {"body": "Unblocking it now"}
            path = f"/v1/tickets/{life.ticket_id}/comments"
            self.request("public comment", "POST", path, agent, comment)
            resolve = {"action": "resolve", "resolution": "Done"}
            self.request("resolve", "POST", actions, agent, resolve)
            # The stream has started the survey's execution; it waits, then invites.
            code = self.until(lambda: self.link(life.answer_round), "survey link by SMS")
            self.answer(code)
            execution = self.until(self.finished, "end of the survey execution")
        self.workflow_step()
        life.outcome = execution["status"]
        life.bus_events = BUS_ENTRIES[0] - exported_before
        life.survey_item = _stored_item(f"SURVEY#{survey_id(life.ticket_id, 1)}", "SURVEY") or {}
        history = self.sfn.get_execution_history(executionArn=execution["executionArn"])
        life.states = [
            event["stateEnteredEventDetails"]["name"]
            for event in history["events"]
            if event["type"].endswith("StateEntered")
        ]

    def answer(self, code: str) -> None:
        """The customer's browser: the SMS's short link, the page it redirects to, the form."""
        label = f"survey link /s/ (round {self.life.answer_round}): redirects"
        page = self.request(label, "GET", f"/s/{code}")
        self.request("survey page (HTML)", "GET", page["location"], accept="text/html")
        self.request(
            "survey answer (form): closes",
            "POST",
            page["location"],
            body=b"score=5&comment=%E8%B0%A2%E8%B0%A2",
            content_type="application/x-www-form-urlencoded",
        )

    def request(
        self,
        label: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        sent = {"Accept": accept, **(headers or {})}
        if method == "POST":
            sent["Content-Type"] = content_type
            body = body if isinstance(body, bytes) else json.dumps(body or {}).encode()

        def call() -> Any:
            return self.client.http.request(method, path, headers=sent, body=body or b"")

        response = self.measure(label, call)
        if headers:
            self.life.api_requests += 1
        else:
            self.life.public_requests += 1
        self.drain()
        if response.status_code >= 400:
            raise SystemExit(f"{label}: HTTP {response.status_code} {response.body[:300]!r}")
        result: dict[str, Any] = {"location": response.headers.get("Location", "")}
        if "json" in response.headers.get("Content-Type", ""):
            result.update(json.loads(response.body))
        base = os.environ["PUBLIC_BASE_URL"]
        result["location"] = result["location"].removeprefix(base)
        return result

    def measure(self, label: str, action: Callable[[], Any]) -> Any:
        """Run one step on this thread: its units, with the ticket's GSI entries it moved."""
        before = _ticket_item(self.life.ticket_id)
        self.app_meter.take()
        result = action()
        read, write = self.app_meter.take()
        after = _ticket_item(self.life.ticket_id)
        gsi = gsi_writes(before, after) * math.ceil(item_size(after or {}) / 1024)
        status = getattr(result, "status_code", 0)
        self.life.add(label, status, (read, write + gsi))
        return result

    # --- the stream, the state machine ---------------------------------------------------

    def drain(self) -> None:
        """Deliver what the stream holds, batch after batch, until it is quiet."""
        while True:
            self.pump._discover_shards()
            filtered = self.pump.filtered_out
            read = sum(self.pump._poll(shard) for shard in list(self.pump._iterators))
            self.life.stream_filtered += self.pump.filtered_out - filtered
            if not read:
                return

    def _invoke_stream_function(self, event: dict[str, Any], context: Any) -> Any:
        from chalicelib.handlers.stream import on_table_change

        self.workflow_step()  # what the state machine wrote is why some records are here
        records = event["Records"]
        life = self.life
        life.stream_batches += 1
        life.stream_records += len(records)
        kinds = [_record_kind(record) for record in records]
        reactive = [kind for kind in kinds if kind]
        life.idle_batches += not reactive
        label = ", ".join(sorted(set(reactive))) or f"{len(records)} other record(s)"
        return self.measure(f"  stream: {label}", lambda: on_table_change(event, context))

    def workflow_step(self) -> None:
        read, write = self.workflow_meter.take()
        if read or write:
            self.life.add("  state machine: its DynamoDB tasks", 0, (read, write))

    def until(self, check: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.drain()
            found = check()
            if found:
                return found
            time.sleep(0.1)
        raise SystemExit(f"{self.life.name}: no {what} within {TIMEOUT_SECONDS:.0f} s")

    def link(self, round_number: int) -> str | None:
        """The code of the survey link in the life's `round_number`-th SMS that has one."""
        self.collect_sms()
        codes = [code for text in self.life.texts for code in LINK.findall(text)]
        return codes[round_number - 1] if len(codes) >= round_number else None

    def collect_sms(self) -> None:
        """The life's texts, as moto's SNS received them."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.sns.models import sns_backends

        sent = list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())
        mine = [text for phone, text in sent[self.sms_seen :] if phone == self.life.phone]
        self.life.texts += mine
        self.sms_seen = len(sent)

    def finished(self) -> dict[str, Any] | None:
        from chalicelib.domain.surveys import survey_id

        prefix, _, name = self.machine.rpartition(":stateMachine:")
        arn = f"{prefix}:execution:{name}:{survey_id(self.life.ticket_id, 1)}"
        execution: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
        self.collect_sms()
        return execution if execution["status"] != "RUNNING" else None


def _record_kind(record: dict[str, Any]) -> str:
    """What a stream record gives the handler to react to: an event's type, a survey's
    state, or nothing (tickets, ledger, notification records...)."""
    image = record["dynamodb"].get("NewImage") or {}
    kind = image.get("item_type", {}).get("S")
    if record["eventName"] == "INSERT" and kind == "event":
        return str(image["event_type"]["S"])
    if record["eventName"] in ("INSERT", "MODIFY") and kind == "survey":
        return f"survey {image['survey_state']['S']}"
    return ""


def _ticket_item(ticket_id: str) -> dict[str, Any] | None:
    return _stored_item(f"TICKET#{ticket_id}", "#TICKET") if ticket_id else None


def _stored_item(pk: str, sk: str) -> dict[str, Any] | None:
    """An item as stored, read from moto's backend: no API call, nothing metered."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(TABLE)
    item = table.get_item(DynamoType({"S": pk}), DynamoType({"S": sk}))
    return item.to_json()["Attributes"] if item is not None else None


def _emails_sent(ses_region: str) -> int:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return int(ses_backends[DEFAULT_ACCOUNT_ID][ses_region].sent_message_count)


def quantities(life: Life, table: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Per life: (quantity, USD per unit) of everything billed."""
    from chalicelib.domain.sms import segments

    prices, assumed = table["prices"], table["assumptions"]
    invocations = 2 * life.api_requests + life.public_requests + life.stream_batches
    gb_seconds = (
        invocations
        * assumed["lambda_memory_mb"]
        / 1024
        * assumed["lambda_average_duration_ms"]
        / 1000
    )
    return {
        "API requests": (
            life.api_requests + life.public_requests,
            prices["api_gateway_rest_per_million_requests"] / 1e6,
        ),
        "Lambda invocations": (invocations, prices["lambda_per_million_requests"] / 1e6),
        "Lambda GB-seconds": (gb_seconds, prices["lambda_per_gb_second"]),
        "DynamoDB read units": (
            life.read_units,
            prices["dynamodb_on_demand_per_million_read_units"] / 1e6,
        ),
        "DynamoDB write units": (
            life.write_units,
            prices["dynamodb_on_demand_per_million_write_units"] / 1e6,
        ),
        "Step Functions transitions": (
            len(life.states),
            prices["step_functions_standard_per_thousand_transitions"] / 1e3,
        ),
        "SMS segments (+86)": (
            sum(segments(text) for text in life.texts),
            prices["sns_sms_china_mainland_per_message_part"],
        ),
        "EventBridge events": (
            life.bus_events,
            prices["eventbridge_custom_events_per_million"] / 1e6,
        ),
    }


def report(lives: list[Life], table: dict[str, Any], emails: int, seconds: float) -> None:
    first, life, *others = lives
    print(f"life: {life.name}")
    print(f"{'step':66} {'status':>6} {'RCU':>6} {'WCU':>6}")
    for label, status, read, write in life.steps:
        print(f"{label[:66]:66} {status or '':>6} {read:>6.1f} {write:>6.0f}")
    print()
    for each in lives:
        print(
            f"{each.name}: {len(each.texts)} SMS, "
            f"{quantities(each, table)['SMS segments (+86)'][0]:.0f} segments; "
            f"{each.stream_records} stream records in {each.stream_batches} batches "
            f"({each.idle_batches} with nothing to react to; "
            f"{each.stream_filtered} more records kept out by the event filter); "
            f"execution {each.outcome}, "
            f"{len(each.states)} transitions: {' > '.join(each.states)}"
        )
    token = len(life.survey_item.get("task_token", {}).get("S", ""))
    print(
        f"survey item when answered: {item_size(life.survey_item)} bytes with moto's "
        f"{token}-character task token (AWS's may have up to 2,048; each write of the item "
        "after the invitation costs 1 WCU per KB)"
    )
    print(f"emails sent (SES): {emails}; the {len(lives)} lives ran in {seconds:.1f} s")
    print()
    per_life = quantities(life, table)
    print(f"prices: {PRICES.name} ({table['region']}; verified: {table['verified']})")
    print(f"{'per 1,000 ticket lives':28} {'quantity':>12} {'USD':>9} {'share':>6}")
    costs = {name: quantity * LIVES * price for name, (quantity, price) in per_life.items()}
    total = sum(costs.values())
    for name, (quantity, _) in per_life.items():
        print(
            f"{name:28} {quantity * LIVES:>12,.0f} {costs[name]:>9.4f} {costs[name] / total:>6.2%}"
        )
    print(f"{'total':28} {'':>12} {total:>9.4f}  (USD {total / LIVES:.5f} per life)")
    sms = costs["SMS segments (+86)"]
    print(f"SMS / everything else: {sms / (total - sms):.0f}x; without SMS: USD {total - sms:.4f}")
    for other in [*others, first]:
        print(f"{other.name}, per 1,000: {_compared(other, life, table)}")


def _compared(other: Life, life: Life, table: dict[str, Any]) -> str:
    mine, theirs = quantities(life, table), quantities(other, table)
    cost = sum(quantity * LIVES * price for quantity, price in theirs.values())
    total = sum(quantity * LIVES * price for quantity, price in mine.values())
    changes = ", ".join(
        f"{name} {(theirs[name][0] - quantity) * LIVES:+,.0f}"
        for name, (quantity, _) in mine.items()
        if theirs[name][0] != quantity
    )
    return f"USD {cost:.4f} ({cost - total:+.4f}; {changes or 'no change'})"


if __name__ == "__main__":
    main()
