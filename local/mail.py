"""Drop an email into the local inbound bucket exactly as SES's receipt rule would (SPEC 12).

    python -m local.mail --from ADDR --to ADDR [--subject TEXT] [--in-reply-to ID]
        [--attach FILE]... [--fail-verdicts] TEXT

Builds raw MIME with the headers SES adds on receipt (`X-SES-Spam-Verdict`,
`X-SES-Virus-Verdict`, `Authentication-Results`; `--fail-verdicts` makes them fail) and
puts it under `inbound/` in the bucket moto made from the template; moto's bucket
notification then sends the S3 event to the queue the local runner polls. `--in-reply-to`
takes a Message-ID, or the SES message id of a desk email as `/moto-api/data.json` shows
it (`ses.RawMessage`). Honours `AWS_PORT` (default 5000).
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import sys
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path

import boto3

from local.resources import DEFAULT_TABLE_NAME, load_template

REGION = "ap-east-1"
BUCKET = "InboundMailBucket"
KEY_PREFIX = "inbound/"


def ses_headers(sender: str, *, passing: bool) -> list[tuple[str, str]]:
    """What SES's receiving servers prepend (first, so a sender's copies come after)."""
    verdict = "PASS" if passing else "FAIL"
    result = "pass" if passing else "fail"
    domain = sender.rpartition("@")[2] or "unknown.invalid"
    return [
        ("X-SES-Spam-Verdict", verdict),
        ("X-SES-Virus-Verdict", verdict),
        (
            "Authentication-Results",
            f"amazonses.com; spf={result} (spfCheck: domain of {domain} designates 127.0.0.1"
            f" as permitted sender) client-ip=127.0.0.1; envelope-from={sender};"
            f" dkim={result} header.i=@{domain}; dmarc={result} header.from={domain};",
        ),
    ]


def message_id_header(value: str) -> str:
    """A Message-ID as given, or an SES message id as its Message-ID."""
    value = value.strip()
    if value.startswith("<"):
        return value
    return f"<{value}>" if "@" in value else f"<{value}@email.amazonses.com>"


def build(arguments: argparse.Namespace) -> bytes:
    from datetime import UTC, datetime

    message = EmailMessage(policy=SMTP)
    for name, value in ses_headers(arguments.sender, passing=not arguments.fail_verdicts):
        message[name] = value
    message["From"] = arguments.sender
    message["To"] = arguments.to
    message["Subject"] = arguments.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="customer.example")
    if arguments.in_reply_to:
        reference = message_id_header(arguments.in_reply_to)
        message["In-Reply-To"] = reference
        message["References"] = reference
    message.set_content(arguments.text, charset="utf-8")
    for path in arguments.attach:
        data = Path(path).read_bytes()
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        main, _, sub = kind.partition("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=Path(path).name)
    return message.as_bytes()


def inbound_bucket(table_name: str = DEFAULT_TABLE_NAME) -> str:
    """The local bucket's name, as local/resources.py names it from the template."""
    properties = load_template()["Resources"][BUCKET].get("Properties", {})
    name = properties.get("BucketName")
    if isinstance(name, str):
        return name.lower()
    return f"{table_name}-inbound-mail-bucket"


def drop(raw: bytes, *, endpoint_url: str | None, bucket: str | None = None) -> str:
    """Put the message where SES would; returns its object key (`endpoint_url` None:
    inside moto.mock_aws)."""
    key = f"{KEY_PREFIX}{uuid.uuid4().hex}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )
    s3.put_object(Bucket=bucket or inbound_bucket(), Key=key, Body=raw)
    return key


def parser() -> argparse.ArgumentParser:
    parsed = argparse.ArgumentParser(
        prog="python -m local.mail", description=__doc__.split("\n")[0]
    )
    parsed.add_argument("--from", dest="sender", required=True, metavar="ADDR")
    parsed.add_argument("--to", required=True, metavar="ADDR")
    parsed.add_argument("--subject", default="", metavar="TEXT")
    parsed.add_argument("--in-reply-to", metavar="ID")
    parsed.add_argument("--attach", action="append", default=[], metavar="FILE")
    parsed.add_argument("--fail-verdicts", action="store_true")
    parsed.add_argument("text", metavar="TEXT")
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    endpoint = f"http://127.0.0.1:{os.environ.get('AWS_PORT', '5000')}"
    key = drop(build(arguments), endpoint_url=endpoint)
    print(f"stored {key} in the inbound bucket; the desk reads it from its queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
