"""The one retry loop: what it retries, when it gives up, and what it says then."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.domain.errors import ConflictError, NotFoundError, ThrottledError
from chalicelib.service.ports import (
    ReferenceTakenError,
    StoreThrottledError,
    TransactionConflictError,
)
from chalicelib.service.retries import retrying

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
