"""Cost per 1,000 ticket lives, from what one scripted life actually does.

The life: a customer opens a ticket (mobile, with a mainland phone), an agent assigns
it to themself, starts, comments publicly and resolves it; the survey workflow invites
the customer, the customer answers, the ticket closes. The real Chalice app runs
in-process against moto (table, topic from infra/); every event item it writes is fed
to the real stream handler (as the pump does), until no new events appear. Counted:
API requests, Lambda invocations (API handler + authorizer per authenticated request,
one stream invocation per event record: batching only lowers it), DynamoDB read and
write units (bench/hooks.CapacityMeter, AWS sizing rules, GSI entries included), SMS
messages and segments (the texts moto's SNS received), Step Functions transitions
along the survey ASL's own path (infra/statemachines/survey.asl.json).

The survey routes and the workflow's starter land with issue 5, so their part is
modelled, each figure labelled: the invitation SMS is rendered from the real
template; the answer is 2 public API requests (page, answer) whose closing write is
measured as the `close` action it performs; the survey record costs what the ASL's
tasks do. Prices come from the dated table next to this file.
Figures and ratios, not a pass/fail test.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.calls_per_request import gsi_writes  # noqa: E402
from bench.hooks import CapacityMeter, item_size  # noqa: E402

REGION = "ap-east-1"
PRICES = PROJECT_DIR / "bench" / "prices-ap-east-1-2026-11-28.json"
ASL = PROJECT_DIR / "infra" / "statemachines" / "survey.asl.json"
LIVES = 1_000
SURVEY_PATHS = {
    "answered after the invitation": [
        "WaitSurveyDelay",
        "ReadTicketStatus",
        "IsTicketStillResolved",
        "Invite",
        "Answered",
    ],
    "answered after the reminder": [
        "WaitSurveyDelay",
        "ReadTicketStatus",
        "IsTicketStillResolved",
        "Invite",
        "Remind",
        "Answered",
    ],
}
# The ASL's tasks on the answered path, by AWS sizing: ReadTicketStatus is an eventually
# consistent GetItem of the ~1.1 KB ticket (0.5 RCU); Invite updates the survey record
# (under 1 KB: 1 WCU); the answer reads the record by code hash (1 RCU, consistent) and
# marks it answered in the closing transaction (2 WCU).
SURVEY_RECORD_UNITS = {"read": 1.5, "write": 3.0}


class Life:
    def __init__(self, meter: CapacityMeter) -> None:
        self.meter = meter
        self.api_requests = 0
        self.public_requests = 0
        self.stream_records = 0
        self.read_units = 0.0
        self.write_units = 0.0
        self.seen_events: set[str] = set()
        self.steps: list[tuple[str, int, float, float]] = []

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
        }
    )


def main() -> None:
    _environment()
    meter = CapacityMeter().install()
    from moto import mock_aws

    with mock_aws():
        from local.resources import create_resources

        resources = create_resources(endpoint_url=None, region=REGION)
        os.environ.update(
            {
                "TABLE_NAME": resources["table_name"],
                "OPS_ALERTS_TOPIC_ARN": resources["ops_alerts_topic_arn"],
                "SERVICEDESK_EMAIL_SENDER": resources["email_sender"],
                "SES_REGION": resources["ses_region"],
            }
        )
        life = Life(meter)
        texts = run_life(life)
    report(life, texts, json.loads(PRICES.read_text(encoding="utf-8")))


def run_life(life: Life) -> list[str]:
    import boto3
    from chalice.test import Client
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    from app import app
    from chalicelib import bootstrap
    from local.token import mint

    bootstrap.reset()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    customer = {"Authorization": "Bearer " + mint("customers", "cust-life")}
    agent = {"Authorization": "Bearer " + mint("agents", "agent-life")}
    supervisor = {"Authorization": "Bearer " + mint("supervisors", "sup-life")}
    ticket = {
        "channel": "mobile",
        "kind": "consultation",
        "category": "card",
        "subject": "Card blocked abroad",
        "description": "x" * 200,
        "contact": {"phone": "+8613812348000", "email": "jane@example.com", "locale": "zh-CN"},
    }
    state: dict[str, str] = {}
    with Client(app) as client:

        def call(label: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
            before = _ticket_item(dynamodb, state)
            life.meter.take()
            response = client.http.post(
                path.format(**state),
                headers={**headers, "Content-Type": "application/json"},
                body=json.dumps(body or {}).encode(),
            )
            life.api_requests += 1
            read, write = life.meter.take()
            after = _ticket_item(dynamodb, state) if state else None
            gsi = gsi_writes(before, after) * math.ceil(item_size(after or {}) / 1024)
            life.add(label, response.status_code, (read, write + gsi))
            result = json.loads(response.body) if response.body else {}
            state.setdefault("id", result.get("id", ""))
            react_to_new_events(life, dynamodb, state["id"])
            return result

        call("open (customer)", "/v1/tickets", customer, ticket)
        call("assign (agent, self)", "/v1/tickets/{id}/actions", agent, {"action": "assign"})
        call("start", "/v1/tickets/{id}/actions", agent, {"action": "start"})
        call("public comment", "/v1/tickets/{id}/comments", agent, {"body": "Unblocking it now"})
        call(
            "resolve",
            "/v1/tickets/{id}/actions",
            agent,
            {"action": "resolve", "resolution": "Done"},
        )
        # Issue 5 model: the answer's closing write is the `close` the workflow performs.
        call(
            "survey answer -> close (model)",
            "/v1/tickets/{id}/actions",
            supervisor,
            {"action": "close"},
        )
    life.public_requests = 2  # survey page + answer: public routes, no authorizer
    life.add(
        "survey record (model)", 0, (SURVEY_RECORD_UNITS["read"], SURVEY_RECORD_UNITS["write"])
    )
    sent = sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values()
    return [text for _, text in sent] + [_survey_invitation()]


def _ticket_item(dynamodb: Any, state: dict[str, str]) -> dict[str, Any] | None:
    if not state.get("id"):
        return None
    key = {"pk": {"S": f"TICKET#{state['id']}"}, "sk": {"S": "#TICKET"}}
    return dynamodb.get_item(TableName="servicedesk", Key=key).get("Item")  # type: ignore[no-any-return]


def react_to_new_events(life: Life, dynamodb: Any, ticket_id: str) -> None:
    """Feed every new event item to the stream handler, as the pump does, until quiet."""
    from chalicelib.handlers.stream import handle_records

    while True:
        items = dynamodb.query(
            TableName="servicedesk",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :events)",
            ExpressionAttributeValues={
                ":pk": {"S": f"TICKET#{ticket_id}"},
                ":events": {"S": "EVENT#"},
            },
        )["Items"]
        fresh = [item for item in items if item["sk"]["S"] not in life.seen_events]
        if not fresh:
            return
        life.meter.take()
        for item in fresh:
            life.seen_events.add(item["sk"]["S"])
            handle_records([{"eventName": "INSERT", "dynamodb": {"NewImage": item}}])
            life.stream_records += 1
        types = ", ".join(sorted({item["event_type"]["S"] for item in fresh}))
        life.add(f"  stream: {types}", 0, life.meter.take())


def _survey_invitation() -> str:
    from chalicelib.domain.notifications import render_sms

    values = {
        "reference": "SD-7K4Q9M2P",
        "public_base_url": "https://sd.bankxyz.cn.co",
        "code": "q3Z-_9xYt0LmN4pQrS7uVw",
    }
    return render_sms("survey.invited", "zh-CN", values)


def _transitions() -> dict[str, int]:
    states = json.loads(ASL.read_text(encoding="utf-8"))["States"]
    for path in SURVEY_PATHS.values():
        for here, there in zip(path, path[1:], strict=False):
            assert there in _successors(states[here]), f"{here} -> {there} is not in the ASL"
    return {name: len(path) for name, path in SURVEY_PATHS.items()}


def _successors(state: dict[str, Any]) -> set[str]:
    found = {state.get("Next"), state.get("Default")}
    found |= {choice.get("Next") for choice in state.get("Choices", [])}
    found |= {catch.get("Next") for catch in state.get("Catch", [])}
    return {name for name in found if name}


def report(life: Life, texts: list[str], table: dict[str, Any]) -> None:
    from chalicelib.domain.sms import segments

    prices, assumed = table["prices"], table["assumptions"]
    transitions = _transitions()
    invocations = 2 * life.api_requests + life.public_requests + life.stream_records
    sms_parts = sum(segments(text) for text in texts)
    gb_seconds = (
        invocations
        * assumed["lambda_memory_mb"]
        / 1024
        * assumed["lambda_average_duration_ms"]
        / 1000
    )
    per_life = {
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
            transitions["answered after the invitation"],
            prices["step_functions_standard_per_thousand_transitions"] / 1e3,
        ),
        "SMS segments (+86)": (sms_parts, prices["sns_sms_china_mainland_per_message_part"]),
    }
    print(f"{'step':44} {'status':>6} {'RCU':>6} {'WCU':>6}")
    for label, status, read, write in life.steps:
        print(f"{label[:44]:44} {status or '':>6} {read:>6.1f} {write:>6.0f}")
    print()
    print(f"SMS: {len(texts)} messages, {sms_parts} segments (survey invitation rendered, issue 5)")
    print(
        "Step Functions transitions (states entered on the ASL's path): "
        + ", ".join(f"{name} {count}" for name, count in transitions.items())
    )
    print()
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


if __name__ == "__main__":
    main()
