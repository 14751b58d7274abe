"""Unit tests: pure code and fakes; the network is blocked."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from pytest_socket import disable_socket, enable_socket

# Property tests draw the same examples on every run (a failure in CI shows up on every run,
# not one in a hundred); HYPOTHESIS_PROFILE=explore draws new ones, to look for bugs.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def _no_network() -> object:
    disable_socket()
    yield
    enable_socket()
