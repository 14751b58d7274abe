"""The one retry loop for writes the store refused without writing anything.

`retrying(write)` runs `write` (read, decide, write: a fresh decision each time). A
transaction conflict or a capacity refusal (nothing was written) is retried, and so is
any exception named in `also`; any other exception ends the loop. When every attempt
was refused, the last refusal decides: throttled -> ThrottledError (429 with
Retry-After), anything else -> `busy()`.

A dependency that failed or was out of reach (DependencyUnavailableError: the SDK has
retried already) is not retried here: the request answers `unavailable()` (503 with
Retry-After), and the client retries later (a write with the same Idempotency-Key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib.domain.errors import ConflictError, ServiceUnavailableError, ThrottledError
from chalicelib.service.ports import StoreThrottledError, TransactionConflictError

WRITE_ATTEMPTS = 4
_RETRIED: tuple[type[Exception], ...] = (TransactionConflictError, StoreThrottledError)
T = TypeVar("T")


def throttled() -> ThrottledError:
    return ThrottledError("The desk is busy; nothing was saved. Retry after a second.")


def unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "A service the desk depends on is not answering; nothing was half-written. Retry later."
    )


def _busy() -> Exception:
    return ConflictError("The desk is busy with the same records; retry")


def retrying(
    write: Callable[[], T],
    *,
    attempts: int = WRITE_ATTEMPTS,
    also: tuple[type[Exception], ...] = (),
    busy: Callable[[], Exception] | None = None,
) -> T:
    """The result of the first attempt of `write` that the store did not refuse."""
    retried = _RETRIED + also
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return write()
        except retried as refusal:
            last = refusal
    raise throttled() if isinstance(last, StoreThrottledError) else (busy or _busy)()
