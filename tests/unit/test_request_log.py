"""The one log line per API request (api/http.py): ids from the route's own parameters
only. A redirect's Location may carry a secret (GET /s/{code} -> /v1/surveys/{code}):
it never reaches the log (security review L1)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from chalice.app import Chalice, Response
from chalice.test import Client

from chalicelib.api.http import problem_middleware
from chalicelib.logs import logger

CODE = "SECRETSURVEYCODE123"
TICKET = "T-01JABCDEFGHJKMNPQRSTVWXYZ0"


def _app() -> Chalice:
    app = Chalice("request-log-test")
    app.register_middleware(problem_middleware(lambda: ()), "http")

    @app.route("/s/{code}")
    def survey_link(code: str) -> Response:
        return Response(body="", status_code=302, headers={"Location": f"/v1/surveys/{code}"})

    @app.route("/v1/tickets", methods=["POST"])
    def create() -> Response:
        return Response(body="{}", status_code=201, headers={"Location": f"/v1/tickets/{TICKET}"})

    @app.route("/v1/tickets/{ticket_id}")
    def read(ticket_id: str) -> Response:
        return Response(body="{}", status_code=200)

    return app


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)  # the JSON lines Lambda writes
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)  # type: ignore[attr-defined]


def _request_lines(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "request"]


def test_a_survey_links_code_never_reaches_the_log(logged: io.StringIO):
    with Client(_app()) as client:
        response = client.http.get(f"/s/{CODE}")
    assert response.status_code == 302 and response.headers["Location"].endswith(CODE)
    [line] = _request_lines(logged)  # the capture works
    assert line["status"] == 302 and line.get("ticket_id") is None
    assert CODE not in logged.getvalue()


def test_the_ticket_id_comes_from_the_route_or_a_created_tickets_location(logged: io.StringIO):
    """Ops find the request that created a ticket by its id (saved query
    servicedesk/requests-of-a-ticket); only a 201's /v1/tickets/<id> Location is read."""
    with Client(_app()) as client:
        client.http.get(f"/v1/tickets/{TICKET}")
        client.http.post("/v1/tickets", body=b"{}", headers={"Content-Type": "application/json"})
    read, created = _request_lines(logged)
    assert read["ticket_id"] == TICKET
    assert created["status"] == 201 and created["ticket_id"] == TICKET
