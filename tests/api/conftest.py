"""API tests: real HTTP against the local stack (`python -m local.run`), started once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.token import mint

PROJECT_DIR = Path(__file__).resolve().parents[2]
REGION = "ap-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    api_port, aws_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "API_PORT": str(api_port),
        "AWS_PORT": str(aws_port),
        "PYTHONPATH": str(PROJECT_DIR),
        "SCHEDULE_INTERVAL_SECONDS": "1",
        **knobs,
    }
    env.pop("PUBLIC_BASE_URL", None)  # links in messages must point at this stack's API
    log_path = PROJECT_DIR / "build" / log_name
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.run"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        running = Stack(api_port, aws_port)
        try:
            _wait_healthy(running, process, log_path)
            yield running
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


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


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Surveys: invited 1 s after resolution; each round's window 20 s, long enough for a
    # test to answer on a busy machine, short enough to watch one expire.
    yield from shared_stack(
        "api-tests-stack.log", SURVEY_DELAY_SECONDS="1", SURVEY_WINDOW_SECONDS="20"
    )


def _wait_healthy(stack: Stack, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                "local stack exited:\n" + log_path.read_text(errors="replace")[-4000:]
            )
        try:
            if requests.get(f"{stack.api}/v1/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("local stack not healthy:\n" + log_path.read_text(errors="replace")[-4000:])


@pytest.fixture
def token() -> Callable[..., str]:
    def make(group: str, subject: str, **options: Any) -> str:
        return mint(group, subject, **options)

    return make


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[[str, str], dict[str, str]]:
    def headers(group: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(group, subject)}"}

    return headers


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")
