"""Idempotency-Key: the one place that stores a route's response and replays it (SPEC 4).

A write that carries a key stores its response in the same transaction (the record is
linked to the ticket's first new event, so erasure finds it). A retry with the same
key and body gets the stored response; with another body, 422; while the first
request still runs, 409. Records live 24 hours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

from chalicelib.domain.errors import IdempotencyKeyReusedError, RequestInFlightError
from chalicelib.service.ports import (
    Clock,
    IdempotencyKeyTakenError,
    IdempotencyRecord,
    TicketRepository,
    TransactionConflictError,
)

IDEMPOTENCY_TTL = timedelta(hours=24)


class StoredResponse(msgspec.Struct, frozen=True):
    """A response as it is sent, so an idempotent retry can get it again."""

    status: int
    body: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class IdempotencyKey(msgspec.Struct, frozen=True):
    scope: str  # caller and route
    key: str
    fingerprint: str  # of the parsed request body


def replay(
    store: TicketRepository, key: IdempotencyKey | None, now: datetime
) -> StoredResponse | None:
    """The stored response for this key, if a live record holds it (422 for another body)."""
    if key is None:
        return None
    stored = store.idempotency_record(key.scope, key.key, now)
    if stored is None:
        return None
    if stored.fingerprint != key.fingerprint:
        raise IdempotencyKeyReusedError("This Idempotency-Key was used with a different body")
    return StoredResponse(stored.status, stored.body, dict(stored.headers))


def replay_after_race(
    store: TicketRepository, key: IdempotencyKey | None, now: datetime
) -> StoredResponse:
    """Another request took the key first: its response, or 409 while it still runs."""
    stored = replay(store, key, now)
    if stored is None:
        raise RequestInFlightError("A request with this Idempotency-Key is still running")
    return stored


def after_race(
    store: TicketRepository,
    key: IdempotencyKey | None,
    error: IdempotencyKeyTakenError | TransactionConflictError,
    now: datetime,
) -> StoredResponse:
    """A write lost a race. The key was taken: the winner's response (409 while it
    runs). A transaction conflict: the winner's response when a request with the same
    key won, else the conflict again, for the caller to retry (nothing was written)."""
    if isinstance(error, IdempotencyKeyTakenError):
        return replay_after_race(store, key, now)
    stored = replay(store, key, now)
    if stored is None:
        raise error
    return stored


def record(
    key: IdempotencyKey | None, response: StoredResponse, now: datetime
) -> IdempotencyRecord | None:
    """The record to write with the response (None without a key)."""
    if key is None:
        return None
    # A record is the key and the response it keeps, with its lifetime.
    return IdempotencyRecord(
        **msgspec.structs.asdict(key),
        **msgspec.structs.asdict(response),
        expires_at=(now + IDEMPOTENCY_TTL).replace(microsecond=0),
        written_at=now,
    )


def kept(
    store: TicketRepository,
    key: IdempotencyKey | None,
    response: StoredResponse,
    write: Callable[[IdempotencyRecord | None], None],
    *,
    now: datetime,
    clock: Clock,
) -> StoredResponse:
    """`write` the change together with the record keeping `response` under the key, and
    answer `response`; a race lost to another request: the winner's (after_race)."""
    try:
        write(record(key, response, now))
    except (IdempotencyKeyTakenError, TransactionConflictError) as error:
        return after_race(store, key, error, clock())
    return response
