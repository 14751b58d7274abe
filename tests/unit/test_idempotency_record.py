"""The idempotency record is the key and the response it keeps, with its lifetime."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.service.idempotency import IdempotencyKey, StoredResponse, record
from chalicelib.service.ports import IdempotencyRecord

NOW = datetime(2026, 11, 27, 2, 30, 15, 123000, tzinfo=UTC)


def test_the_record_keeps_the_key_and_the_response_for_24_hours():
    key = IdempotencyKey(scope="customer:c-1:POST /tickets", key="k-1", fingerprint="f" * 64)
    response = StoredResponse(201, '{"id": "T-1"}', {"Location": "/tickets/T-1"})
    assert record(key, response, NOW) == IdempotencyRecord(
        scope="customer:c-1:POST /tickets",
        key="k-1",
        fingerprint="f" * 64,
        status=201,
        body='{"id": "T-1"}',
        headers={"Location": "/tickets/T-1"},
        expires_at=datetime(2026, 11, 28, 2, 30, 15, tzinfo=UTC),
        written_at=NOW,
    )
    assert record(None, response, NOW) is None
