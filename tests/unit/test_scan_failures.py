"""GuardDuty results that are no verdict (SPEC 11): the document leaves `scanning` for a
defined outcome (`rejected_file`, problem `scan`) and ops are alerted."""

from __future__ import annotations

import pytest

from chalicelib.adapters.objects import GuardDutyScanner, guardduty_no_verdict
from chalicelib.domain.documents import DocumentStatus, FileProblem
from tests.documents_world import World, guardduty_event, scanned

NO_VERDICTS = ("UNSUPPORTED", "ACCESS_DENIED", "FAILED")


@pytest.mark.parametrize("status", NO_VERDICTS)
def test_a_result_that_is_no_verdict_rejects_the_file_and_alerts_ops(status: str):
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    landed = world.upload(ticket)
    assert landed["status"] == "scanning"
    scanned(world, world.bucket.forms[-1][0], status)
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None
    assert (document.status, document.problem) == (DocumentStatus.REJECTED_FILE, FileProblem.SCAN)
    received = [e for e in world.repository.events(ticket.id) if e.type == "document.received"]
    assert [(e.data["status"], e.data["problem"]) for e in received] == [("rejected_file", "scan")]
    (alert,) = world.alerts.sent
    assert alert.kind == "document.scan_failed"
    assert alert.details == {"document_id": landed["id"], "type": "id-card", "scan": status}
    # The checklist still misses the document: the customer hands it in again.
    after = world.ticket(ticket.id)
    assert after.application is not None and after.application.checklist[0].status == "missing"


def test_a_redelivered_no_verdict_changes_nothing_twice():
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    landed = world.upload(ticket)
    key = world.bucket.forms[-1][0]
    scanned(world, key, "FAILED")
    scanned(world, key, "FAILED")
    received = [e for e in world.repository.events(ticket.id) if e.type == "document.received"]
    assert len(received) == 1 and len(world.alerts.sent) == 1
    # A verdict that arrives after it changes nothing either.
    scanned(world, key, "NO_THREATS_FOUND")
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is DocumentStatus.REJECTED_FILE


def test_no_verdict_before_the_s3_event_is_final_too():
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    added = world.add(ticket)
    scanned(world, added["key"], "ACCESS_DENIED")
    world.bucket.put(added["key"], b"%PDF-1.4\n")
    world.land(added["key"])
    document = world.store.get(ticket.id, added["id"])
    assert document is not None and document.problem is FileProblem.SCAN


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("NO_THREATS_FOUND", None),
        ("THREATS_FOUND", None),
        ("UNSUPPORTED", "UNSUPPORTED"),
        ("ACCESS_DENIED", "ACCESS_DENIED"),
        ("FAILED", "FAILED"),
        ("SOMETHING_NEW", "SOMETHING_NEW"),
    ],
)
def test_the_guardduty_result_maps_to_no_verdict(status: str, expected: str | None):
    found = guardduty_no_verdict(guardduty_event("documents/T-1/abc", status))
    assert (found[2] if found else None) == expected


def test_an_event_that_names_no_object_is_ignored():
    assert guardduty_no_verdict({"detail": {"scanResultDetails": {}}}) is None
    assert guardduty_no_verdict({"detail": "x"}) is None
