"""The one retry loop of the desk, and how many times each kind of call is tried.

`retry(call, attempts=, when=)` runs `call` until it returns, at most `attempts`
times: an error `when` accepts is retried (after `pause`, when given), any other
error ends the loop at once; when every attempt failed, the last error is raised, or
what `given_up` makes of it. Everything that is tried again goes through it: the
use cases' writes, the audit log's batches (adapters/records.py), the provider sends
(service/notifications.py).

`retrying(write)` is the policy for writes the store refused without writing anything
(read, decide, write: a fresh decision each time). A transaction conflict or a
capacity refusal is retried, and so is any exception named in `also`; any other
exception ends the loop. When every attempt was refused, the last refusal decides:
throttled -> ThrottledError (429 with Retry-After), anything else -> `busy()`.

A dependency that failed or was out of reach (DependencyUnavailableError: the SDK has
retried already) is not retried here: the request answers `unavailable()` (503 with
Retry-After), and the client retries later (a write with the same Idempotency-Key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib.domain.errors import ConflictError, ServiceUnavailableError, ThrottledError
from chalicelib.service.ports import StoreThrottledError, TransactionConflictError

# How many times each kind of call is tried (the first attempt included).
# A write the store refused, or whose ticket moved meanwhile (read again, decide again).
WRITE_ATTEMPTS = 4
# A write that takes a new ticket reference: a reference taken meanwhile draws another.
REFERENCE_ATTEMPTS = 5
# A document's write racing the ticket's other changes (an email's attachments, scans).
DOCUMENT_ATTEMPTS = 5
# An erasure's writes: a ticket still changing after these is refused (409), not forced.
ERASURE_ATTEMPTS = 3
# The SLA sweep's write on one ticket: still contested, the next sweep (a minute later)
# tries again.
SWEEP_ATTEMPTS = 3
# Rounds of a claim: each reads the queue's candidates again after losing every race.
CLAIM_ROUNDS = WRITE_ATTEMPTS
# A provider send (SNS, SES) that failed with a retryable error, with backoff.
SEND_ATTEMPTS = 3
SEND_BACKOFF_SECONDS = 0.5
# An audit batch DynamoDB left partly unprocessed: the rest is resent with backoff.
BATCH_ATTEMPTS = 5
BATCH_BACKOFF_SECONDS = 0.05

_RETRIED: tuple[type[Exception], ...] = (TransactionConflictError, StoreThrottledError)
T = TypeVar("T")
Pause = Callable[[int], None]


def throttled() -> ThrottledError:
    return ThrottledError("The desk is busy; nothing was saved. Retry after a second.")


def unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "A service the desk depends on is not answering; nothing was half-written. Retry later."
    )


def _busy() -> Exception:
    return ConflictError("The desk is busy with the same records; retry")


def backoff(sleep: Callable[[float], None], first_seconds: float) -> Pause:
    """A pause that doubles: `first_seconds` after the first failed attempt, then twice
    as long after each next one."""
    return lambda failed: sleep(first_seconds * 2 ** (failed - 1))


def one_of(*kinds: type[Exception]) -> Callable[[Exception], bool]:
    """A `when` that accepts the errors of these kinds."""
    return lambda error: isinstance(error, kinds)


def retry(
    call: Callable[[], T],
    *,
    attempts: int,
    when: Callable[[Exception], bool],
    given_up: Callable[[Exception], Exception] | None = None,
    pause: Pause | None = None,
) -> T:
    """The result of the first attempt of `call` that did not fail.

    An error `when` accepts is retried, after `pause(n)` (n: the attempts failed so
    far); any other error is raised at once. When all `attempts` failed, the last error
    is raised, or `given_up(last)` when given."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for failed in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            if not when(error):
                raise
            if failed == attempts:
                if given_up is None:
                    raise
                raise given_up(error) from error
        if pause is not None:
            pause(failed)
    raise AssertionError("unreachable: the last attempt returns or raises")


def retrying(
    write: Callable[[], T],
    *,
    attempts: int = WRITE_ATTEMPTS,
    also: tuple[type[Exception], ...] = (),
    busy: Callable[[], Exception] | None = None,
) -> T:
    """The result of the first attempt of `write` that the store did not refuse."""

    def given_up(last: Exception) -> Exception:
        return throttled() if isinstance(last, StoreThrottledError) else (busy or _busy)()

    return retry(write, attempts=attempts, when=one_of(*_RETRIED, *also), given_up=given_up)
