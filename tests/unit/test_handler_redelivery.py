"""The event-driven handlers and the services they call when something comes again: a
message retried after a provider failed once, a message delivered again, an object written
again under its key."""

from __future__ import annotations

import json

import pytest
from msgspec.structs import replace

from chalicelib.adapters.objects import GuardDutyScanner
from chalicelib.domain.documents import DocumentStatus, DocumentUnavailableError
from chalicelib.domain.inbox import Outcome
from chalicelib.domain.mail import reply_address
from chalicelib.domain.statuses import Status
from chalicelib.handlers.uploads import handle_scan_results
from chalicelib.service import documents as document_service
from chalicelib.service.inbound_mail import receive_stored
from tests import documents_world
from tests.documents_world import World, guardduty_event, scanned
from tests.fakes import InMemoryReactionLedger
from tests.mail_desk import BUCKET, DOMAIN, KEY, PDF, Desk, mail

# --- document scan results (EventBridge -> SQS) ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "settled"),
    [
        ("THREATS_FOUND", "document.infected", DocumentStatus.INFECTED),
        ("ACCESS_DENIED", "document.scan_failed", DocumentStatus.SCANNING),  # scan not done
    ],
)
def test_an_ops_alert_sns_refused_once_is_sent_by_the_retry_once(
    status: str, kind: str, settled: DocumentStatus
):
    world = World(scanner=GuardDutyScanner())
    world.ports = replace(world.ports, ledger=InMemoryReactionLedger())
    ticket = world.open()
    landed = world.upload(ticket)
    message = {"messageId": "g-1", "body": json.dumps(guardduty_event(landed["key"], status))}
    world.alerts.failures = 1  # SNS refuses the first publish

    # The result is applied, the alert fails: the message is reported for a retry...
    assert handle_scan_results([message], world.ports, documents_world.BUCKET) == {
        "batchItemFailures": [{"itemIdentifier": "g-1"}]
    }
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is settled
    # ... which still tells ops; once, however often it comes.
    for _ in range(3):
        assert handle_scan_results([message], world.ports, documents_world.BUCKET) == {
            "batchItemFailures": []
        }
    assert [(alert.kind, alert.details["document_id"]) for alert in world.alerts.sent] == [
        (kind, landed["id"])
    ]


@pytest.mark.parametrize(
    ("verdict", "status"),
    [
        ("NO_THREATS_FOUND", DocumentStatus.REJECTED_FILE),
        ("THREATS_FOUND", DocumentStatus.INFECTED),
    ],
)
def test_other_bytes_posted_again_over_a_clean_document_are_never_served(
    verdict: str, status: DocumentStatus
):
    world = World(scanner=GuardDutyScanner())
    ticket = world.open()
    landed = world.upload(ticket)
    key = landed["key"]
    scanned(world, key, "NO_THREATS_FOUND")
    clean = world.store.get(ticket.id, landed["id"])
    assert clean is not None and clean.status is DocumentStatus.AVAILABLE
    # The upload form stays valid 15 minutes: the same key, the same size, other bytes.
    # S3 tells of the new object, GuardDuty scans it.
    world.bucket.put(key, documents_world.PDF[:-16] + b"%forged%%EOF\n\n\n\n")
    assert world.land(key) == {"batchItemFailures": []}
    scanned(world, key, verdict)

    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is status
    with pytest.raises(DocumentUnavailableError):
        document_service.download_url(world.ports, world.ticket(ticket.id), landed["id"])
    infected = status is DocumentStatus.INFECTED
    assert [alert.kind for alert in world.alerts.sent] == ["document.infected"] * infected


# --- inbound mail (S3 -> SQS) ------------------------------------------------------------------


def test_a_redelivered_reply_about_a_closed_ticket_stores_the_documents_a_stopped_one_did_not():
    desk = Desk()
    parent = desk.ticket(Status.CLOSED)
    raw = mail(reply_address(KEY, parent.id, DOMAIN), ("s.pdf", "application/pdf", PDF))
    outcome, key = desk.deliver(raw)
    assert outcome is Outcome.NEW_TICKET
    (child,) = [t for t in desk.repository.tickets.values() if t.parent_id == parent.id]
    (document,) = desk.documents.for_ticket(child.id)
    del desk.bucket.objects[document.object_key]  # the first delivery stopped before the put

    assert receive_stored(desk.ports, BUCKET, key) is Outcome.DUPLICATE

    assert desk.bucket.objects[document.object_key] == PDF
    assert [d.id for d in desk.documents.for_ticket(child.id)] == [document.id]
    assert [t.id for t in desk.repository.tickets.values() if t.parent_id == parent.id] == [
        child.id
    ]
