"""Browser tests: Debian's headless Chromium against the local stack (`python -m local.run`).

`make browser` installs the packages chromium and chromium-driver when they are
missing. Without them these tests fail; they never skip, so CI cannot go green
without having driven a real browser.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from local.stack import PROJECT_DIR
from local.token import mint
from tests.api.support import Stack, running_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "install them with `make browser` (apt-get install -y chromium chromium-driver)"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Like the API tests' stack, with a survey window long enough to answer in a browser."""
    yield from running_stack(
        "browser-tests-stack.log", SURVEY_DELAY_SECONDS="1", SURVEY_WINDOW_SECONDS="30"
    )


@pytest.fixture(scope="session")
def chromium_binaries() -> tuple[Path, Path]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: {INSTALL_HINT}", pytrace=False)
    return CHROMIUM, CHROMEDRIVER


def chrome_options(profile_dir: str, accept_language: str) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",  # only loopback is reachable; never route it through a proxy
        "--window-size=390,844",  # the page is mobile-first: a phone-sized viewport
        f"--lang={accept_language}",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            # The page must work without JavaScript: block it for every site.
            "profile.managed_default_content_settings.javascript": 2,
            "intl.accept_languages": accept_language,
        },
    )
    return options


@pytest.fixture
def browser(
    chromium_binaries: tuple[Path, Path],
) -> Iterator[Callable[[str], webdriver.Chrome]]:
    """Starts a fresh headless Chromium (new profile, JavaScript off) with the given language."""
    _, driver_path = chromium_binaries
    started: list[tuple[webdriver.Chrome, str]] = []

    def start(accept_language: str) -> webdriver.Chrome:
        profile_dir = tempfile.mkdtemp(prefix="servicedesk-chromium-")
        log_path = PROJECT_DIR / "build" / "chromedriver.log"
        log_path.parent.mkdir(exist_ok=True)
        service = Service(str(driver_path), log_output=str(log_path))
        try:
            driver = webdriver.Chrome(
                service=service, options=chrome_options(profile_dir, accept_language)
            )
        except Exception:
            shutil.rmtree(profile_dir, ignore_errors=True)
            raise
        driver.set_page_load_timeout(90)
        started.append((driver, profile_dir))
        return driver

    yield start
    for driver, profile_dir in started:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile_dir, ignore_errors=True)


@pytest.fixture
def auth() -> Callable[[str, str], dict[str, str]]:
    def headers(group: str, subject: str, **options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(group, subject, **options)}"}

    return headers
