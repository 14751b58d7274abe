"""Fuzz tests: Schemathesis against the served OpenAPI document of the local stack.

The same session fixture as the API tests: in one pytest session (`make test` runs
`pytest tests/fuzz tests/api`) both suites use one stack, the API suites after the fuzzer."""

from tests.api.conftest import Stack, stack  # noqa: F401 - the same session stack fixture

__all__ = ["Stack", "stack"]
