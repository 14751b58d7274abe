"""Fuzz tests: Schemathesis against the served OpenAPI document of the local stack.

The same stack as the API tests: in one pytest session (`make test` runs
`pytest tests/fuzz tests/api`) both suites use one stack, the API suites after the fuzzer."""

from collections.abc import Iterator

import pytest

from tests.api.support import Stack, api_tests_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    yield from api_tests_stack()
