"""Reading the table's stream in moto and delivering it to the stream handler, as Lambda does."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib.handlers.stream import on_table_change
from local.pump import LocalLambdaContext, as_lambda_record


def stream_records(stream_arn: str) -> list[dict[str, Any]]:
    """Every record on the stream so far, shaped as the Lambda event carries them."""
    streams = boto3.client("dynamodbstreams")
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    return [as_lambda_record(record, stream_arn) for record in records]


def deliver(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One invocation of the stream function with these records."""
    return on_table_change({"Records": records}, LocalLambdaContext("on_table_change"))
