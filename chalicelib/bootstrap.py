"""The one place that reads the environment and builds real clients.

Everything is built lazily on first use and cached for the life of the Lambda
instance, so a cold start pays only for what the invoked handler touches.
Tests replace parts with ``override``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

from chalicelib.config import Settings
from chalicelib.service.ports import Clock, IdSource, ReactionLedger, TicketRepository
from chalicelib.service.reactions import ReactionPorts
from chalicelib.service.tickets import TicketPorts

_overrides: dict[str, Any] = {}


def override(**parts: Any) -> None:
    """Replace built parts (settings, clock, repository, ledger, ids, verifier)."""
    _overrides.update(parts)


def reset() -> None:
    _overrides.clear()
    for builder in (settings, _connection, _repository, _ledger, _ids, token_verifier):
        builder.cache_clear()


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock() -> Clock:
    return _overrides.get("clock", utc_now)  # type: ignore[no-any-return]


@cache
def settings() -> Settings:
    if "settings" in _overrides:
        return _overrides["settings"]  # type: ignore[no-any-return]
    return Settings.from_env(os.environ)


@cache
def _connection() -> Any:
    from pynamodb.connection import Connection

    from chalicelib.adapters.models import bind_table

    current = settings()
    bind_table(current.table_name, current.region, current.aws_endpoint_url)
    return Connection(region=current.region, host=current.aws_endpoint_url)


@cache
def _repository() -> TicketRepository:
    from chalicelib.adapters.dynamo import DynamoTicketRepository

    return DynamoTicketRepository(_connection())


@cache
def _ledger() -> ReactionLedger:
    from chalicelib.adapters.dynamo import DynamoReactionLedger

    return DynamoReactionLedger(_connection(), clock())


@cache
def _ids() -> IdSource:
    from chalicelib.adapters.ids import RandomIdSource

    return RandomIdSource()


def ticket_ports() -> TicketPorts:
    return TicketPorts(
        repository=_overrides.get("repository") or _repository(),
        ids=_overrides.get("ids") or _ids(),
        clock=clock(),
    )


def reaction_ports() -> ReactionPorts:
    return ReactionPorts(ledger=_overrides.get("ledger") or _ledger())


def bind_storage() -> None:
    """Bind the table models (decoding stream images needs no connection, only this)."""
    _connection()


@cache
def token_verifier() -> Any:
    if "token_verifier" in _overrides:
        return _overrides["token_verifier"]
    from chalicelib.adapters.tokens import build_token_verifier

    return build_token_verifier(settings())
