"""Documents landing in the bucket (S3 ObjectCreated -> SQS) and GuardDuty's scan verdicts
(EventBridge -> SQS): thin handlers around service/documents.py.

Each reports the messages that failed (ReportBatchItemFailures): a failed one comes back
after the queue's visibility timeout and, past maxReceiveCount, lands in the DLQ (alarmed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

from chalice.app import Blueprint, SQSEvent

from chalicelib import bootstrap
from chalicelib.adapters.objects import guardduty_no_verdict, guardduty_verdict
from chalicelib.logs import logger
from chalicelib.service.documents import DocumentPorts, file_landed, scan_failed, scan_result

uploads_blueprint = Blueprint(__name__)

UPLOADS_QUEUE = "DocumentUploads"  # logical ids in infra/template.json
SCAN_RESULTS_QUEUE = "DocumentScanResults"


def landed_keys(body: str) -> Iterator[tuple[str, str]]:
    """(bucket, key) of every ObjectCreated record of an S3 notification; nothing for the
    `s3:TestEvent` S3 sends when the notification is set up."""
    message = json.loads(body)
    if message.get("Event") == "s3:TestEvent":
        return
    for record in message.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name", "")
        key = (s3.get("object") or {}).get("key", "")
        if bucket and key:
            yield bucket, unquote_plus(key)  # S3 event keys are URL-encoded


def handle_uploads(
    records: list[dict[str, Any]], ports: DocumentPorts, bucket: str
) -> dict[str, Any]:
    def one(body: str) -> None:
        for named_bucket, key in landed_keys(body):
            if named_bucket == bucket:
                file_landed(ports, key)

    return _each(records, one, "document check failed")


def handle_scan_results(
    records: list[dict[str, Any]], ports: DocumentPorts, bucket: str
) -> dict[str, Any]:
    def one(body: str) -> None:
        event = json.loads(body)
        verdict = guardduty_verdict(event)
        if verdict is not None and verdict[0] == bucket:
            scan_result(ports, verdict[1], verdict[2])
        no_verdict = guardduty_no_verdict(event)
        if no_verdict is not None and no_verdict[0] == bucket:
            # Unsupported: rejected_file (type). Access denied, failed: stays scanning,
            # never served, ops alerted to scan it again.
            scan_failed(ports, no_verdict[1], no_verdict[2])

    return _each(records, one, "scan result failed")


def _each(records: list[dict[str, Any]], one: Callable[[str], None], what: str) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            one(str(record.get("body", "")))
        except Exception:
            logger.exception(what, extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failures}


@uploads_blueprint.on_sqs_message(queue=UPLOADS_QUEUE, batch_size=10, name="on_document_uploaded")
def on_document_uploaded(event: SQSEvent) -> dict[str, Any]:
    return handle_uploads(
        event.to_dict()["Records"],
        bootstrap.container().document_ports(),
        bootstrap.container().documents_bucket,
    )


@uploads_blueprint.on_sqs_message(
    queue=SCAN_RESULTS_QUEUE, batch_size=10, name="on_document_scanned"
)
def on_document_scanned(event: SQSEvent) -> dict[str, Any]:
    return handle_scan_results(
        event.to_dict()["Records"],
        bootstrap.container().document_ports(),
        bootstrap.container().documents_bucket,
    )
