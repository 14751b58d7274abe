"""Review (核查) with recusal, merge and possible duplicates through the real local stack."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.api.support import report_days, wait_for

COMPLAINT = {
    "channel": "web",
    "kind": "complaint",
    "category": "card",
    "subject": "Annual fee charged twice",
    "contact": {"phone": "+8613812348000"},
}
CONSULTATION = {**COMPLAINT, "kind": "consultation", "subject": "Card limit"}


class Client:
    def __init__(self, api: str, subject: str, headers: dict[str, str]) -> None:
        self.api = api
        self.id = subject
        self.headers = headers

    def post(self, path: str, body: Any, **headers: str) -> requests.Response:
        return requests.post(
            self.api + path, json=body, headers={**self.headers, **headers}, timeout=30
        )

    def get(self, path: str) -> requests.Response:
        return requests.get(self.api + path, headers=self.headers, timeout=30)

    def act(self, ticket_id: str, action: str, **params: Any) -> requests.Response:
        return self.post(f"/v1/tickets/{ticket_id}/actions", {"action": action, **params})


@pytest.fixture
def people(stack, auth) -> dict[str, Client]:
    run = uuid.uuid4().hex[:8]
    return {
        name: Client(stack.api, f"{name}-{run}", auth(group, f"{name}-{run}"))
        for name, group in {
            "owner": "customers",
            "stranger": "customers",
            "handler": "agents",
            "reviewer": "agents",
            "supervisor": "supervisors",
        }.items()
    }


def _resolved_complaint(people: dict[str, Client]) -> str:
    created = people["owner"].post("/v1/tickets", COMPLAINT)
    assert created.status_code == 201, created.text
    ticket_id: str = created.json()["id"]
    handler = people["handler"]
    assert handler.act(ticket_id, "assign").status_code == 200
    assert handler.act(ticket_id, "start").status_code == 200
    classified = handler.act(ticket_id, "classify", business="card", cause="fees")
    assert classified.status_code == 200, classified.text
    note = handler.post(f"/v1/tickets/{ticket_id}/comments", {"body": "Checked", "internal": True})
    assert note.status_code == 201
    resolved = handler.act(ticket_id, "resolve", resolution="The second fee was refunded")
    assert resolved.status_code == 200, resolved.text
    return ticket_id


def _reviews(people: dict[str, Client]) -> dict[str, int]:
    days = report_days()
    report = people["supervisor"].get(f"/v1/reports/complaints?from={days['from']}&to={days['to']}")
    assert report.status_code == 200, report.text
    reviews: dict[str, int] = report.json()["reviews"]
    return reviews


def test_a_review_is_handled_by_someone_else_than_who_handled_the_original(people):
    owner, handler, reviewer = people["owner"], people["handler"], people["reviewer"]
    original_id = _resolved_complaint(people)
    before = _reviews(people)
    key = {"Idempotency-Key": uuid.uuid4().hex}

    asked = owner.post(f"/v1/tickets/{original_id}/review", {"reason": "Fee not refunded"}, **key)
    again = owner.post(f"/v1/tickets/{original_id}/review", {"reason": "Fee not refunded"}, **key)

    assert asked.status_code == 201, asked.text
    assert (again.status_code, again.text) == (201, asked.text)
    review = asked.json()
    assert asked.headers["Location"] == f"/v1/tickets/{review['id']}"
    assert (review["kind"], review["queue"], review["tier"], review["priority"]) == (
        "complaint",
        "complaint-review",
        2,
        "high",
    )
    assert review["complaint"]["review_of"] == original_id
    assert review["merged_into"] is None
    original = owner.get(f"/v1/tickets/{original_id}").json()
    assert original["complaint"]["reviewed_by"] == review["id"]

    twice = owner.post(f"/v1/tickets/{original_id}/review", {"reason": "Again"})
    assert (twice.status_code, twice.json()["type"]) == (409, "review-exists")
    theirs = people["stranger"].post(f"/v1/tickets/{original_id}/review", {"reason": "x"})
    assert theirs.status_code == 404

    refused = handler.act(review["id"], "assign")
    assert (refused.status_code, refused.json()["type"]) == (403, "recusal")
    pushed = people["supervisor"].act(review["id"], "assign", assignee=handler.id)
    assert (pushed.status_code, pushed.json()["type"]) == (403, "recusal")
    note = handler.post(f"/v1/tickets/{review['id']}/comments", {"body": "I know this one"})
    assert (note.status_code, note.json()["type"]) == (403, "recusal")
    claimed = handler.post("/v1/queues/complaint-review/claim", None)
    assert claimed.status_code in (200, 204)
    if claimed.status_code == 200:
        assert claimed.json()["id"] != review["id"]

    assert reviewer.act(review["id"], "assign").status_code == 200
    assert reviewer.act(review["id"], "start").status_code == 200
    done = reviewer.act(review["id"], "resolve", resolution="Upheld: fee refunded")
    assert (done.status_code, done.json()["status"]) == (200, "resolved")

    # The regulator's report counts the review asked for and concluded (from the stream).
    def counted() -> bool:
        now = _reviews(people)
        return all(now[key] >= before[key] + 1 for key in ("requested", "concluded"))

    wait_for(counted)
    timeline = handler.get(f"/v1/tickets/{original_id}/timeline").json()["items"]
    requested = [e for e in timeline if e["type"] == "complaint.review_requested"]
    assert [e["data"]["review_id"] for e in requested] == [review["id"]]


def test_only_a_concluded_complaint_is_reviewed(people):
    owner = people["owner"]
    created = owner.post("/v1/tickets", COMPLAINT).json()
    refused = owner.post(f"/v1/tickets/{created['id']}/review", {"reason": "Too early"})
    assert (refused.status_code, refused.json()["type"]) == (409, "not-reviewable")
    bad = owner.post(f"/v1/tickets/{created['id']}/review", {"reason": "a\nb"})
    assert bad.status_code == 400
    assert {e["path"] for e in bad.json()["errors"]} == {"reason"}


def test_duplicates_are_flagged_and_merged_with_one_message(people, stack):
    owner, agent = people["owner"], people["handler"]
    first = owner.post("/v1/tickets", CONSULTATION).json()
    assert first["possible_duplicates"] == []
    key = {"Idempotency-Key": uuid.uuid4().hex}
    second = owner.post("/v1/tickets", CONSULTATION, **key)
    replay = owner.post("/v1/tickets", CONSULTATION, **key)
    assert second.status_code == 201
    assert second.json()["possible_duplicates"] == [first["id"]]
    assert replay.text == second.text
    source = second.json()["id"]

    itself = agent.act(source, "merge", into=source)
    assert (itself.status_code, itself.json()["type"]) == (409, "merge-mismatch")
    theirs = people["stranger"].post("/v1/tickets", CONSULTATION).json()["id"]
    across = agent.act(source, "merge", into=theirs)
    assert (across.status_code, across.json()["type"]) == (409, "merge-mismatch")
    by_owner = owner.act(source, "merge", into=first["id"])
    assert by_owner.status_code == 403

    merged = agent.act(source, "merge", into=first["id"])
    assert merged.status_code == 200, merged.text
    assert (merged.json()["status"], merged.json()["merged_into"]) == ("closed", first["id"])
    target = owner.get(f"/v1/tickets/{first['id']}").json()
    assert (target["status"], target["version"], target["merged_into"]) == ("new", 1, None)
    into_closed = agent.act(first["id"], "merge", into=source)
    assert (into_closed.status_code, into_closed.json()["type"]) == (409, "merge-mismatch")

    def told() -> list[dict[str, Any]]:
        items = agent.get(f"/v1/tickets/{first['id']}/timeline").json()["items"]
        return [e for e in items if e["data"].get("template") == "ticket.merged"]

    [sent] = wait_for(told)
    assert sent["type"] == "notification.sent"
    entries = agent.get(f"/v1/tickets/{first['id']}/timeline").json()["items"]
    [entry] = [e for e in entries if e["type"] == "ticket.merged"]
    assert entry["data"]["from"] == source
