"""Edges the event-driven handlers and the services they call really meet: a provider
that fails once, a message delivered again."""

from __future__ import annotations

import json

import pytest
from msgspec.structs import replace

from chalicelib.adapters.objects import GuardDutyScanner
from chalicelib.domain.documents import DocumentStatus
from chalicelib.handlers.uploads import handle_scan_results
from tests.documents_world import BUCKET, World, guardduty_event
from tests.fakes import InMemoryReactionLedger

# --- document scan results (EventBridge -> SQS) ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [("THREATS_FOUND", "document.infected"), ("ACCESS_DENIED", "document.scan_failed")],
)
def test_an_ops_alert_sns_refused_once_is_sent_by_the_retry_once(status: str, kind: str):
    world = World(scanner=GuardDutyScanner())
    world.ports = replace(world.ports, ledger=InMemoryReactionLedger())
    ticket = world.open()
    landed = world.upload(ticket)
    message = {"messageId": "g-1", "body": json.dumps(guardduty_event(landed["key"], status))}
    world.alerts.failures = 1  # SNS refuses the first publish

    # The document is settled, the alert fails: the message is reported for a retry...
    assert handle_scan_results([message], world.ports, BUCKET) == {
        "batchItemFailures": [{"itemIdentifier": "g-1"}]
    }
    document = world.store.get(ticket.id, landed["id"])
    assert document is not None and document.status is not DocumentStatus.SCANNING
    # ... which finds it settled, and still tells ops; once, however often it comes.
    for _ in range(3):
        assert handle_scan_results([message], world.ports, BUCKET) == {"batchItemFailures": []}
    assert [(alert.kind, alert.details["document_id"]) for alert in world.alerts.sent] == [
        (kind, landed["id"])
    ]
