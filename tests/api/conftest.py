"""API tests: real HTTP against the local stack (`python -m local.run`), started once.

Fixtures only; the helpers the tests import are in tests/api/support.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.token import mint
from tests.api.support import Stack, api_tests_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    yield from api_tests_stack()


@pytest.fixture
def token() -> Callable[..., str]:
    def make(group: str, subject: str, **options: Any) -> str:
        return mint(group, subject, **options)

    return make


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[[str, str], dict[str, str]]:
    def headers(group: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(group, subject)}"}

    return headers
