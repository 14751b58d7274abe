"""Opaque list cursors.

A cursor carries the last key read and a fingerprint of the query it belongs
to. A cursor the API did not issue, or one issued for another query, is a
400: it can never move a caller into another partition (the partition comes
from the query, which is bound to the caller), only within their own list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from chalicelib.domain.errors import FieldError, ValidationError

_KEY_NAME = re.compile(r"^[a-z_]{2,32}$")
_MAX_CURSOR = 2048


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode_cursor(key: dict[str, str] | None, query_fingerprint: str) -> str | None:
    if key is None:
        return None
    payload = json.dumps({"k": key, "q": query_fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, query_fingerprint: str) -> dict[str, str] | None:
    if cursor is None:
        return None
    payload = _payload(cursor)
    if not isinstance(payload, dict) or payload.get("q") != query_fingerprint:
        raise _invalid()
    key = payload.get("k")
    if not isinstance(key, dict) or not _is_key(key):
        raise _invalid()
    return {str(name): str(value) for name, value in key.items()}


def _payload(cursor: str) -> Any:
    if not cursor or len(cursor) > _MAX_CURSOR:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise _invalid() from error


def _is_key(key: Any) -> bool:
    return (
        isinstance(key, dict)
        and 2 <= len(key) <= 4
        and all(isinstance(n, str) and _KEY_NAME.match(n) for n in key)
        and all(isinstance(v, str) and 0 < len(v) <= 512 for v in key.values())
        and str(key.get("pk", "")).startswith("TICKET#")
    )


def _invalid() -> ValidationError:
    return ValidationError([FieldError("cursor", "is not a cursor this API issued")])
