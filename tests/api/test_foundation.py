"""The foundation over HTTP: chalice local + moto server + stream pump, as `make run` runs them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
import requests
from openapi_spec_validator import validate as validate_openapi

from chalicelib import bootstrap
from chalicelib.config import Settings
from chalicelib.domain.counters import CounterKey
from tests.api.support import wait_for

TICKET = {
    "channel": "mobile",
    "kind": "consultation",
    "category": "card",
    "subject": "Card blocked abroad",
    "contact": {"phone": "+8613812348000", "email": "jane@example.com"},
}


def _is_problem(response: requests.Response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    assert "Traceback" not in response.text
    if slug:
        assert body["type"] == slug
    return body


def test_health_and_openapi_are_public(stack):
    assert requests.get(f"{stack.api}/v1/health").json() == {"status": "ok"}
    document = requests.get(f"{stack.api}/v1/openapi.json").json()
    validate_openapi(document)
    assert "/v1/tickets" in document["paths"]


def _token_variants(token):
    now = int(time.time())
    secret = "servicedesk-local-development-secret"
    return {
        "missing": None,
        "not-bearer": "Basic Zm9vOmJhcg==",
        "bad-signature": "Bearer " + token("customers", "c1").rsplit(".", 1)[0] + ".AAAA",
        "expired": "Bearer "
        + jwt.encode(
            {"sub": "c1", "cognito:groups": ["customers"], "exp": now - 600}, secret, "HS256"
        ),
        "alg-none": "Bearer "
        + jwt.encode({"sub": "c1", "cognito:groups": ["customers"], "exp": now + 600}, "", "none"),
        "unknown-group": "Bearer "
        + jwt.encode(
            {"sub": "c1", "cognito:groups": ["visitors"], "exp": now + 600}, secret, "HS256"
        ),
    }


@pytest.mark.parametrize(
    "variant", ["missing", "not-bearer", "bad-signature", "expired", "alg-none", "unknown-group"]
)
def test_bad_identity_is_a_401_problem(stack, token, variant):
    authorization = _token_variants(token)[variant]
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.post(f"{stack.api}/v1/tickets", json=TICKET, headers=headers)
    _is_problem(response, 401, "unauthorized")


def test_customer_opens_and_reads_own_ticket_masked(stack, auth):
    created = requests.post(
        f"{stack.api}/v1/tickets", json=TICKET, headers=auth("customers", "cust-api-1")
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert created.headers["Location"] == f"/v1/tickets/{ticket['id']}"
    assert created.headers["ETag"] == '"1"'
    assert ticket["customer_id"] == "cust-api-1"
    assert ticket["contact"]["phone"] == "+86 138****8000"
    assert ticket["contact"]["email"] == "j***@example.com"
    assert ticket["reference"].startswith("SD-")
    assert ticket["created_at"].endswith("+00:00")

    read = requests.get(
        f"{stack.api}/v1/tickets/{ticket['id']}", headers=auth("customers", "cust-api-1")
    )
    assert read.status_code == 200
    # Only the 201 carries the possible duplicates (SPEC 13); the rest reads back the same.
    assert isinstance(ticket.pop("possible_duplicates"), list)
    assert read.json() == ticket
    assert read.headers["ETag"] == '"1"'
    assert "13812348000" not in read.text

    staff = requests.get(f"{stack.api}/v1/tickets/{ticket['id']}", headers=auth("agents", "a-1"))
    assert staff.status_code == 200
    assert "13812348000" not in staff.text


def test_another_customers_ticket_is_404_not_403(stack, auth):
    ticket = requests.post(
        f"{stack.api}/v1/tickets", json=TICKET, headers=auth("customers", "cust-owner")
    ).json()
    response = requests.get(
        f"{stack.api}/v1/tickets/{ticket['id']}", headers=auth("customers", "cust-snoop")
    )
    _is_problem(response, 404, "not-found")
    unknown = requests.get(f"{stack.api}/v1/tickets/T-NOPE", headers=auth("customers", "c"))
    _is_problem(unknown, 404, "not-found")


def test_auditors_may_not_open_tickets(stack, auth):
    response = requests.post(
        f"{stack.api}/v1/tickets", json=TICKET, headers=auth("auditors", "aud-1")
    )
    _is_problem(response, 403, "forbidden")


def test_staff_open_on_behalf_with_received_at(stack, auth):
    received = datetime.now(UTC).replace(microsecond=0).isoformat()
    body = {**TICKET, "customer_id": "cust-phone-1", "received_at": received, "priority": "high"}
    response = requests.post(f"{stack.api}/v1/tickets", json=body, headers=auth("agents", "a-2"))
    assert response.status_code == 201, response.text
    assert (response.json()["customer_id"], response.json()["priority"]) == ("cust-phone-1", "high")

    missing = requests.post(f"{stack.api}/v1/tickets", json=TICKET, headers=auth("agents", "a-2"))
    assert _is_problem(missing, 400, "validation-failed")["errors"][0]["path"] == "customer_id"


def _tickets_of(stack, customer_id: str) -> int:
    response = stack.client("dynamodb").query(
        TableName=stack.table,
        IndexName="by_customer",
        KeyConditionExpression="customer_id = :c",
        ExpressionAttributeValues={":c": {"S": customer_id}},
    )
    return int(response["Count"])


_JSON = {"Content-Type": "application/json"}
_RAW_TICKET = (
    b'{"channel": "mobile", "kind": "consultation", "category": "card", "subject": "Card blocked"}'
)

BAD_REQUESTS: dict[str, tuple[dict[str, Any], int, list[str] | None]] = {
    "unknown-field": ({"json": {**TICKET, "colour": "red"}}, 400, ["colour"]),
    "staff-field": ({"json": {**TICKET, "priority": "urgent"}}, 400, ["priority"]),
    "missing-fields": ({"json": {"channel": "mobile"}}, 400, ["category", "kind", "subject"]),
    "bad-phone": (
        {"json": {**TICKET, "contact": {"phone": "13812348000"}}},
        400,
        ["contact.phone"],
    ),
    "malformed-json": (
        {"data": b'{"channel": ', "headers": {"Content-Type": "application/json"}},
        400,
        ["body"],
    ),
    "nul-byte": ({"json": {**TICKET, "subject": "a\u0000b"}}, 400, ["subject"]),
    "appointment-kind": ({"json": {**TICKET, "kind": "appointment"}}, 400, ["kind"]),
    "form-encoded": (
        {"data": "a=b", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
        None,
    ),
    "lone-surrogate": (
        {"data": _RAW_TICKET.replace(b"Card blocked", b"\\ud800"), "headers": _JSON},
        400,
        ["subject"],
    ),
    "huge-number": (
        {"data": _RAW_TICKET[:-1] + b', "description": 1e999}', "headers": _JSON},
        400,
        ["description"],
    ),
    "huge-integer": (
        {"data": _RAW_TICKET[:-1] + b', "tier": ' + b"9" * 5000 + b"}", "headers": _JSON},
        400,
        ["body"],
    ),
    "deep-nesting": (
        {"data": b'{"contact": ' + b"[" * 5000 + b"]" * 5000 + b"}", "headers": _JSON},
        400,
        ["body"],
    ),
    "too-large": ({"json": {**TICKET, "description": "x" * 70_000}}, 413, None),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_input_is_a_4xx_problem_and_writes_nothing(stack, auth, case):
    options, status, paths = BAD_REQUESTS[case]
    customer = f"cust-bad-{case}"
    headers = {**auth("customers", customer), **options.pop("headers", {})}
    response = requests.post(f"{stack.api}/v1/tickets", headers=headers, **options)
    body = _is_problem(response, status)
    if paths is not None:
        assert sorted({error["path"] for error in body["errors"]}) == paths
    assert _tickets_of(stack, customer) == 0


def test_wrong_method_is_a_405_problem(stack, auth):
    response = requests.delete(f"{stack.api}/v1/tickets", headers=auth("customers", "c"))
    _is_problem(response, 405)


def test_concurrent_callers_never_see_each_others_identity(stack, auth):
    customers = [f"cust-par-{n}" for n in range(16)]

    def create(customer: str) -> str:
        response = requests.post(
            f"{stack.api}/v1/tickets", json=TICKET, headers=auth("customers", customer)
        )
        assert response.status_code == 201, response.text
        return str(response.json()["customer_id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        owners = list(pool.map(create, customers))
    assert owners == customers


def test_cors_for_configured_origins_only(stack, auth):
    allowed = requests.get(f"{stack.api}/v1/health", headers={"Origin": "http://localhost:3000"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    # A browser reads a 429's or 503's Retry-After only when it is exposed (SPEC 2).
    exposed = allowed.headers["Access-Control-Expose-Headers"].split(",")
    assert {"ETag", "Location", "Retry-After"} <= set(exposed)
    other = requests.get(f"{stack.api}/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = requests.options(
        f"{stack.api}/v1/tickets",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


@pytest.fixture
def stack_storage(stack, monkeypatch):
    """This test process reads the stack's table through the same adapters the app uses."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)
    bootstrap.use(
        bootstrap.bootstrap(
            Settings.from_env(
                {
                    "SERVICEDESK_AUTH_MODE": "local-hs256",
                    "TABLE_NAME": stack.table,
                    "AWS_DEFAULT_REGION": "ap-east-1",
                    "SERVICEDESK_AWS_ENDPOINT_URL": stack.aws,
                }
            )
        )
    )
    yield bootstrap.container().reaction_ports().ledger
    bootstrap.use(None)


def test_stream_reaction_happens_once_and_redelivery_changes_nothing(stack, auth, stack_storage):
    ledger = stack_storage
    # The count lands on the Shanghai day of the creation: today or, past 16:00 UTC, tomorrow.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    keys = {
        str(day): CounterKey("created#channel", f"{day}#chatbot")
        for day in (today, today + timedelta(days=1))
    }
    counts = {day: ledger.counter(key) for day, key in keys.items()}
    response = requests.post(
        f"{stack.api}/v1/tickets",
        json={**TICKET, "channel": "chatbot"},
        headers=auth("customers", "cust-stream-1"),
    )
    assert response.status_code == 201
    created = datetime.fromisoformat(response.json()["created_at"])
    day = str(created.astimezone(ZoneInfo("Asia/Shanghai")).date())
    key, before = keys[day], counts[day]
    wait_for(lambda: ledger.counter(key) == before + 1)

    from chalicelib.handlers.stream import on_table_change

    records = _redeliverable(stack, response.json()["id"])
    result = on_table_change({"Records": records}, None)
    assert result == {"batchItemFailures": []}
    assert ledger.counter(key) == before + 1


def _redeliverable(stack, ticket_id: str) -> list[dict]:
    from local.pump import as_lambda_record

    streams = stack.client("dynamodbstreams")
    arn = stack.client("dynamodb").describe_table(TableName=stack.table)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    mine = [r for r in records if ticket_id in str(r["dynamodb"].get("Keys", {}))]
    assert mine, "the ticket's records are on the stream"
    return [as_lambda_record(record, arn) for record in mine]
