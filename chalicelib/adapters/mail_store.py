"""The inbound bucket: the raw messages SES's receipt rule stores (SPEC section 12)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.secrets import SecretsManagerCursorKeys, SecretUnavailableError
from chalicelib.domain.mail import MAX_MAIL_BYTES
from chalicelib.service.ports import (
    DependencyUnavailableError,
    MailSource,
    ReplyKeysUnavailableError,
    StoredMail,
)

_GONE = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchBucket"})
# S3's answer to a ranged GET of a zero-byte object (HTTP 416): an empty message, no outage.
_EMPTY = "InvalidRange"


class MailUnavailableError(DependencyUnavailableError):
    """S3 did not give the message now (throttled, down): the queue will bring it again;
    a staff request answers 503 before it writes anything."""


class S3MailSource(MailSource):
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def read(self, bucket: str, key: str) -> StoredMail | None:
        """At most the first MAX_MAIL_BYTES + 1 bytes: a larger message is read far
        enough to parse its text (its attachments are dropped, SPEC 12)."""
        try:
            response = self._s3.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_MAIL_BYTES}"
            )
            body = response["Body"].read()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _GONE:
                return None
            if code == _EMPTY:
                return StoredMail(key=key, size=0, raw=b"")
            raise MailUnavailableError(code) from error
        except BotoCoreError as error:
            raise MailUnavailableError(type(error).__name__) from error
        size = _total_size(response, len(body))
        return StoredMail(key=key, size=size, raw=bytes(body))


def _total_size(response: dict[str, Any], read: int) -> int:
    """The object's whole size: ContentRange's total when the read was a range."""
    content_range = str(response.get("ContentRange") or "")
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else read


class FixedReplyKeys:
    """Local mode's reply-token key (derived from the dev secret); never in Lambda."""

    def __init__(self, key: bytes) -> None:
        self._keys = (key,)

    def signing_keys(self) -> tuple[bytes, ...]:
        return self._keys


class SecretReplyKeys:
    """The reply-token keys from their own Secrets Manager secret (cached, rotation-safe:
    the reader of the cursor keys, on another secret)."""

    def __init__(self, keys: SecretsManagerCursorKeys) -> None:
        self._keys = keys

    def signing_keys(self) -> tuple[bytes, ...]:
        try:
            return self._keys.signing_keys()
        except SecretUnavailableError as error:
            raise ReplyKeysUnavailableError(str(error)) from error
