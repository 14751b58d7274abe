"""HTTP inputs the OpenAPI document does not describe, so the fuzzer (tests/fuzz) never
sends them. Real adapters on moto, the requests through the Chalice app (its authorizer,
views and middleware).

Each answer must be a clean problem+json naming the field (or a 401), never a 500 and
never a body that cannot even be encoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client
from moto.dynamodb.exceptions import HashKeyTooLong, RangeKeyTooLong
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

import app as application
from chalicelib.api.auth import RejectedTokenError
from local.seed import seed_branches
from local.token import mint

REGION = "ap-east-1"
TICKET = {"channel": "mobile", "kind": "consultation", "category": "card", "subject": "Blocked"}
# DynamoDB's key size limits (bytes of UTF-8)
HASH_KEY_LIMIT, RANGE_KEY_LIMIT = 2048, 1024


@dataclass
class Desk:
    client: Client

    def send(
        self,
        method: str,
        path: str,
        raw: str | None = None,
        *,
        subject: str = "cust-1",
        group: str = "customers",
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = {"Authorization": f"Bearer {mint(group, subject)}", **(headers or {})}
        if raw is not None:
            sent["Content-Type"] = "application/json"
        body = b"" if raw is None else raw.encode("utf-8", "surrogatepass")
        return self.client.http.request(method, path, headers=sent, body=body)

    def opened(self, subject: str = "cust-1") -> dict[str, Any]:
        created = self.send("POST", "/v1/tickets", json.dumps(TICKET), subject=subject)
        assert created.status_code == 201, created.body
        return dict(json.loads(created.body))


@pytest.fixture
def desk(aws: dict[str, str]) -> Iterator[Desk]:
    with Client(application.app) as client:
        yield Desk(client)


@pytest.fixture
def key_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto checks key sizes on writes only; DynamoDB refuses a GetItem or Query whose
    key is over its limit too (ValidationException), so the reads here do as well."""

    def check(value: dict[str, Any] | None, limit: int, error: type[Exception]) -> None:
        if value and DynamoType(value).size() > limit:
            raise error()

    get_item, query = DynamoDBBackend.get_item, DynamoDBBackend.query

    def limited_get(self: Any, table_name: str, keys: dict[str, Any], *args: Any) -> Any:
        table = self.get_table(table_name)
        check(keys.get(table.hash_key_attr), HASH_KEY_LIMIT, HashKeyTooLong)
        check(keys.get(table.range_key_attr or ""), RANGE_KEY_LIMIT, RangeKeyTooLong)
        return get_item(self, table_name, keys, *args)

    def limited_query(
        self: Any, table: str, hash_key: Any, comparison: Any, ranges: Any, *args: Any, **kw: Any
    ) -> Any:
        check(hash_key, HASH_KEY_LIMIT, HashKeyTooLong)
        for value in ranges or []:
            check(value, RANGE_KEY_LIMIT, RangeKeyTooLong)
        return query(self, table, hash_key, comparison, ranges, *args, **kw)

    monkeypatch.setattr(DynamoDBBackend, "get_item", limited_get)
    monkeypatch.setattr(DynamoDBBackend, "query", limited_query)


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(response.body.decode("utf-8"))
    assert (body["type"], body["status"]) == (slug, status)
    return dict(body)


def test_the_key_limits_bite_like_dynamodb(aws: dict[str, str], key_limits: None):
    table = boto3.client("dynamodb", region_name=REGION)
    long_key = {"pk": {"S": "TICKET#" + "A" * HASH_KEY_LIMIT}, "sk": {"S": "#TICKET"}}
    with pytest.raises(ClientError, match="ValidationException"):
        table.get_item(TableName=aws["table_name"], Key=long_key)


@pytest.mark.parametrize("group", ["customers", "agents"])
def test_a_timeline_asked_for_an_id_no_ticket_can_have_is_a_404_not_a_500(
    desk: Desk, key_limits: None, group: str
):
    # A ticket read refused such an id before it became a key; the timeline's Query did not.
    path = "/v1/tickets/T-" + "A" * 3000 + "/timeline"
    _problem(desk.send("GET", path, group=group, subject="cust-1"), 404, "not-found")
    _problem(desk.send("GET", path + "?limit=500", group=group), 404, "not-found")


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("\\ud800", "top"),
        ("x\\udfff", "contact"),
        ("\\udc00", "application form"),
    ],
)
def test_a_field_name_with_a_lone_surrogate_is_a_400_that_can_be_sent(
    desk: Desk, field: str, where: str
):
    # The 400 named the unknown field with the client's own text: a lone surrogate in it
    # made the answer impossible to encode as UTF-8.
    body = json.dumps(TICKET)[:-1]
    if where == "top":
        raw = body + f', "{field}": 1}}'
    elif where == "contact":
        raw = body + f', "contact": {{"{field}": "x"}}}}'
    else:
        raw = json.dumps(
            {**TICKET, "kind": "application", "application": {"type": "address-change"}}
        )
        raw = raw[:-2] + f', "form": {{"{field}": "x"}}}}}}'
        raw = raw.replace('"category": "card", ', "")
    problem = _problem(desk.send("POST", "/v1/tickets", raw), 400, "validation-failed")
    paths = [error["path"] for error in problem["errors"]]
    assert paths and all("\ufffd" in path for path in paths), paths
    assert not [path for path in paths if any(0xD800 <= ord(c) <= 0xDFFF for c in path)]


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("POST", "/v1/tickets/{id}/comments", '{"body": "x", "\\ud800": true}'),
        ("POST", "/v1/tickets/{id}/actions", '{"action": "cancel", "\\ud800": 1}'),
        ("PUT", "/v1/customers/cust-1/preferences", '{"sms": true, "\\ud800": 1}'),
    ],
)
def test_every_validated_body_answers_a_lone_surrogate_field_name_with_a_400(
    desk: Desk, method: str, path: str, raw: str
):
    path = path.format(id=desk.opened()["id"])
    problem = _problem(desk.send(method, path, raw), 400, "validation-failed")
    assert "\ufffd" in [error["path"] for error in problem["errors"]]


@pytest.mark.parametrize(
    "subject",
    ["c" * 3000, "\U0001f600" * 600, "cust\ud800", "cust\n1", "cust 1", "客户"],
    ids=["3000 characters", "2400 bytes", "lone surrogate", "newline", "space", "not ascii"],
)
def test_a_token_whose_subject_is_no_id_the_api_takes_is_refused_not_a_500(
    desk: Desk, key_limits: None, subject: str
):
    # The subject is the customer id (keys, indexes, the audit log); one the API would
    # refuse as a customer_id broke the keys it became (500) or named a customer whose
    # own preferences were a 404. The authorizer refuses it: API Gateway answers 401.
    for method, path, raw in [("GET", "/v1/tickets", None), ("POST", "/v1/tickets", "{}")]:
        with pytest.raises(RejectedTokenError):
            desk.send(method, path, raw, subject=subject)


def test_a_subject_the_api_takes_as_a_customer_id_still_works(desk: Desk):
    subject = "a" * 128  # the longest customer id the API takes
    ticket = desk.opened(subject)
    assert ticket["customer_id"] == subject
    mine = desk.send("GET", "/v1/tickets", subject=subject)
    assert [item["id"] for item in json.loads(mine.body)["items"]] == [ticket["id"]]


@pytest.mark.parametrize("accept", ["text/csv", "text/html", "application/json;q=0", "image/*"])
def test_an_accept_naming_no_type_a_route_offers_is_a_406_on_every_route(desk: Desk, accept: str):
    # docs/api.md: 406 when Accept names no type the route offers; only the reports
    # negotiated, every other route answered JSON to whatever was asked.
    ticket = desk.opened()
    accepting = {"Accept": accept}
    _problem(
        desk.send("GET", f"/v1/tickets/{ticket['id']}", headers=accepting), 406, "not-acceptable"
    )
    created = desk.send("POST", "/v1/tickets", json.dumps(TICKET), headers=accepting)
    _problem(created, 406, "not-acceptable")
    mine = json.loads(desk.send("GET", "/v1/tickets").body)["items"]
    assert [item["id"] for item in mine] == [ticket["id"]]  # the refused POST wrote nothing


@pytest.mark.parametrize(
    "accept", ["*/*", "application/*", "text/csv;q=0.9, application/json;q=0.1", "application/json"]
)
def test_an_accept_allowing_json_gets_json(desk: Desk, accept: str):
    ticket = desk.opened()
    read = desk.send("GET", f"/v1/tickets/{ticket['id']}", headers={"Accept": accept})
    assert (read.status_code, read.headers["Content-Type"]) == (200, "application/json")


UNKNOWN_SURVEY = "/v1/surveys/" + "A" * 22


@pytest.mark.parametrize(
    ("accept", "json_answer"),
    [
        ("text/html;q=0.1, application/json", True),  # was the page: HTML came first
        ("application/json;q=0, text/html", False),  # was JSON: its q of 0 ignored
        ("application/json, text/plain, */*", True),  # a JS client's default
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        (None, False),
    ],
)
def test_the_survey_answers_json_or_its_page_as_the_q_values_say(
    desk: Desk, accept: str | None, json_answer: bool
):
    headers = {"Accept": accept} if accept else {}
    answer = desk.client.http.get(UNKNOWN_SURVEY, headers=headers)
    assert answer.status_code == 404
    expected = "application/problem+json" if json_answer else "text/html; charset=utf-8"
    assert answer.headers["Content-Type"] == expected


def test_the_survey_link_redirects_whatever_the_accept_header(desk: Desk):
    link = desk.client.http.get("/s/" + "A" * 22, headers={"Accept": "image/png"})
    assert link.status_code == 302  # a redirect has no body to negotiate
    _problem(
        desk.client.http.get(UNKNOWN_SURVEY, headers={"Accept": "image/png"}), 406, "not-acceptable"
    )


def test_the_contract_documents_the_406_wherever_an_answer_has_a_body():
    from chalicelib.api.openapi import openapi_document

    paths = openapi_document()["paths"]
    assert "406" in paths["/v1/tickets/{ticket_id}"]["get"]["responses"]
    assert "406" in paths["/v1/surveys/{code}"]["post"]["responses"]
    assert "406" not in paths["/s/{code}"]["get"]["responses"]


def _assigned(desk: Desk, if_match: str) -> Any:
    ticket = desk.opened()  # version 1
    body = json.dumps({"action": "assign"})
    headers = {"If-Match": if_match}
    return desk.send(
        "POST",
        f"/v1/tickets/{ticket['id']}/actions",
        body,
        subject="agent-1",
        group="agents",
        headers=headers,
    )


@pytest.mark.parametrize("if_match", ["*", '"1", "2"', '"1",', '"1"', 'W/"7", "1"', "1"])
def test_if_match_star_or_a_list_naming_the_version_lets_the_action_run(desk: Desk, if_match: str):
    # RFC 9110 13.1.1: `*` holds for any version of a ticket that exists, a list when one
    # of its tags matches; both were 400s.
    acted = _assigned(desk, if_match)
    assert acted.status_code == 200, acted.body
    assert json.loads(acted.body)["version"] == 2


@pytest.mark.parametrize("if_match", ['"2", "3"', '"0"', 'W/"1"', '"7", W/"1"', "W/1"])
def test_if_match_naming_other_versions_only_is_a_412(desk: Desk, if_match: str):
    # A weak tag never matches: If-Match uses the strong comparison (RFC 9110 13.1.1);
    # W/"1" counted as "1" and the action ran.
    _problem(_assigned(desk, if_match), 412, "version-mismatch")


@pytest.mark.parametrize("if_match", ['"\u0661"', '"1', "", ",", "W/*", '"1" "2"', '*, "1"'])
def test_if_match_that_is_no_etag_is_a_400_naming_the_header(desk: Desk, if_match: str):
    # An Arabic-Indic digit was read as the version 1 (a 412 instead of a 400).
    problem = _problem(_assigned(desk, if_match), 400, "validation-failed")
    assert [error["path"] for error in problem["errors"]] == ["If-Match"]


@pytest.mark.parametrize("charset", ["iso-8859-1", "gb2312", "utf-16"])
def test_a_json_body_in_another_charset_is_a_415_naming_it(desk: Desk, charset: str):
    # It was a 400 "not valid JSON" (Latin-1 bytes are no UTF-8), or read quietly as UTF-8.
    body = json.dumps({**TICKET, "subject": "caf\u00e9"}, ensure_ascii=False)

    def post(raw: bytes, named: str) -> Any:
        sent = {
            "Authorization": f"Bearer {mint('customers', 'cust-1')}",
            "Content-Type": f"application/json; charset={named}",
        }
        return desk.client.http.request("POST", "/v1/tickets", headers=sent, body=raw)

    for raw in (body.encode("latin-1"), json.dumps(TICKET).encode()):
        problem = _problem(post(raw, charset), 415, "unsupported-media-type")
        assert charset in problem["detail"]
    created = post(body.encode("utf-8"), "UTF-8")
    assert created.status_code == 201, created.body


@pytest.mark.parametrize(
    ("group", "path", "repeated"),
    [
        ("customers", "/v1/tickets?status=new&status=closed", "status"),
        ("customers", "/v1/tickets?limit=1&limit=2", "limit"),
        ("agents", "/v1/tickets?queue=a&queue=b", "queue"),
        ("agents", "/v1/inbox?status=open&status=linked", "status"),
        ("supervisors", "/v1/reports/summary?from=2026-12-01&to=2026-12-02&to=2026-12-03", "to"),
        (
            "auditors",
            "/v1/reports/complaints?from=2026-12-01&from=2026-12-02&to=2026-12-03",
            "from",
        ),
        ("auditors", "/v1/audit?actor=a&actor=b", "actor"),
    ],
)
def test_a_query_parameter_sent_twice_is_a_400_naming_it(
    desk: Desk, group: str, path: str, repeated: str
):
    # Chalice keeps the last value: ?status=new&status=closed listed the closed tickets.
    problem = _problem(desk.send("GET", path, group=group), 400, "validation-failed")
    assert problem["errors"] == [{"path": repeated, "message": "was sent more than once"}]


# An id parameter with a control character (percent-encoded), by the route's reader.
_UNSAFE_IDS = {
    "agents": ["customer_id=cust%0D%0A1", "queue=cards%00", "reference=SD-7K4Q%0A9M2P"],
    "supervisors": ["assignee=agent%091"],
    "auditors": ["actor=agent%0A7", "actor=agent%E2%80%A87"],  # LF; U+2028
}


@pytest.mark.parametrize(
    ("group", "query"),
    [(group, query) for group, queries in _UNSAFE_IDS.items() for query in queries],
)
def test_an_id_parameter_with_a_control_character_is_a_400_naming_it(
    desk: Desk, group: str, query: str
):
    # Spec review 2, Low 11: only their length was checked, and the raw value went into
    # the audit entries of the list read.
    route = "/v1/audit" if group == "auditors" else "/v1/tickets"
    problem = _problem(desk.send("GET", f"{route}?{query}", group=group), 400, "validation-failed")
    assert [error["path"] for error in problem["errors"]] == [query.partition("=")[0]]


def test_a_repeated_parameter_of_a_route_the_role_may_not_use_is_still_a_403(desk: Desk):
    path = "/v1/reports/summary?from=2026-12-01&from=2026-12-02&to=2026-12-03"
    _problem(desk.send("GET", path), 403, "forbidden")


def _limit_increase(requested_limit: str) -> str:
    form = f'{{"card_last4": "1234", "requested_limit": {requested_limit}}}'
    return (
        '{"channel": "mobile", "kind": "application", "subject": "Higher limit", '
        f'"application": {{"type": "card-limit-increase", "form": {form}}}}}'
    )


def test_a_whole_number_written_with_an_exponent_is_that_integer(desk: Desk):
    # `1e5` parsed as the float 100000.0: stored and answered as 100000.0, and a retry
    # writing it 100000 (the same JSON number) was a 422 idempotency-key-reused.
    key = {"Idempotency-Key": "limit-1"}
    created = desk.send("POST", "/v1/tickets", _limit_increase("1e5"), headers=key)
    assert created.status_code == 201, created.body
    assert '"requested_limit": 100000}' in created.body.decode()
    again = desk.send("POST", "/v1/tickets", _limit_increase("100000"), headers=key)
    assert (again.status_code, again.body) == (201, created.body)
    fraction = desk.send("POST", "/v1/tickets", _limit_increase("100000.5"))
    problem = _problem(fraction, 400, "validation-failed")
    assert [error["path"] for error in problem["errors"]] == ["application.form.requested_limit"]


def _appointment(desk: Desk, table: str) -> tuple[str, str]:
    """A branch's id and an appointment booked there at its first free slot."""
    seed_branches(boto3.client("dynamodb", region_name=REGION), table)
    branch = json.loads(desk.send("GET", "/v1/branches").body)[0]["id"]
    day = date.today()
    while True:
        day += timedelta(days=1)
        slots = json.loads(desk.send("GET", f"/v1/branches/{branch}/slots?date={day}").body)
        if free := [slot["start"] for slot in slots if slot["available"]]:
            break
    booking = {"branch_id": branch, "slot_start": free[0], "category": "card", "subject": "Visit"}
    booked = desk.send("POST", "/v1/appointments", json.dumps(booking))
    assert booked.status_code == 201, booked.body
    return branch, json.loads(booked.body)["id"]


@pytest.mark.parametrize(
    "slot_start", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "9999-12-31T20:00:00-05:00"]
)
def test_a_date_time_no_time_zone_can_show_is_a_400_not_a_500(
    desk: Desk, aws: dict[str, str], slot_start: str
):
    # Moved to UTC or to the branch's zone, these left `datetime` (OverflowError, a 500).
    branch, appointment = _appointment(desk, aws["table_name"])
    booking = {
        "branch_id": branch,
        "slot_start": slot_start,
        "category": "card",
        "subject": "Visit",
    }
    booked = desk.send("POST", "/v1/appointments", json.dumps(booking))
    problem = _problem(booked, 400, "validation-failed")
    assert [error["path"] for error in problem["errors"]] == ["slot_start"]
    moved = json.dumps({"action": "reschedule", "slot_start": slot_start})
    rescheduled = desk.send("POST", f"/v1/tickets/{appointment}/actions", moved)
    problem = _problem(rescheduled, 400, "validation-failed")
    assert [error["path"] for error in problem["errors"]] == ["slot_start"]
