"""Fuzz tests: Schemathesis against the served OpenAPI document of the local stack."""

from tests.api.conftest import Stack, stack  # noqa: F401 - the same session stack fixture

__all__ = ["Stack", "stack"]
