"""The one retry loop: what it retries, when it gives up, and what it says then; and the
store's policy on top of it (`retrying`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.domain.errors import ConflictError, NotFoundError, ThrottledError
from chalicelib.service.ports import (
    ReferenceTakenError,
    StoreThrottledError,
    TransactionConflictError,
)
from chalicelib.service.retries import backoff, one_of, retry, retrying

WRITE_ATTEMPTS = 4  # a refused write is tried 4 times (not the code's constant)


def refusing(*refusals: Exception) -> tuple[Callable[[], str], list[int]]:
    """A write refused with each of `refusals` in turn, then done."""
    calls: list[int] = []

    def write() -> str:
        calls.append(len(calls))
        if len(calls) <= len(refusals):
            raise refusals[len(calls) - 1]
        return "written"

    return write, calls


def test_conflicts_and_capacity_refusals_are_retried_until_one_attempt_writes():
    write, calls = refusing(TransactionConflictError(), StoreThrottledError())
    assert retrying(write) == "written"
    assert len(calls) == 3


def test_throttled_to_the_end_is_a_throttled_error():
    write, calls = refusing(*[StoreThrottledError()] * WRITE_ATTEMPTS)
    with pytest.raises(ThrottledError):
        retrying(write)
    assert len(calls) == WRITE_ATTEMPTS


def test_the_last_refusal_decides_what_the_caller_hears():
    refusals = [StoreThrottledError()] * (WRITE_ATTEMPTS - 1) + [TransactionConflictError()]
    write, _ = refusing(*refusals)
    with pytest.raises(ConflictError, match="busy"):
        retrying(write, busy=lambda: ConflictError("busy"))


def test_named_refusals_are_retried_too_and_anything_else_ends_the_loop():
    write, calls = refusing(ReferenceTakenError("SD-1"), ReferenceTakenError("SD-2"))
    assert retrying(write, also=(ReferenceTakenError,)) == "written"
    assert len(calls) == 3
    write, calls = refusing(ReferenceTakenError("SD-1"))
    with pytest.raises(ReferenceTakenError):
        retrying(write)
    write, calls = refusing(NotFoundError("gone"), TransactionConflictError())
    with pytest.raises(NotFoundError):
        retrying(write)
    assert len(calls) == 1


# ------------------------------------------------ retry: the loop under every retry


class Refusal(Exception):
    """A refusal a caller names as worth another attempt."""


def test_retry_tries_again_only_what_when_accepts():
    write, calls = refusing(Refusal(), Refusal())
    assert retry(write, attempts=3, when=one_of(Refusal)) == "written"
    assert len(calls) == 3
    write, calls = refusing(Refusal(), ReferenceTakenError("SD-1"), Refusal())
    with pytest.raises(ReferenceTakenError):
        retry(write, attempts=5, when=one_of(Refusal))
    assert len(calls) == 2


def test_retry_raises_the_last_refusal_itself_when_every_attempt_failed():
    refusals = [Refusal("first"), Refusal("second"), Refusal("last")]
    write, calls = refusing(*refusals)
    with pytest.raises(Refusal) as raised:
        retry(write, attempts=3, when=one_of(Refusal))
    assert raised.value is refusals[-1]
    assert len(calls) == 3


def test_retry_says_what_given_up_makes_of_the_last_refusal():
    write, _ = refusing(Refusal("first"), Refusal("last"))
    with pytest.raises(ConflictError, match="gave up after last") as raised:
        retry(
            write,
            attempts=2,
            when=one_of(Refusal),
            given_up=lambda last: ConflictError(f"gave up after {last}"),
        )
    assert isinstance(raised.value.__cause__, Refusal)


def test_retry_pauses_between_attempts_never_after_the_last_one():
    pauses: list[int] = []
    write, _ = refusing(Refusal(), Refusal())
    assert retry(write, attempts=3, when=one_of(Refusal), pause=pauses.append) == "written"
    assert pauses == [1, 2]  # after the first and the second failed attempt
    pauses.clear()
    write, _ = refusing(*[Refusal()] * 3)
    with pytest.raises(Refusal):
        retry(write, attempts=3, when=one_of(Refusal), pause=pauses.append)
    assert pauses == [1, 2]
    pauses.clear()
    write, _ = refusing(ReferenceTakenError("SD-1"))
    with pytest.raises(ReferenceTakenError):
        retry(write, attempts=3, when=one_of(Refusal), pause=pauses.append)
    assert pauses == []  # not retried: no pause either


def test_backoff_doubles_from_its_first_pause():
    waits: list[float] = []
    pause = backoff(waits.append, 0.05)
    for failed in (1, 2, 3, 4):
        pause(failed)
    assert waits == [0.05, 0.1, 0.2, 0.4]


def test_retry_needs_one_attempt_at_least():
    write, calls = refusing()
    with pytest.raises(ValueError, match="at least 1"):
        retry(write, attempts=0, when=one_of(Refusal))
    assert calls == []
