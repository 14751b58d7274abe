"""The test harness's wait for its local stack (local/stack.py): the stack reports the ports it
bound, and only an API answering with the run's nonce counts as that stack."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from local.stack import RUN_NONCE_HEADER, wait_ready


def _health_server(nonce: str | None) -> HTTPServer:
    """A server on a free loopback port answering GET /v1/health 200, with `nonce` if any."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200 if self.path == "/v1/health" else 404)
            if nonce:
                self.send_header(RUN_NONCE_HEADER, nonce)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def running() -> Iterator[subprocess.Popen[bytes]]:
    """Stands in for the started `local.run` process: alive while the harness waits."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def _ports_file(tmp_path: Path, server: HTTPServer) -> Path:
    (tmp_path / "log").write_text("")
    path = tmp_path / "stack.ports.json"
    path.write_text(json.dumps({"api": server.server_address[1], "aws": 4566, "nonce": "x"}))
    return path


@pytest.mark.parametrize("answered", [None, "another-run"])
def test_a_healthy_api_of_another_run_is_not_taken_for_ours(tmp_path, running, answered):
    other = _health_server(answered)  # e.g. another suite's stack, on the port we were told
    try:
        with pytest.raises(RuntimeError, match="is not the stack started with nonce our-run"):
            wait_ready(_ports_file(tmp_path, other), "our-run", running, tmp_path / "log")
    finally:
        other.shutdown()
        other.server_close()


def test_the_ports_the_stack_wrote_are_used_once_its_api_answers_with_our_nonce(tmp_path, running):
    ours = _health_server("our-run")
    try:
        ports = wait_ready(_ports_file(tmp_path, ours), "our-run", running, tmp_path / "log")
    finally:
        ours.shutdown()
        ours.server_close()
    assert ports == (ours.server_address[1], 4566)


def test_a_stack_that_exits_before_writing_its_ports_is_reported(tmp_path):
    (tmp_path / "log").write_text("port 8000 is in use")
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    exited.wait()
    with pytest.raises(RuntimeError, match="exited:\nport 8000 is in use"):
        wait_ready(tmp_path / "never.json", "our-run", exited, tmp_path / "log")
