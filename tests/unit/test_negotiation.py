"""Content negotiation (RFC 9110 12.5.1) for the report routes: JSON, and CSV for the
complaint report only; an Accept naming nothing offered is a 406."""

from __future__ import annotations

import pytest

import app  # noqa: F401 - registers every route
from chalicelib.api.http import CSV, HTML, JSON, negotiate
from chalicelib.api.openapi import openapi_document
from chalicelib.domain.errors import NotAcceptableError

BOTH = (JSON, CSV)


@pytest.mark.parametrize(
    ("accept", "offered", "chosen"),
    [
        (None, BOTH, JSON),
        ("", BOTH, JSON),
        ("*/*", BOTH, JSON),
        ("text/csv", BOTH, CSV),
        ("Text/CSV", BOTH, CSV),
        ("text/*", BOTH, CSV),
        ("text/csv;q=0.4, application/json;q=0.5", BOTH, JSON),
        ("text/csv, application/json", BOTH, JSON),  # a tie: the order offered
        ("application/json;q=0, */*", BOTH, CSV),
        ("text/csv, */*;q=0.1", (JSON,), JSON),
        ("application/*", (JSON,), JSON),
        # equal q: the type named over one a wildcard matched (a JS client's default)
        ("application/json, text/plain, */*", (HTML, JSON), JSON),
        ("*/*", (HTML, JSON), HTML),
        ("text/html;q=0.1, application/json", (HTML, JSON), JSON),
    ],
)
def test_the_preferred_offered_type(accept, offered, chosen):
    assert negotiate(accept, offered) == chosen


@pytest.mark.parametrize("accept", ["text/csv", "text/html", "application/json;q=0", "x;q=abc"])
def test_nothing_acceptable_is_a_406(accept):
    with pytest.raises(NotAcceptableError):
        negotiate(accept, (JSON,))


def test_the_contract_documents_csv_and_406_on_the_reports_and_202_on_actions():
    paths = openapi_document()["paths"]
    complaints = paths["/v1/reports/complaints"]["get"]["responses"]
    assert set(complaints["200"]["content"]) == {JSON, CSV}
    assert "406" in complaints
    summary = paths["/v1/reports/summary"]["get"]["responses"]
    assert set(summary["200"]["content"]) == {JSON}
    assert "406" in summary
    assert "202" in paths["/v1/tickets/{ticket_id}/actions"]["post"]["responses"]
    assert "/v1/complaint-codes" in paths
