"""The time an invocation has left before Lambda's timeout, for handlers that stop early
(and leave the rest for the next run or the retry) rather than be cut off mid-send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def seconds_left(event: Any) -> Callable[[], float] | None:
    """The seconds the invocation has left (Lambda's context on Chalice's event); None
    when there is no context (a direct call, a test): then there is no limit."""
    remaining = getattr(getattr(event, "context", None), "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: float(remaining()) / 1000
