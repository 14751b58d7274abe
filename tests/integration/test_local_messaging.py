"""The local stack's generic messaging plumbing, against moto: every queue, topic,
subscription, bucket notification, bus and rule a template declares is made and wired as
AWS wires it, and the queue pump feeds SQS handlers with Lambda's semantics (partial batch
failures, redrive to the dead-letter queue)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from chalice.app import Chalice, SQSEvent
from moto import mock_aws

from local.queues import QueuePump, UndeclaredQueueError, start_queue_pumps
from local.resources import TemplateTranslationError, create_messaging

REGION = "ap-east-1"

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "WebOrigins": {"Type": "CommaDelimitedList", "Default": "https://web.example"},
    },
    "Resources": {
        "WorkDeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Work": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": 0,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["WorkDeadLetters", "Arn"]},
                    "maxReceiveCount": 2,
                },
            },
        },
        "Uploads": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Texts": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Exported": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Inbound": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "inbound-sms"}},
        "InboundToTexts": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": "Inbound"},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["Texts", "Arn"]},
                "RawMessageDelivery": True,
            },
        },
        "Documents": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "abort-incomplete",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        },
                        {
                            "Id": "expire-tagged",
                            "Status": "Enabled",
                            "TagFilters": [{"Key": "expire", "Value": "true"}],
                            "ExpirationInDays": 1,
                        },
                    ]
                },
                "CorsConfiguration": {
                    "CorsRules": [
                        {
                            "AllowedMethods": ["POST"],
                            "AllowedOrigins": {"Ref": "WebOrigins"},
                            "MaxAge": 600,
                        }
                    ]
                },
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Queue": {"Fn::GetAtt": ["Uploads", "Arn"]},
                        }
                    ]
                },
            },
        },
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "servicedesk"}},
        "StatusChanges": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventBusName": {"Ref": "Bus"},
                "EventPattern": {"source": ["servicedesk"], "detail-type": ["ticket.created"]},
                "Targets": [
                    {"Id": "queue", "Arn": {"Fn::GetAtt": ["Exported", "Arn"]}},
                    {"Id": "function", "Arn": {"Fn::GetAtt": ["SomeChaliceFunction", "Arn"]}},
                ],
            },
        },
    },
}


@pytest.fixture
def physical(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield create_messaging(
            lambda service: boto3.client(service, region_name=REGION), TEMPLATE, {}
        )


def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def _bodies(queue_url: str) -> list[str]:
    messages = (
        _sqs().receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    )
    return [message["Body"] for message in messages]


def test_an_object_landing_in_a_bucket_reaches_its_queue(physical: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=physical["Documents"], Key="tickets/T-1/D-1", Body=b"%PDF-1.7")

    bodies = [json.loads(body) for body in _bodies(physical["Uploads"])]

    records = [record for body in bodies for record in body.get("Records", [])]
    # Keys arrive URL-encoded (moto even encodes "/"): handlers must unquote_plus them.
    keys = [unquote_plus(record["s3"]["object"]["key"]) for record in records]
    assert keys == ["tickets/T-1/D-1"]
    assert any(body.get("Event") == "s3:TestEvent" for body in bodies)  # as AWS sends first


def test_a_bucket_gets_its_protections_from_the_template(physical: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    bucket = physical["Documents"]

    blocked = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]

    assert all(blocked.values()) and len(blocked) == 4
    assert {rule["ID"] for rule in rules} == {"abort-incomplete", "expire-tagged"}
    tagged = next(rule for rule in rules if rule["ID"] == "expire-tagged")
    assert tagged["Filter"] == {"Tag": {"Key": "expire", "Value": "true"}}
    assert cors[0]["AllowedOrigins"] == ["https://web.example"]
    assert cors[0]["MaxAgeSeconds"] == 600
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == (
        "AES256"
    )


def test_a_topic_feeds_its_subscribed_queue_raw(physical: dict[str, str]) -> None:
    boto3.client("sns", region_name=REGION).publish(
        TopicArn=physical["Inbound"], Message=json.dumps({"messageBody": "TD"})
    )

    assert [json.loads(body) for body in _bodies(physical["Texts"])] == [{"messageBody": "TD"}]


def test_a_rule_on_the_bus_delivers_matching_events_to_its_queue(
    physical: dict[str, str],
) -> None:
    events = boto3.client("events", region_name=REGION)
    for detail_type in ("ticket.created", "ticket.commented"):
        events.put_events(
            Entries=[
                {
                    "Source": "servicedesk",
                    "DetailType": detail_type,
                    "Detail": json.dumps({"ticket_id": "T-1"}),
                    "EventBusName": physical["Bus"],
                }
            ]
        )

    delivered = [json.loads(body) for body in _bodies(physical["Exported"])]

    assert [event["detail-type"] for event in delivered] == ["ticket.created"]
    # The function target exists only in the merged package: left out locally.
    targets = events.list_targets_by_rule(Rule="StatusChanges", EventBusName="servicedesk")
    assert [target["Id"] for target in targets["Targets"]] == ["queue"]


def test_an_unresolvable_reference_is_an_error_not_a_silent_gap() -> None:
    template = {
        "Resources": {
            "Broken": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"KmsMasterKeyId": {"Fn::ImportValue": "elsewhere"}},
            }
        }
    }
    with mock_aws(), pytest.raises(TemplateTranslationError):
        create_messaging(lambda service: boto3.client(service, region_name=REGION), template, {})


def test_the_pump_deletes_what_succeeded_and_redrives_a_poison_message(
    physical: dict[str, str],
) -> None:
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            seen.append(record["body"])
            if record["body"] == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    for body in ("good", "poison"):
        _sqs().send_message(QueueUrl=physical["Work"], MessageBody=body)
    pump = QueuePump(
        _sqs(),
        physical["Work"],
        physical["Work.Arn"],
        handler,
        function_name="work",
        wait_seconds=0,
    )

    for _ in range(4):
        pump.poll_once()

    assert seen.count("good") == 1  # deleted after its first success
    assert seen.count("poison") == 2  # maxReceiveCount, then the dead-letter queue
    assert _bodies(physical["WorkDeadLetters"]) == ["poison"]
    assert _bodies(physical["Work"]) == []


def test_a_handler_that_raises_fails_its_whole_batch(physical: dict[str, str]) -> None:
    calls = 0

    def handler(event: dict[str, Any], context: Any) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    _sqs().send_message(QueueUrl=physical["Work"], MessageBody="anything")
    pump = QueuePump(
        _sqs(), physical["Work"], physical["Work.Arn"], handler, function_name="w", wait_seconds=0
    )

    assert pump.poll_once() == 0
    assert pump.failed == 1 and calls == 1
    assert _bodies(physical["Work"]) == ["anything"]  # still there for the retry


def test_chalice_handlers_get_lambdas_sqs_event_and_an_undeclared_queue_stops_the_start(
    physical: dict[str, str],
) -> None:
    app = Chalice(app_name="plumbing")
    received: list[str] = []

    @app.on_sqs_message(queue="Work", batch_size=5, name="on_work")
    def on_work(event: SQSEvent) -> None:
        received.extend(record.body for record in event)

    _sqs().send_message(QueueUrl=physical["Work"], MessageBody="hello")
    # The pumps import the handler by its handler string, as Lambda does: point it here.
    module = __import__(__name__, fromlist=["_"])
    module.on_work = on_work  # type: ignore[attr-defined]
    app.event_sources[0].handler_string = f"{__name__}.on_work"
    pumps = start_queue_pumps(app, _sqs(), physical)
    try:
        for _ in range(50):
            if received:
                break
            pumps[0].join(0.1)
    finally:
        for pump in pumps:
            pump.stop()
            pump.join(5)  # done with its last poll before moto goes away

    assert received == ["hello"]

    @app.on_sqs_message(queue="NotDeclared", name="on_nothing")
    def on_nothing(event: SQSEvent) -> None: ...

    with pytest.raises(UndeclaredQueueError):
        start_queue_pumps(app, _sqs(), physical)
    # Nothing was started for the declared queue either.
    assert not [
        t for t in threading.enumerate() if t.name.startswith("queue-pump-") and t.is_alive()
    ]
