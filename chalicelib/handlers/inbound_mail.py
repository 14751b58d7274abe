"""Email in: SES stores each message in the inbound bucket, S3 tells the queue, this
handler reads it (SPEC section 12). Thin: decode the S3 event, call the service.

Only objects of the configured inbound bucket are read: an event naming any other bucket
(another stack's, a look-alike name the queue policy's pattern lets through) is dropped
with a warning and an `InboundMailForeignBucket` metric, and never retried.

A message that fails is reported alone (ReportBatchItemFailures): it comes back after the
visibility timeout and, after maxReceiveCount tries, rests in the dead-letter queue with
an alarm; it never blocks the others. Logs carry ids only, never an address or a body.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from chalice.app import Blueprint, SQSEvent

from chalicelib import bootstrap
from chalicelib.logs import logger
from chalicelib.service.inbound_mail import InboundPorts, receive_stored
from chalicelib.service.ports import MetricsSink

inbound_mail_blueprint = Blueprint(__name__)

INBOUND_QUEUE = "InboundMail"  # its logical id in infra/template.json


class NotAnS3EventError(ValueError):
    """A message on the queue that is neither an S3 event nor S3's test event."""


def stored_objects(body: str) -> list[tuple[str, str]]:
    """(bucket, key) of each object an S3 event notification names; [] for S3's
    `s3:TestEvent` (sent once when the notification is set up)."""
    message = json.loads(body)
    if not isinstance(message, dict):
        raise NotAnS3EventError("not an object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise NotAnS3EventError("no Records")
    found = []
    for record in records:
        s3 = record.get("s3", {}) if isinstance(record, dict) else {}
        bucket, key = s3.get("bucket", {}).get("name"), s3.get("object", {}).get("key")
        if not (isinstance(bucket, str) and isinstance(key, str)):
            raise NotAnS3EventError("a record names no object")
        found.append((bucket, unquote_plus(key)))  # S3 event keys are URL-encoded
    return found


def handle_messages(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Handle every message with the desk's own ports and inbound bucket."""
    desk = bootstrap.container()
    bucket = desk.settings.inbound_mail_bucket or ""  # unset: every event is foreign
    return handle_stored_mail(records, desk.inbound_mail_ports(), bucket, desk.metrics)


def handle_stored_mail(
    records: list[dict[str, Any]], ports: InboundPorts, bucket: str, metrics: MetricsSink
) -> dict[str, Any]:
    """Handle every message; report the ones that failed for a retry (then the DLQ)."""
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            for named_bucket, key in stored_objects(str(record.get("body", ""))):
                if named_bucket != bucket:
                    _drop_foreign(message_id, metrics)
                    continue
                outcome = receive_stored(ports, named_bucket, key)
                logger.info("inbound email", extra={"sqs_message": message_id, "outcome": outcome})
        except Exception as error:
            # The type only: an exception's text may quote the message or an address.
            logger.error(
                "inbound email failed",
                extra={"sqs_message": message_id, "error": type(error).__name__},
            )
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def _drop_foreign(message_id: str, metrics: MetricsSink) -> None:
    # Neither the bucket nor the key is logged: a key is SES's id, a foreign bucket's
    # could be anything; the SQS message id finds the event in the queue's history.
    logger.warning(
        "inbound email event from another bucket dropped", extra={"sqs_message": message_id}
    )
    metrics.count("InboundMailForeignBucket", {})


@inbound_mail_blueprint.on_sqs_message(queue=INBOUND_QUEUE, batch_size=10, name="on_inbound_mail")
def on_inbound_mail(event: SQSEvent) -> dict[str, Any]:
    return handle_messages(event.to_dict()["Records"])
