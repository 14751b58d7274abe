"""Inbound SMS: End User Messaging two-way -> SNS `inbound-sms` -> SQS -> here.

A message that cannot be read or acted on is reported as a batch item failure: it
comes back after the visibility timeout and, after the queue's maxReceiveCount,
lands in the dead-letter queue (alarmed); the rest of the batch goes on. Logs carry
message ids and outcomes only: never a number or a text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice.app import Blueprint, SQSEvent

from chalicelib import bootstrap
from chalicelib.domain.inbound_sms import MalformedSmsError, parse_inbound
from chalicelib.logs import logger
from chalicelib.service.inbound_sms import InboundSmsPorts, receive_sms

inbound_sms_blueprint = Blueprint(__name__)

# The queue's logical id in infra/template.json (the local runner polls it by that name).
QUEUE = "InboundSms"


def handle_messages(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Act on every text of the batch; report the ones that failed for a retry."""
    ports = bootstrap.container().inbound_sms_ports()
    failures = [
        {"itemIdentifier": str(record.get("messageId", ""))}
        for record in records
        if not _handled(record, ports)
    ]
    return {"batchItemFailures": failures}


def _handled(record: dict[str, Any], ports: InboundSmsPorts) -> bool:
    message_id = str(record.get("messageId", ""))
    try:
        sms = parse_inbound(str(record.get("body", "")), _sent_at(record, ports))
    except MalformedSmsError as error:
        fields = sorted({field.path for field in error.errors})
        logger.warning("inbound sms unreadable", extra={"message_id": message_id, "fields": fields})
        return False
    try:
        outcome = receive_sms(ports, sms)
    except Exception as error:
        # The type only: an exception's text could quote the message.
        logger.warning(
            "inbound sms failed",
            extra={"message_id": message_id, "error": type(error).__name__},
        )
        return False
    logger.info("inbound sms", extra={"message_id": message_id, "outcome": str(outcome)})
    return True


def _sent_at(record: dict[str, Any], ports: InboundSmsPorts) -> datetime:
    """When SQS took the message (the SNS publish, a moment after the text arrived);
    now, by the desk's clock, for a record without the attribute."""
    millis = str(record.get("attributes", {}).get("SentTimestamp", ""))
    if millis.isdigit():
        return datetime.fromtimestamp(int(millis) / 1000, UTC)
    return ports.tickets.clock()


@inbound_sms_blueprint.on_sqs_message(queue=QUEUE, batch_size=10, name="on_inbound_sms")
def on_inbound_sms(event: SQSEvent) -> dict[str, Any]:
    return handle_messages(event.to_dict()["Records"])
