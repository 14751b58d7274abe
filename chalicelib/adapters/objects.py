"""The private document bucket (S3) and the malware scanners (SPEC 11).

Uploads are S3 presigned POSTs bound by policy conditions to the object key, the declared
Content-Type and exactly the declared size (content-length-range n..n), valid 15 minutes.
Downloads are presigned GETs of at most 5 minutes that name the file for the browser.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.domain.documents import EICAR
from chalicelib.service.documents import LandedObject, ObjectStore, Scanner, ScanVerdict, UploadForm

_HEAD_BYTES = 16
_CHUNK = 1024 * 1024


class S3ObjectStore(ObjectStore):
    def __init__(self, s3: Any, bucket: str, clock: Any) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._clock = clock

    def upload_form(
        self, key: str, content_type: str, size: int, expires_at: datetime
    ) -> UploadForm:
        seconds = max(1, int((expires_at - self._clock()).total_seconds()))
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", size, size],
            ],
            ExpiresIn=seconds,
        )
        fields = {str(name): str(value) for name, value in post["fields"].items()}
        return UploadForm(url=str(post["url"]), fields=fields, expires_at=expires_at)

    def download_url(self, key: str, filename: str, content_type: str, expires: timedelta) -> str:
        disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=int(expires.total_seconds()),
        )
        return url

    def fetch(self, key: str, max_bytes: int) -> LandedObject | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        digest = hashlib.sha256()
        kept = bytearray()
        size = 0
        head = b""
        for chunk in response["Body"].iter_chunks(_CHUNK):
            if not head:
                head = bytes(chunk[:_HEAD_BYTES])
            digest.update(chunk)
            size += len(chunk)
            if size <= max_bytes:
                kept.extend(chunk)
        body = bytes(kept) if size <= max_bytes else None
        return LandedObject(size=size, sha256=digest.hexdigest(), head=head, body=body)

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)


class EicarScanner(Scanner):
    """Local mode's stand-in: flags the EICAR test file and nothing else."""

    def verdict(self, key: str, body: bytes | None) -> ScanVerdict:
        return ScanVerdict(infected=body is not None and EICAR in body)


class GuardDutyScanner(Scanner):
    """Deployed: GuardDuty Malware Protection for S3 scans every new object on its own and
    reports on EventBridge (handlers/uploads.py); nothing to call here."""

    def verdict(self, key: str, body: bytes | None) -> ScanVerdict:
        return ScanVerdict(infected=None)


# GuardDuty Malware Protection for S3: "scanResultDetails.scanResultStatus".
_GUARDDUTY_CLEAN = "NO_THREATS_FOUND"
_GUARDDUTY_INFECTED = "THREATS_FOUND"


def guardduty_verdict(event: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(bucket, key, infected) from a "GuardDuty Malware Protection Object Scan Result"
    event; None for a result that is no verdict (see guardduty_no_verdict)."""
    found = _guardduty_result(event)
    if found is None:
        return None
    bucket, key, status = found
    if status == _GUARDDUTY_INFECTED:
        return bucket, key, True
    if status == _GUARDDUTY_CLEAN:
        return bucket, key, False
    return None


def guardduty_no_verdict(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """(bucket, key, status) of a scan result that is no verdict: UNSUPPORTED (e.g. a
    password-protected archive), ACCESS_DENIED (the plan's role may not read or decrypt
    the object), FAILED, or any status GuardDuty adds later. None for a verdict."""
    found = _guardduty_result(event)
    if found is None or found[2] in (_GUARDDUTY_INFECTED, _GUARDDUTY_CLEAN):
        return None
    bucket, key, status = found
    return bucket, key, status[:40] or "MISSING"


def _guardduty_result(event: dict[str, Any]) -> tuple[str, str, str] | None:
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict):
        return None
    status = (detail.get("scanResultDetails") or {}).get("scanResultStatus")
    s3 = detail.get("s3ObjectDetails") or {}
    bucket, key = s3.get("bucketName"), s3.get("objectKey")
    if not isinstance(bucket, str) or not isinstance(key, str):
        return None
    return bucket, key, status if isinstance(status, str) else ""


def s3_client(region: str, endpoint_url: str | None) -> Any:
    """The S3 client; against a local endpoint, path-style URLs (http://host:port/bucket)
    so a presigned POST reaches moto by its address."""
    import boto3  # the SDK is the edge: imported by the first call that needs it
    from boto3.session import Config

    style = "path" if endpoint_url else "auto"
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )
