"""`chalice local` for servicedesk, one request per process.

Chalice keeps the current request on the shared app object (aws/chalice#759),
so its threaded dev server can show one caller another caller's identity.
Lambda serves one request per instance; here every connection is handled in a
forked child process, which gives the same isolation. The handler also shapes
the gateway's own 401/403 answers as problem+json, as the deployed stage's
gateway responses do.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import socket
from datetime import timedelta
from http.server import HTTPServer
from pathlib import Path
from socketserver import ForkingMixIn
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGatewayException

from chalicelib.api.auth import RejectedTokenError
from local.stack import RUN_NONCE_HEADER

PROJECT_DIR = Path(__file__).resolve().parent.parent
_GATEWAY_PROBLEMS = {
    401: ("unauthorized", "Authentication is required", "A valid bearer token is required"),
    403: (
        "forbidden",
        "Access denied",
        "The gateway refused the request (unknown route or access)",
    ),
}


class ForkingHTTPServer(ForkingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    max_children = 64
    # socketserver's default backlog is 5: a burst of concurrent clients (the idempotency
    # race tests) on a busy machine got connection resets instead of a queue.
    request_queue_size = 128


class InheritedSocketServer(ForkingHTTPServer):
    """Serves a socket its parent bound and listens on (`local.run`: bound to a free port
    and kept, so no other process can take the port before the API serves it)."""

    def __init__(self, address: Any, handler: Any, listen_fd: int) -> None:
        super().__init__(address, handler, bind_and_activate=False)
        self.socket.close()
        self.socket = socket.socket(fileno=listen_fd)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class ProblemRequestHandler(ChaliceRequestHandler):
    def _generic_handle(self) -> None:
        try:
            super()._generic_handle()
        except RejectedTokenError:
            self._send_problem(401, {})

    # The parent binds its verbs to its own _generic_handle; rebind them to ours.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, QUERY...) goes to the app too, which answers a
        # 405 problem; http.server alone answers 501 with an HTML page (Schemathesis found it).
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        self._send_problem(error.CODE, dict(error.headers))

    def _send_problem(self, status: int, headers: dict[str, Any]) -> None:
        slug, title, detail = _GATEWAY_PROBLEMS.get(status, ("error", "Error", "Error"))
        body = {"type": slug, "title": title, "status": status, "detail": detail}
        headers["Content-Type"] = "application/problem+json"
        self._send_http_response(status, headers, json.dumps(body))

    def end_headers(self) -> None:
        # `local.run`'s nonce on the health answer: a harness checks it reached its own stack.
        nonce = os.environ.get("SERVICEDESK_RUN_NONCE")
        if nonce and self.path.split("?")[0] == "/v1/health":
            self.send_header(RUN_NONCE_HEADER, nonce)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # The app writes its own JSON request log; the default access log adds nothing.
        return


def build_server(host: str, port: int, listen_fd: int | None = None) -> LocalDevServer:
    from app import app
    from chalicelib import bootstrap

    # Load the business calendar once here: every forked request process inherits it
    # (as a warm Lambda instance keeps it) instead of loading it per request.
    bootstrap.container().calendar.add_working_time(bootstrap.utc_now(), timedelta(minutes=1))

    factory = CLIFactory(str(PROJECT_DIR))
    config = factory.create_config_obj(chalice_stage_name="local")
    server_cls: Any = ForkingHTTPServer
    if listen_fd is not None:
        server_cls = functools.partial(InheritedSocketServer, listen_fd=listen_fd)
    server = LocalDevServer(
        app,
        config,
        host,
        port,
        handler_cls=ProblemRequestHandler,
        server_cls=server_cls,
    )
    server.port = server.server.server_address[1]  # the bound one ("Serving on ...")
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    parser.add_argument("--listen-fd", type=int, help="serve this listening socket instead")
    args = parser.parse_args()
    server = build_server(args.host, args.port, args.listen_fd)
    with contextlib.suppress(KeyboardInterrupt):
        server.server.serve_forever()


if __name__ == "__main__":
    main()
