"""Schemathesis against the OpenAPI document the running stack serves (GET /v1/openapi.json).

The Schemathesis CLI runs its examples, coverage (boundary and invalid values, other
methods) and fuzzing phases on every operation of the served document, so routes added
later are fuzzed without touching this file. As an agent with every phase, as a customer
with examples and fuzzing (the coverage phase's boundary values are the same for both and
cost most of the budget); path parameters named in `real_ids` point at real objects in
half of the cases, so 2xx answers are checked too. Bounded (examples per operation) and
deterministic (fixed seed, deterministic generation): about a minute on the shared box.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from local.token import mint
from tests.api.support import Stack

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",  # ETag, Location, Retry-After as documented
    )
)
EXAMPLES_PER_OPERATION = 6
SEED = 20261128
ROLES = {"customer": ("customers", "cust-fuzz"), "agent": ("agents", "agent-fuzz")}
PHASES = {"agent": "examples,coverage,fuzzing", "customer": "examples,fuzzing"}
# Methods no route has, besides the documented ones, tried by the coverage phase.
UNEXPECTED_METHODS = '["DELETE", "PATCH", "TRACE", "QUERY"]'
TICKET = {
    "channel": "mobile",
    "kind": "complaint",
    "category": "card",
    "subject": "Fuzzed ticket",
    "contact": {"phone": "+8613812348000", "email": "fuzz@example.com"},
}


def real_ids(stack: Stack) -> dict[str, list[str]]:
    """Objects that exist, by path parameter name (add new routes' ids here)."""
    headers = {"Authorization": f"Bearer {mint(*ROLES['customer'])}"}
    tickets = []
    for _ in range(3):
        created = requests.post(f"{stack.api}/v1/tickets", json=TICKET, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        tickets.append(created.json())
    branches = requests.get(f"{stack.api}/v1/branches", headers=headers, timeout=10).json()
    document = requests.post(
        f"{stack.api}/v1/tickets/{tickets[0]['id']}/documents",
        json={
            "type": "other",
            "filename": "fuzz.pdf",
            "content_type": "application/pdf",
            "size": 100,
            "sha256": "0" * 64,
        },
        headers=headers,
        timeout=10,
    )
    assert document.status_code == 201, document.text
    return {
        "ticket_id": [ticket["id"] for ticket in tickets],
        "customer_id": ["cust-fuzz"],
        "queue": [tickets[0]["queue"]],
        "branch_id": [branch["id"] for branch in branches],
        "document_id": [document.json()["id"]],
        "item_id": inbox_items(stack),
    }


def inbox_items(stack: Stack, count: int = 3) -> list[str]:
    """Triage items made the way SES would (a stranger's mail in the inbound bucket)."""
    import argparse
    import time

    from local.mail import build, drop

    for number in range(count):
        mail = argparse.Namespace(
            sender=f"fuzz{number}@elsewhere.example",
            to="help@bank.example",
            subject=f"Fuzz {number}",
            in_reply_to=None,
            attach=[],
            fail_verdicts=False,
            text="Fuzzed mail",
        )
        drop(build(mail), endpoint_url=stack.aws)
    headers = {"Authorization": f"Bearer {mint(*ROLES['agent'])}"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = requests.get(f"{stack.api}/v1/inbox", headers=headers, timeout=10).json()["items"]
        found = [item["id"] for item in items if item.get("subject", "").startswith("Fuzz ")]
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError("the fuzzer's triage items did not arrive")


def write_config(directory: Path, ids: dict[str, list[str]]) -> Path:
    lines = []
    for name, values in ids.items():
        quoted = ", ".join(f'"{value}"' for value in values)
        lines += [f"[dictionaries.{name}]", f"values = [{quoted}]", ""]
    lines += ["[phases.coverage]", f"unexpected-methods = {UNEXPECTED_METHODS}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    config = directory / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def fuzz_config(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("fuzz"), real_ids(stack))


def run_schemathesis(stack: Stack, config: Path, role: str) -> subprocess.CompletedProcess[str]:
    command: list[Any] = [
        Path(sys.executable).with_name("st"),
        "--config-file",
        config,
        "run",
        f"{stack.api}/v1/openapi.json",
        "--url",
        stack.api,
        "--header",
        f"Authorization: Bearer {mint(*ROLES[role])}",
        "--checks",
        CHECKS,
        "--phases",
        PHASES[role],
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--continue-on-failure",
    ]
    return subprocess.run(
        [str(part) for part in command],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=540,  # a hang guard under pytest's 600 s, not a time limit on the run
        check=False,
    )


@pytest.mark.timeout(600)  # bounded by case count; the shared machine may be slow
@pytest.mark.parametrize("role", ROLES)
def test_served_openapi_document_holds(stack, fuzz_config, role):
    result = run_schemathesis(stack, fuzz_config, role)
    summary = result.stdout[result.stdout.find("SUMMARY") :]
    assert "Tested: 0" not in summary, result.stdout[-3000:]
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
