"""Edges the event-driven handlers meet on AWS (moto): objects S3 really notifies about,
provider calls that fail once."""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib import bootstrap
from chalicelib.domain.identity import Caller, Role
from chalicelib.handlers.inbound_mail import on_inbound_mail
from chalicelib.service import inbox
from local.pump import LocalLambdaContext
from local.queues import sqs_event

AGENT = Caller(Role.AGENT, "agent-edges")


def _handle_inbound_queue(aws: dict[str, Any]) -> dict[str, Any]:
    """One invocation of the inbound-mail function with what S3 put on its queue."""
    sqs = boto3.client("sqs")
    url = aws["physical"]["InboundMail"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    event = sqs_event(messages, aws["physical"]["InboundMail.Arn"], "ap-east-1")
    answer: dict[str, Any] = on_inbound_mail(event, LocalLambdaContext("on_inbound_mail"))
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return answer


def test_an_empty_object_in_the_inbound_bucket_is_no_failure_for_ever(aws):
    # A zero-byte object (a "folder" made in the console, an interrupted upload tool):
    # S3 answers a ranged GET of it with 416 InvalidRange, which is no outage.
    bucket = aws["physical"]["InboundMailBucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key="incoming/ empty +mail", Body=b"")

    assert _handle_inbound_queue(aws)["batchItemFailures"] == []

    ports = bootstrap.container().inbox_ports()
    [item] = inbox.list_items(ports, AGENT, "open", 10, None).items
    assert (item.source, item.text) == ("incoming/ empty +mail", "")  # staff may discard it
