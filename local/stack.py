"""`python -m local.run` as a child process on free loopback ports, for the test suites
and the benchmarks: started, waited for until healthy, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
HEALTHY_WITHIN_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_stack(log_path: Path, **knobs: str) -> Iterator[tuple[int, int]]:
    """The stack's (API port, AWS port) while it runs, with these environment knobs;
    its output goes to `log_path`. Links in messages point at this stack's API."""
    api_port, aws_port = free_port(), free_port()
    env = {
        **os.environ,
        "API_PORT": str(api_port),
        "AWS_PORT": str(aws_port),
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
            _wait_healthy(f"http://127.0.0.1:{api_port}", process, log_path)
            yield api_port, aws_port
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_healthy(api: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("local stack exited:\n" + _tail(log_path))
        try:
            if requests.get(f"{api}/v1/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("local stack not healthy:\n" + _tail(log_path))


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:]
