"""botocore event hooks for the benchmarks: see every DynamoDB call any client makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def on_dynamodb_calls(event_name: str, handler: Callable[..., None]) -> None:
    """Register `handler` for `event_name` (e.g. "before-call.dynamodb") on every DynamoDB
    client created from now on, PynamoDB's own included."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(session, *args, **kwargs)
        if client.meta.service_model.service_name == "dynamodb":
            client.meta.events.register(event_name, handler)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
