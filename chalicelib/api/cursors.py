"""Opaque list cursors, signed so that only cursors the API issued are accepted.

A cursor carries the store's page position (a token only the store reads; its
shape is not known here) and a fingerprint of the query (and caller) it belongs
to, behind an HMAC. A cursor that was edited, forged, or issued for another query
or caller is a 400; it never reaches the store.

The signing key comes from a `CursorKeys` source: on a deployed stage, the
Secrets Manager secret's current version signs and the previous one still
verifies (adapters/secrets.py), so a rotation does not break the cursors a
client holds; a cursor signed with a key older than that is a clean 400. Keys that
cannot be read (Secrets Manager out of reach on a cold start) are an outage: 503.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any, Protocol

from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.service.ports import StartKey

_MAX_CURSOR = 2048
_MAX_POSITION = 1400  # fits a cursor of _MAX_CURSOR characters
_TAG_BYTES = 16


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


class CursorKeys(Protocol):
    def signing_keys(self) -> tuple[bytes, ...]:
        """The key that signs new cursors, then older ones still accepted."""
        ...

    def refreshed_keys(self) -> tuple[bytes, ...]:
        """The same, read again if the copy held may be stale (a cursor that no key we
        hold verifies may be signed with a newer one); rate-limited by the source."""
        ...


class FixedCursorKeys:
    """One key that never rotates: local mode and tests."""

    def __init__(self, key: bytes) -> None:
        self._keys = (key,)

    def signing_keys(self) -> tuple[bytes, ...]:
        return self._keys

    def refreshed_keys(self) -> tuple[bytes, ...]:
        return self._keys


class CursorCodec:
    def __init__(self, keys: CursorKeys | bytes) -> None:
        self._keys = FixedCursorKeys(keys) if isinstance(keys, bytes) else keys

    def encode(self, position: StartKey | None, query_fingerprint: str) -> str | None:
        if position is None:
            return None
        payload = json.dumps({"p": position, "q": query_fingerprint}, separators=(",", ":"))
        raw = _tag(self._keys.signing_keys()[0], payload.encode()) + payload.encode()
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

    def _signed_by_us(self, tag: bytes, payload: bytes) -> bool:
        if _signed_by_one_of(self._keys.signing_keys(), tag, payload):
            return True
        return _signed_by_one_of(self._keys.refreshed_keys(), tag, payload)

    def _verified(self, cursor: str) -> Any:
        if not cursor or len(cursor) > _MAX_CURSOR:
            raise _invalid()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as error:
            raise _invalid() from error
        tag, payload = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if not self._signed_by_us(tag, payload):
            raise _invalid()
        try:
            return json.loads(payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise _invalid() from error


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def _signed_by_one_of(keys: tuple[bytes, ...], tag: bytes, payload: bytes) -> bool:
    return any(hmac.compare_digest(tag, _tag(key, payload)) for key in keys)


def _invalid() -> ValidationError:
    return ValidationError([FieldError("cursor", "is not a cursor this API issued")])
