"""Cold start as a customer pays it: `import app`, then the first authenticated
`GET /v1/tickets/{id}` (the authorizer's handler, then the API's handler, with the
Lambda events API Gateway sends), each in a fresh interpreter, against the floor:
the same third-party modules imported plus one DynamoDB GetItem. The difference is
what our own code costs (its modules, the container, validation, rendering).

Storage is a moto server on a free loopback port. Alternating runs, medians.
Prints figures and the ratio; it is a measurement, not a pass/fail test.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
RUNS = int(os.environ.get("COLD_START_RUNS", "15"))
REGION = "ap-east-1"
CUSTOMER = "cust-cold-start"

# Fresh interpreter: import the app, authorize, read one ticket; print the time and,
# optionally, every third-party module loaded by then.
FIRST_READ = """
import json, sys, time
start, cpu = time.perf_counter(), time.process_time()
import app
from chalicelib.api.auth import jwt_authorizer
arn = "arn:aws:execute-api:ap-east-1:123456789012:api1/api/GET/v1/tickets/" + TICKET
policy = jwt_authorizer({"type": "TOKEN", "authorizationToken": TOKEN, "methodArn": arn}, None)
event = {
    "resource": "/v1/tickets/{ticket_id}", "path": "/v1/tickets/" + TICKET, "httpMethod": "GET",
    "headers": {"Authorization": TOKEN, "Host": "api.bank.example"},
    "multiValueHeaders": {}, "queryStringParameters": None,
    "multiValueQueryStringParameters": None, "pathParameters": {"ticket_id": TICKET},
    "stageVariables": None, "body": None, "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/v1/tickets/{ticket_id}", "httpMethod": "GET",
                       "path": "/api/v1/tickets/" + TICKET, "stage": "api",
                       "requestId": "cold-start", "identity": {"sourceIp": "127.0.0.1"},
                       "authorizer": {"principalId": policy["principalId"], **policy["context"]}},
}
response = app.app(event, None)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
assert response["statusCode"] == 200, response
print(json.dumps({"seconds": elapsed, "cpu": cpu, "modules": third_party() if LIST else []}))
"""

THIRD_PARTY = """
def third_party():
    stdlib = set(sys.stdlib_module_names)
    def foreign(name):
        top = name.split(".")[0]
        return not (top in stdlib or top in ("app", "chalicelib") or top.startswith("_")
                    or top == "__main__" or top in sys.builtin_module_names)
    return [name for name in sys.modules if foreign(name)]
"""

# The floor: the same modules, then one consistent GetItem of the same ticket.
FLOOR = """
import importlib, json, time
start, cpu = time.perf_counter(), time.process_time()
for name in MODULES:
    importlib.import_module(name)
import botocore.session
client = botocore.session.get_session().create_client(
    "dynamodb", region_name=REGION, endpoint_url=ENDPOINT)
item = client.get_item(TableName=TABLE, ConsistentRead=True,
                       Key={"pk": {"S": "TICKET#" + TICKET}, "sk": {"S": "#TICKET"}})
assert "Item" in item
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""


def _run(
    code: str, env: dict[str, str], python: tuple[str, ...] = (), cwd: Path = PROJECT_DIR
) -> dict[str, Any]:
    """One sample in a fresh interpreter (`python`: its options, e.g. -S), run in `cwd`
    (which `python -c` puts first on its path)."""
    result = subprocess.run(
        [sys.executable, *python, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _median_ms(runs: list[dict[str, Any]], field: str) -> float:
    return float(statistics.median(run[field] for run in runs)) * 1000


def _prepare(endpoint: str) -> tuple[str, str]:
    """Resources from the template and one ticket, written through the desk itself."""
    from chalicelib import bootstrap
    from chalicelib.config import Settings
    from chalicelib.domain.identity import Caller, Role
    from chalicelib.domain.ticket import TicketRequest
    from chalicelib.service.tickets import StoredResponse, create_ticket
    from local.resources import create_resources

    resources = create_resources(endpoint_url=endpoint, region=REGION)
    settings = Settings.from_env(
        {
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "TABLE_NAME": resources["table_name"],
            "AWS_DEFAULT_REGION": REGION,
            "SERVICEDESK_AWS_ENDPOINT_URL": endpoint,
        }
    )
    request = TicketRequest(
        channel="mobile",
        kind="consultation",
        category="cards",
        subject="Card limit",
        description="",
        contact=None,
    )
    ports = bootstrap.bootstrap(settings).ticket_ports()
    created = create_ticket(
        ports, Caller(Role.CUSTOMER, CUSTOMER), request, lambda t: StoredResponse(201, t.id)
    )
    return resources["table_name"], created.body


class Stack(NamedTuple):
    """A moto server holding the template's table and one ticket, and what a sample needs."""

    env: dict[str, str]  # a sample's environment (PYTHONPATH: this checkout)
    ticket: str
    token: str
    table: str
    endpoint: str

    def first_read(self, *, list_modules: bool = False) -> str:
        values = f"TICKET = {self.ticket!r}\nTOKEN = {self.token!r}\n{THIRD_PARTY}"
        return f"{values}LIST = {list_modules}\n{FIRST_READ}"

    def floor(self, modules: list[str]) -> str:
        return (
            f"MODULES = {modules!r}\nTICKET = {self.ticket!r}\nTABLE = {self.table!r}\n"
            f"REGION = {REGION!r}\nENDPOINT = {self.endpoint!r}\n{FLOOR}"
        )


@contextmanager
def stack() -> Iterator[Stack]:
    from moto.server import ThreadedMotoServer

    from local.token import mint

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        os.environ[name] = value
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    endpoint = f"http://127.0.0.1:{port}"
    try:
        table, ticket = _prepare(endpoint)
        env = {
            "PYTHONPATH": str(PROJECT_DIR),
            "PATH": "/usr/bin:/bin",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "TABLE_NAME": table,
            "SERVICEDESK_AWS_ENDPOINT_URL": endpoint,
        }
        token = "Bearer " + mint("customers", CUSTOMER)
        yield Stack(env, ticket, token, table, endpoint)
    finally:
        server.stop()


def main() -> None:
    with stack() as local:
        # The first run lists the modules (and warms the bytecode caches).
        modules = _run(local.first_read(list_modules=True), local.env)["modules"]
        floor = local.floor(modules)
        _run(floor, local.env)
        app_runs, floor_runs = [], []
        for _ in range(RUNS):
            app_runs.append(_run(local.first_read(), local.env))
            floor_runs.append(_run(floor, local.env))
    app_ms, floor_ms = _median_ms(app_runs, "seconds"), _median_ms(floor_runs, "seconds")
    app_cpu, floor_cpu = _median_ms(app_runs, "cpu"), _median_ms(floor_runs, "cpu")
    tops = sorted({name.split(".")[0] for name in modules})
    print(f"third-party modules loaded by the first read: {len(modules)} from {', '.join(tops)}")
    print(f"import app + authorizer + first read (median of {RUNS}): {app_ms:.1f} ms")
    print(f"floor: the same modules + one GetItem (median of {RUNS}): {floor_ms:.1f} ms")
    # CPU time of the process: the same comparison, less sensitive to a busy machine.
    print(
        f"process CPU time: {app_cpu:.0f} ms vs floor {floor_cpu:.0f} ms: "
        f"ratio {app_cpu / floor_cpu:.2f}"
    )
    print(
        f"cold start + first read: {app_ms:.0f} ms vs floor {floor_ms:.0f} ms: "
        f"ratio {app_ms / floor_ms:.2f}"
    )


if __name__ == "__main__":
    main()
