"""The table's stream: event items in, reactions out (at least once, idempotent).

Records are taken in the shard's order. A record that fails holds back every later
record of its ticket: they are reported with it, and Lambda (ReportBatchItemFailures)
resumes the shard from the first reported one. Going on with that ticket would send a
customer's later message before the earlier one that failed. Other tickets' records go
on (reacting again on the retry changes nothing: reactions are idempotent), so one record
that keeps failing cannot park other customers' notices in StreamFailures with it. A
record whose ticket cannot be told holds back the rest of the batch, as does too little
time left for one more record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, DynamoDBEvent

from chalicelib import bootstrap
from chalicelib.adapters.dynamo import event_from_stream_image
from chalicelib.adapters.surveys import survey_from_stream_image
from chalicelib.handlers.time_left import seconds_left
from chalicelib.logs import logger
from chalicelib.service.reactions import ReactionPorts, for_one_batch, react, react_to_survey

stream_blueprint = Blueprint(__name__)

# Chalice needs an ARN at import time; the merge template in infra/ replaces it
# with the table's real StreamArn, and the local runner feeds records itself.
PLACEHOLDER_STREAM_ARN = (
    "arn:aws:dynamodb:ap-east-1:000000000000:table/servicedesk/stream/1970-01-01T00:00:00.000"
)
# No record is started with less time left than this (the function's timeout is 60 s,
# .chalice/config.json): one record's reactions (a message and its retries, a survey's
# start, the export) fit in it. The rest of the batch is reported and retried, instead
# of a timeout killing a send midway and retrying the whole batch.
RESERVE_SECONDS = 10.0

ImageReaction = Callable[[dict[str, Any], ReactionPorts], None]


def handle_records(
    records: list[dict[str, Any]],
    time_left: Callable[[], float] | None = None,
    ports: ReactionPorts | None = None,
) -> dict[str, Any]:
    """React to every new event item, the survey workflow's writes and expired documents,
    in order per ticket; report the records that failed, and every later record of their
    tickets, for a retry. `time_left`: the seconds the invocation has left (None: no
    limit); `ports`: the container's."""
    ports = for_one_batch(ports or bootstrap.container().reaction_ports())
    held: set[str] = set()  # tickets with a failed record in this batch
    retried: list[dict[str, Any]] = []
    for position, record in enumerate(records):
        if time_left is not None and time_left() < RESERVE_SECONDS:
            logger.warning("stream batch stopped for time", extra={"left": len(records) - position})
            return _reported(retried + records[position:])
        ticket = _ticket_of(record)
        if ticket in held:
            retried.append(record)
            continue
        try:
            _react_to(record, ports)
        except Exception:
            sequence = record.get("dynamodb", {}).get("SequenceNumber")
            logger.exception("reaction failed", extra={"sequence": sequence})
            if ticket is None:  # whose order it keeps is unknown: everything after waits
                return _reported(retried + records[position:])
            held.add(ticket)
            retried.append(record)
    return _reported(retried)


def _ticket_of(record: dict[str, Any]) -> str | None:
    """The ticket a record is about (event, survey and document items name it)."""
    dynamodb = record.get("dynamodb", {})
    image = dynamodb.get("NewImage") or dynamodb.get("OldImage") or {}
    ticket: str | None = image.get("ticket_id", {}).get("S")
    return ticket


def _reported(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "batchItemFailures": [
            {"itemIdentifier": record.get("dynamodb", {}).get("SequenceNumber", "")}
            for record in records
        ]
    }


def _react_to(record: dict[str, Any], ports: ReactionPorts) -> None:
    found = reaction_to(record)
    if found is not None:
        reaction, image = found
        reaction(image, ports)


def _item_type(image: dict[str, Any]) -> str | None:
    item_type: str | None = image.get("item_type", {}).get("S")
    return item_type


def _event_inserted(image: dict[str, Any], ports: ReactionPorts) -> None:
    event = event_from_stream_image(image)
    if event is not None:
        react(event, ports)


def _survey_written(image: dict[str, Any], ports: ReactionPorts) -> None:
    """The survey workflow writes only the survey's state; the events come from here."""
    survey = survey_from_stream_image(image)
    if survey is not None:
        react_to_survey(survey, ports)


def _document_removed(image: dict[str, Any], ports: ReactionPorts) -> None:
    _expired("REMOVE", image, ports)


# Every record the handler reacts to: (eventName, the image it reads, that image's
# item_type). The stream's event filter (infra/template.json, OnTableChange) lets exactly
# these through; tests/unit/test_stream_filter.py holds the two together.
REACTIONS: dict[tuple[str, str, str], ImageReaction] = {
    ("INSERT", "NewImage", "event"): _event_inserted,
    ("INSERT", "NewImage", "survey"): _survey_written,
    ("MODIFY", "NewImage", "survey"): _survey_written,
    ("REMOVE", "OldImage", "document"): _document_removed,
}


def reaction_to(record: dict[str, Any]) -> tuple[ImageReaction, dict[str, Any]] | None:
    """The reaction a record calls for and the image it reads; None: nothing to do."""
    name = record.get("eventName") or ""
    dynamodb = record.get("dynamodb", {})
    for image_name in ("NewImage", "OldImage"):
        image = dynamodb.get(image_name) or {}
        reaction = REACTIONS.get((name, image_name, _item_type(image) or ""))
        if reaction is not None:
            return reaction, image
    return None


def _expired(name: str | None, image: dict[str, Any], ports: Any) -> None:
    """A document item gone (its ticket's retention ran out, TTL): delete its bytes."""
    if name != "REMOVE" or _item_type(image) != "document":
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
    return handle_records(event.to_dict()["Records"], seconds_left(event))
