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
import json
import os
from datetime import timedelta
from http.server import HTTPServer
from pathlib import Path
from socketserver import ForkingMixIn
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGatewayException

from chalicelib.api.auth import RejectedTokenError

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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # The app writes its own JSON request log; the default access log adds nothing.
        return


def build_server(host: str, port: int) -> LocalDevServer:
    from app import app
    from chalicelib import bootstrap

    # Load the business calendar once here: every forked request process inherits it
    # (as a warm Lambda instance keeps it) instead of loading it per request.
    bootstrap.container().calendar.add_working_time(bootstrap.utc_now(), timedelta(minutes=1))

    factory = CLIFactory(str(PROJECT_DIR))
    config = factory.create_config_obj(chalice_stage_name="local")
    return LocalDevServer(
        app,
        config,
        host,
        port,
        handler_cls=ProblemRequestHandler,
        server_cls=ForkingHTTPServer,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    args = parser.parse_args()
    server = build_server(args.host, args.port)
    with contextlib.suppress(KeyboardInterrupt):
        server.server.serve_forever()


if __name__ == "__main__":
    main()
