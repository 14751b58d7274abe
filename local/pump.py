"""Reads the table's DynamoDB stream from the local AWS server and invokes the
same `on_dynamodb_record` handler Lambda runs, with Lambda's semantics: only the
records the event filter lets through (local/stream_filter.py, read from the
template), and a batch whose records fail is retried from the first failure, a few
times, then the failed records go to the on-failure queue and the pump moves on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("servicedesk.local.pump")

MAX_ATTEMPTS = 3


class LocalLambdaContext:
    """Lambda's context: its remaining time counts down from the invocation's start."""

    def __init__(self, function_name: str, timeout_seconds: float = 60.0) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class StreamPump(threading.Thread):
    def __init__(
        self,
        streams_client: Any,
        stream_arn: str,
        handler: Any,
        *,
        failures_queue: tuple[Any, str] | None = None,
        ops_alerts: tuple[Any, str] | None = None,
        interval: float = 0.2,
        batch_size: int = 100,
        record_filter: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        super().__init__(name="stream-pump", daemon=True)
        self._streams = streams_client
        self._arn = stream_arn
        self._handler = handler
        self._failures_queue = failures_queue
        self._ops_alerts = ops_alerts
        self._interval = interval
        self._batch_size = batch_size
        self._filter = record_filter  # Lambda's FilterCriteria; None lets every record in
        self._iterators: dict[str, str | None] = {}
        self._read: dict[str, str] = {}  # shard -> last sequence number delivered
        self._stopping = threading.Event()
        self.delivered = 0
        self.filtered_out = 0

    def stop(self) -> None:
        self._stopping.set()

    def has_read_to(self, ends: Mapping[str, str]) -> bool:
        """Whether the records of each shard up to its sequence number in `ends` are handled."""
        read = dict(self._read)
        return all(shard in read and int(read[shard]) >= int(end) for shard, end in ends.items())

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._discover_shards()
                moved = sum(self._poll(shard) for shard in list(self._iterators))
            except Exception:
                log.exception("stream pump poll failed")
                moved = 0
            if not moved:
                self._stopping.wait(self._interval)

    def _discover_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self._iterator_after(shard_id, None)

    def _poll(self, shard_id: str) -> int:
        iterator = self._iterators.get(shard_id)
        if iterator is None:
            return 0
        try:
            response = self._streams.get_records(ShardIterator=iterator, Limit=self._batch_size)
        except self._streams.exceptions.ExpiredIteratorException:
            self._iterators[shard_id] = self._iterator_after(shard_id, self._read.get(shard_id))
            return 0
        except self._streams.exceptions.TrimmedDataAccessException:
            log.error("stream records were trimmed before the pump read them")
            self._iterators[shard_id] = self._iterator_after(shard_id, None)
            return 0
        records = response.get("Records", [])
        if records:
            self._deliver(records)
            self._read[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        self._iterators[shard_id] = response.get("NextShardIterator")
        return len(records)

    def _iterator_after(self, shard_id: str, sequence_number: str | None) -> str:
        """A new iterator where the pump stopped (iterators expire after 15 minutes)."""
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if sequence_number is not None:
            position = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": sequence_number,
            }
        iterator: str = self._streams.get_shard_iterator(
            StreamArn=self._arn, ShardId=shard_id, **position
        )["ShardIterator"]
        return iterator

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending = [as_lambda_record(record, self._arn) for record in records]
        if self._filter is not None:
            passed = [record for record in pending if self._filter(record)]
            self.filtered_out += len(pending) - len(passed)
            pending = passed
        if not pending:
            return  # Lambda invokes nothing for a batch the filter emptied
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = self._handler({"Records": pending}, LocalLambdaContext("on_table_change"))
            failed = {
                item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])
            }
            self.delivered += len(pending)
            if not failed:
                return
            first = min(
                i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in failed
            )
            pending = pending[first:]
            time.sleep(0.2 * attempt)
        self._send_to_failure_queue(pending)

    def _send_to_failure_queue(self, records: list[dict[str, Any]]) -> None:
        sequences = [record["dynamodb"]["SequenceNumber"] for record in records]
        log.error("stream records failed after retries: %s", sequences)
        body = json.dumps({"streamArn": self._arn, "sequenceNumbers": sequences})
        if self._failures_queue is not None:
            client, url = self._failures_queue
            client.send_message(QueueUrl=url, MessageBody=body)
        if self._ops_alerts is not None:  # deployed, the StreamFailures alarm does this
            sns, topic = self._ops_alerts
            sns.publish(
                TopicArn=topic,
                Subject="servicedesk: stream records failed",
                Message=body,
                MessageAttributes={
                    "alert_type": {"DataType": "String", "StringValue": "stream.failed"}
                },
            )


def as_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """The shape Lambda's event source mapping hands to the function."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        dynamodb["ApproximateCreationDateTime"] = created.timestamp()
    dynamodb.setdefault("SizeBytes", 0)
    dynamodb.setdefault("StreamViewType", "NEW_AND_OLD_IMAGES")
    return {
        "eventID": record.get("eventID", str(uuid.uuid4())),
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", "ap-east-1"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
