"""The local stack's moto patches: stream readers survive a cancelled transaction, and a
rolled-back write never shows up on the stream."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError


def _put(key: str) -> dict:
    return {
        "Put": {
            "TableName": "servicedesk",
            "Item": {"pk": {"S": key}, "sk": {"S": "x"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def test_a_stream_iterator_keeps_working_after_a_cancelled_transaction(aws):
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=aws["stream_arn"])["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=aws["stream_arn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    dynamodb.transact_write_items(TransactItems=[_put("A")])
    page = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == ["A"]

    with pytest.raises(ClientError):  # B would be written, then A's condition cancels both
        dynamodb.transact_write_items(TransactItems=[_put("B"), _put("A")])
    dynamodb.transact_write_items(TransactItems=[_put("C")])

    later = streams.get_records(ShardIterator=page["NextShardIterator"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in later["Records"]] == ["C"]
    assert "Item" not in dynamodb.get_item(
        TableName="servicedesk", Key={"pk": {"S": "B"}, "sk": {"S": "x"}}
    )
