"""Helpers for the tests that run against the local stack (`python -m local.run`): the
stack itself (started once per set of knobs), fresh phone numbers, report days, waiting.

The API, fuzz and browser suites import these; their conftest.py files hold only fixtures."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from local.stack import PROJECT_DIR, local_stack

REGION = "ap-east-1"


class Stack:
    def __init__(self, api_port: int, aws_port: int) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        self.aws = f"http://127.0.0.1:{aws_port}"
        self.table = "servicedesk"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def running_stack(log_name: str, **knobs: str) -> Generator[Stack, None, None]:
    """`python -m local.run` on free ports with these knobs, until the generator closes.

    `SERVICEDESK_TEST_STACK=api_port,aws_port` uses a `make run` already up instead
    (for debugging a test)."""
    existing = os.environ.get("SERVICEDESK_TEST_STACK")
    if existing:
        api, aws = (int(port) for port in existing.split(","))
        yield Stack(api, aws)
        return
    log_path = PROJECT_DIR / "build" / log_name
    with local_stack(log_path, SCHEDULE_INTERVAL_SECONDS="1", **knobs) as (api, aws):
        yield Stack(api, aws)


@dataclass
class _Shared:
    stack: Stack
    running: Generator[Stack, None, None]
    users: int = 0


_SHARED: dict[tuple[tuple[str, str], ...], _Shared] = {}


def shared_stack(log_name: str, **knobs: str) -> Iterator[Stack]:
    """`running_stack`, one per set of knobs in this pytest process: suites run in one
    session with the same knobs use one stack (`make test` runs the fuzzer, then the API
    suites on the stack it has just served)."""
    key = tuple(sorted(knobs.items()))
    shared = _SHARED.get(key)
    if shared is None:
        running = running_stack(log_name, **knobs)
        shared = _SHARED[key] = _Shared(next(running), running)
    shared.users += 1
    try:
        yield shared.stack
    finally:
        shared.users -= 1
        if not shared.users:
            del _SHARED[key]
            shared.running.close()


def api_tests_stack() -> Iterator[Stack]:
    """The stack of the API and fuzz suites' `stack` fixtures: one per session."""
    # Surveys: invited 1 s after resolution; each round's window 20 s, long enough for a
    # test to answer on a busy machine, short enough to watch one expire.
    yield from shared_stack(
        "api-tests-stack.log", SURVEY_DELAY_SECONDS="1", SURVEY_WINDOW_SECONDS="20"
    )


def fresh_phone(prefix: str = "+86139") -> str:
    """A fresh mobile number for one test. Never one ending in 99: moto's SNS reports
    those as opted out of SMS, and the desk then (rightly) texts them nothing."""
    while True:
        number = f"{prefix}{random.randrange(10**8):08d}"  # noqa: S311 - not a secret
        if not number.endswith("99"):
            return number


def report_days() -> dict[str, str]:
    """`from`/`to` of a report: yesterday to tomorrow on Asia/Shanghai days (SPEC). Counts read
    before and after an action then hold it even if the run crosses midnight there (16:00 UTC)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")
