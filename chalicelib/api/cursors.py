"""Opaque list cursors, signed so that only cursors the API issued are accepted.

A cursor carries the store's page position (a token only the store reads; its
shape is not known here) and a fingerprint of the query (and caller) it belongs
to, behind an HMAC. A cursor that was edited, forged, or issued for another query
or caller is a 400; it never reaches the store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.service.ports import StartKey

_MAX_CURSOR = 2048
_MAX_POSITION = 1400  # fits a cursor of _MAX_CURSOR characters
_TAG_BYTES = 16


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


class CursorCodec:
    def __init__(self, signing_key: bytes) -> None:
        self._key = signing_key

    def encode(self, position: StartKey | None, query_fingerprint: str) -> str | None:
        if position is None:
            return None
        payload = json.dumps({"p": position, "q": query_fingerprint}, separators=(",", ":"))
        raw = self._tag(payload.encode()) + payload.encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str | None, query_fingerprint: str) -> StartKey | None:
        if cursor is None:
            return None
        payload = self._verified(cursor)
        if not isinstance(payload, dict) or payload.get("q") != query_fingerprint:
            raise _invalid()
        position = payload.get("p")
        if not isinstance(position, str) or not 0 < len(position) <= _MAX_POSITION:
            raise _invalid()
        return StartKey(position)

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def _verified(self, cursor: str) -> Any:
        if not cursor or len(cursor) > _MAX_CURSOR:
            raise _invalid()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as error:
            raise _invalid() from error
        tag, payload = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise _invalid()
        try:
            return json.loads(payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise _invalid() from error


def _invalid() -> ValidationError:
    return ValidationError([FieldError("cursor", "is not a cursor this API issued")])
