"""Text the desk as a customer would: `python -m local.sms FROM TEXT` (SPEC 12).

Publishes AWS End User Messaging's inbound SMS object (`originationNumber`,
`destinationNumber`, `messageKeyword`, `messageBody`, `inboundMessageId`,
`previousPublishedMessageId`) to the local `inbound-sms` topic, exactly as two-way
messaging does when deployed; the topic feeds the `InboundSms` queue and the running
stack's handler. Talks to the moto server of `make run` on $AWS_PORT (default 5000).

    .venv/bin/python -m local.sms +8613812348000 TD
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError

from local.resources import DEFAULT_REGION, LOCAL_ACCOUNT_ID, load_template, resource

DESK_NUMBER = "+8610690000"  # the desk's two-way number, locally
INBOUND_TOPIC = "InboundSmsTopic"  # its logical id in infra/template.json


def inbound_payload(
    sender: str, text: str, *, to: str = DESK_NUMBER, previous: str = ""
) -> dict[str, str]:
    """AWS's object for one inbound text."""
    return {
        "originationNumber": sender,
        "destinationNumber": to,
        "messageKeyword": f"KEYWORD_{LOCAL_ACCOUNT_ID}",
        "messageBody": text,
        "inboundMessageId": str(uuid.uuid4()),
        "previousPublishedMessageId": previous,
    }


def topic_arn(sns: Any) -> str:
    """The local topic the template names `inbound-sms`."""
    name = str(resource(load_template(), INBOUND_TOPIC)["Properties"]["TopicName"])
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    raise LookupError(f"no topic {name!r}")


def send(sender: str, text: str, *, sns: Any, to: str = DESK_NUMBER) -> dict[str, str]:
    """Publish one inbound text; returns the object published."""
    payload = inbound_payload(sender, text, to=to)
    sns.publish(TopicArn=topic_arn(sns), Message=json.dumps(payload, ensure_ascii=False))
    return payload


def local_sns() -> Any:
    port = os.environ.get("AWS_PORT", "5000")
    return boto3.client(
        "sns",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Text the local desk as a customer.")
    parser.add_argument("sender", metavar="FROM", help="the customer's number, E.164")
    parser.add_argument("text", metavar="TEXT", help="what the customer texts")
    parser.add_argument("--to", default=DESK_NUMBER, help="the desk's number")
    args = parser.parse_args(argv)
    try:
        payload = send(args.sender, args.text, sns=local_sns(), to=args.to)
    except (LookupError, EndpointConnectionError) as error:
        print(f"local.sms: {error} (is `make run` up on AWS_PORT?)", file=sys.stderr)
        return 2
    print(payload["inboundMessageId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
