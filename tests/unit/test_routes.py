"""The route table (chalicelib/data/routes.json) is the one declaration of every route's
contract: each row is taken by exactly one view, a view or row that does not fit stops
the API at start-up, and the filters it lists are the code's enums."""

import json
from typing import Any

import pytest
from chalice.app import Blueprint

import app  # noqa: F401 - registers every route
from chalicelib.api.http import (
    OPERATIONS,
    ROUTES,
    ROUTES_FILE,
    RouteTableError,
    api_route,
    load_routes,
)
from chalicelib.api.validation import SCHEMA_DIR
from chalicelib.domain.inbox import InboxStatus
from chalicelib.domain.statuses import STATUSES


def test_every_row_is_taken_by_exactly_one_view():
    declared = [f"{operation.method} {operation.path}" for operation in OPERATIONS]
    assert sorted(declared) == sorted(ROUTES)
    assert len(declared) == len(set(declared))


def test_a_view_naming_no_row_stops_the_api():
    with pytest.raises(RouteTableError, match="GET /v1/nowhere"):
        api_route(Blueprint("test"), "GET /v1/nowhere")


def test_the_rows_are_the_files():
    rows = json.loads(ROUTES_FILE.read_text(encoding="utf-8"))["routes"]
    assert list(rows) == list(ROUTES)
    claim = ROUTES["POST /v1/queues/{queue}/claim"]
    assert (claim.method, claim.path, claim.roles) == (
        "POST",
        "/v1/queues/{queue}/claim",
        ("agent", "supervisor"),
    )
    assert claim.responses == {200: "ticket", 204: None, 403: None, 404: None}


def _table(**row: Any) -> bytes:
    routes = {"GET /v1/x": {"summary": "X", "tag": "x", "responses": {"200": None}, **row}}
    return json.dumps({"_about": "test", "parameters": {"limit": {}}, "routes": routes}).encode()


@pytest.mark.parametrize(
    ("row", "wrong"),
    [
        ({}, "roles or is public"),
        ({"public": True, "roles": ["agent"]}, "roles or is public"),
        ({"roles": ["agent"], "parameters": ["limit", "page"]}, "page"),
        ({"roles": ["agent"], "summery": "typo"}, "summery"),
        ({"roles": ["agent"], "responses": {"ok": None}}, "responses"),
    ],
)
def test_a_row_that_does_not_fit_stops_the_api(row, wrong):
    with pytest.raises(RouteTableError, match=wrong):
        load_routes(_table(**row))


def test_a_key_must_be_a_method_and_a_path():
    raw = _table(roles=["agent"]).replace(b'"GET /v1/x"', b'"FETCH /v1/x"')
    with pytest.raises(RouteTableError, match="FETCH"):
        load_routes(raw)


def test_every_schema_a_row_names_is_shipped():
    named = {
        name
        for operation in ROUTES.values()
        for name in (operation.request_schema, *operation.responses.values())
        if name is not None
    }
    shipped = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert named - shipped == set()


def _filter(route: str, name: str) -> list[str]:
    [parameter] = [p for p in ROUTES[route].parameters if p["name"] == name]
    enum: list[str] = parameter["schema"]["enum"]
    return enum


def test_the_status_filters_offer_the_codes_statuses_in_order():
    assert _filter("GET /v1/tickets", "status") == [str(status) for status in STATUSES]
    assert _filter("GET /v1/inbox", "status") == [status.value for status in InboxStatus]
