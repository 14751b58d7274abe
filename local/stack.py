"""`python -m local.run` as a child process on free loopback ports, for the test suites
and the benchmarks: started, waited for until healthy, stopped.

The stack binds port 0 itself and writes the ports it holds, with the nonce it was given,
to a file; the wait reads that file and checks the nonce on the health answer, so two
suites started side by side never talk to each other's stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
HEALTHY_WITHIN_SECONDS = 120
# local.run's health answer carries the run's nonce in this header (local/api_server.py).
RUN_NONCE_HEADER = "X-Servicedesk-Run"


@contextmanager
def local_stack(log_path: Path, **knobs: str) -> Iterator[tuple[int, int]]:
    """The stack's (API port, AWS port) while it runs, with these environment knobs;
    its output goes to `log_path`. Links in messages point at this stack's API."""
    nonce = uuid.uuid4().hex
    ports_file = log_path.with_name(f"{log_path.name}.{nonce}.ports.json")
    env = {
        **os.environ,
        "API_PORT": "0",
        "AWS_PORT": "0",
        "SERVICEDESK_RUN_NONCE": nonce,
        "SERVICEDESK_PORTS_FILE": str(ports_file),
        "PYTHONPATH": str(PROJECT_DIR),
        **knobs,
    }
    env.pop("PUBLIC_BASE_URL", None)
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.run"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield wait_ready(ports_file, nonce, process, log_path)
        finally:
            ports_file.unlink(missing_ok=True)
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(
    ports_file: Path, nonce: str, process: subprocess.Popen[bytes], log_path: Path
) -> tuple[int, int]:
    """(API port, AWS port) once the stack has written them and its API answers the health
    check with this run's nonce; an error if it exits, or anything else answers there."""
    deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("local stack exited:\n" + _tail(log_path))
        if ports_file.exists():
            ports = json.loads(ports_file.read_text())
            _check_nonce(f"http://127.0.0.1:{ports['api']}", nonce, log_path)
            return int(ports["api"]), int(ports["aws"])
        time.sleep(0.2)
    raise RuntimeError("local stack not healthy:\n" + _tail(log_path))


def _check_nonce(api: str, nonce: str, log_path: Path) -> None:
    health = requests.get(f"{api}/v1/health", timeout=10)
    answered = health.headers.get(RUN_NONCE_HEADER)
    if health.status_code != 200 or answered != nonce:
        raise RuntimeError(
            f"{api} is not the stack started with nonce {nonce} "
            f"(health {health.status_code}, nonce {answered}):\n" + _tail(log_path)
        )


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:]
