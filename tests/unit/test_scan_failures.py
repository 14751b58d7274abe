"""GuardDuty results that are no verdict (SPEC 11): a file the scanner cannot read is
`rejected_file` (problem `type`); a scan not done leaves the document `scanning`, never
served, and ops are alerted to scan it again."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from chalicelib.adapters.objects import GuardDutyScanner, guardduty_no_verdict
from chalicelib.domain.documents import DocumentStatus, FileProblem
from tests.documents_world import World, guardduty_event, scanned
from tests.fakes import InMemoryReactionLedger

NOT_DONE = ("ACCESS_DENIED", "FAILED", "SOMETHING_NEW")


def test_a_file_the_scanner_cannot_read_is_rejected_as_of_a_type_the_desk_cannot_take():
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    landed = world.upload(ticket)
    assert landed["status"] == "scanning"
    scanned(world, world.bucket.forms[-1][0], "UNSUPPORTED")
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None
    assert (document.status, document.problem) == (DocumentStatus.REJECTED_FILE, FileProblem.TYPE)
    received = [e for e in world.repository.events(ticket.id) if e.type == "document.received"]
    assert [(e.data["status"], e.data["problem"]) for e in received] == [("rejected_file", "type")]
    assert world.alerts.sent == []  # the customer's file, nothing for ops to fix
    # The checklist still misses the document: the customer hands it in again.
    after = world.ticket(ticket.id)
    assert after.application is not None and after.application.checklist[0].status == "missing"


@pytest.mark.parametrize("status", NOT_DONE)
def test_a_scan_not_done_keeps_the_document_scanning_unserved_and_alerts_ops_once(status: str):
    world = World(scanner=GuardDutyScanner())
    world.ports = replace(world.ports, ledger=InMemoryReactionLedger())  # as deployed
    ticket = world.open()
    landed = world.upload(ticket)
    key = world.bucket.forms[-1][0]
    scanned(world, key, status)
    scanned(world, key, status)  # a redelivery
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None
    assert (document.status, document.problem) == (DocumentStatus.SCANNING, None)
    assert not [e for e in world.repository.events(ticket.id) if e.type == "document.received"]
    (alert,) = world.alerts.sent
    assert alert.kind == "document.scan_failed"
    assert alert.details == {"document_id": landed["id"], "type": "id-card", "scan": status}
    # Ops fix the cause and scan it again: the verdict settles it as any other.
    scanned(world, key, "NO_THREATS_FOUND")
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is DocumentStatus.AVAILABLE


def test_a_redelivered_unreadable_file_changes_nothing_twice():
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    landed = world.upload(ticket)
    key = world.bucket.forms[-1][0]
    scanned(world, key, "UNSUPPORTED")
    scanned(world, key, "UNSUPPORTED")
    received = [e for e in world.repository.events(ticket.id) if e.type == "document.received"]
    assert len(received) == 1
    # A verdict that arrives after it changes nothing either.
    scanned(world, key, "NO_THREATS_FOUND")
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is DocumentStatus.REJECTED_FILE


def test_an_unreadable_file_before_the_s3_event_is_final_too():
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    added = world.add(ticket)
    scanned(world, added["key"], "UNSUPPORTED")
    world.bucket.put(added["key"], b"%PDF-1.4\n")
    world.land(added["key"])
    document = world.store.get(ticket.id, added["id"])
    assert document is not None and document.problem is FileProblem.TYPE


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
