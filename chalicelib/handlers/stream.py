"""The table's stream: event items in, reactions out (at least once, idempotent)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, DynamoDBEvent

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import event_from_stream_image
from chalicelib.adapters.surveys import survey_from_stream_image
from chalicelib.logs import logger
from chalicelib.service.reactions import react
from chalicelib.service.surveys import survey_written

stream_blueprint = Blueprint(__name__)

# Chalice needs an ARN at import time; the merge template in infra/ replaces it
# with the table's real StreamArn, and the local runner feeds records itself.
PLACEHOLDER_STREAM_ARN = (
    "arn:aws:dynamodb:ap-east-1:000000000000:table/servicedesk/stream/1970-01-01T00:00:00.000"
)


def handle_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """React to every new event item and to the survey workflow's writes; report the
    records that failed for a retry."""
    ports = bootstrap.container().reaction_ports()
    failures: list[dict[str, str]] = []
    for record in records:
        dynamodb = record.get("dynamodb", {})
        try:
            _dispatch(record.get("eventName"), dynamodb.get("NewImage") or {}, ports)
            _expired(record.get("eventName"), dynamodb.get("OldImage") or {}, ports)
        except Exception:
            logger.exception("reaction failed", extra={"sequence": dynamodb.get("SequenceNumber")})
            failures.append({"itemIdentifier": dynamodb.get("SequenceNumber", "")})
    return {"batchItemFailures": failures}


def _dispatch(name: str | None, image: dict[str, Any], ports: Any) -> None:
    item_type = image.get("item_type", {}).get("S")
    if name == "INSERT" and item_type == "event":
        event = event_from_stream_image(image)
        if event is not None:
            react(event, ports)
    elif name in ("INSERT", "MODIFY") and item_type == "survey" and ports.surveys is not None:
        # The survey workflow writes only the survey's state; the events come from here.

        survey = survey_from_stream_image(image)
        if survey is not None:
            survey_written(survey, ports.surveys)


def _expired(name: str | None, image: dict[str, Any], ports: Any) -> None:
    """A document item gone (its ticket's retention ran out, TTL): delete its bytes."""
    if name != "REMOVE" or image.get("item_type", {}).get("S") != "document":
        return
    key = image.get("object_key", {}).get("S")
    if key and ports.delete_document_object is not None:
        ports.delete_document_object(key)


@stream_blueprint.on_dynamodb_record(
    stream_arn=PLACEHOLDER_STREAM_ARN,
    batch_size=100,
    starting_position="TRIM_HORIZON",
    name="on_table_change",
)
def on_table_change(event: DynamoDBEvent) -> dict[str, Any]:
    return handle_records(event.to_dict()["Records"])
