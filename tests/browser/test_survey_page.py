"""The follow-up survey (SPEC section 8) answered in a real browser, as a customer would.

Resolve a ticket through the API, read the invitation SMS from moto, open its
short link in headless Chromium with JavaScript switched off, pick a score by
its label, send the form, and see the thank-you page in the customer's
language; the ticket then closes and the link says the survey was answered.
The browser asks for the other language, so the page must follow the survey's
locale, not the browser's.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from tests.api.support import Stack

WAIT = 60.0  # seconds; the machine is shared and slow, so every wait is generous

THANKS = {"zh-CN": "感谢您的评价", "en-US": "Thank you for your feedback"}
FOLLOW_UP = {"zh-CN": "与您联系", "en-US": "contact you"}
ANSWERED = {"zh-CN": "已评价", "en-US": "Already answered"}
OTHER = {"zh-CN": "en-US", "en-US": "zh-CN"}
SUBJECT = {"zh-CN": "信用卡被锁 <b>{tag}</b> & 年费", "en-US": "Card blocked <b>{tag}</b> & fees"}
COMMENT = {"zh-CN": "客服很耐心，谢谢！", "en-US": "Patient & helpful, thanks!"}


def poll(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)


def texts_to(stack: Stack, phone: str) -> list[str]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=30).json()
    return [
        str(message.get("message"))
        for message in data.get("sns", {}).get("SMS", [])
        if message.get("phone_number") == phone
    ]


def resolved_ticket(stack: Stack, auth: Callable[..., dict[str, str]], locale: str, phone: str):
    customer = f"cust-browser-{uuid.uuid4().hex[:8]}"
    subject = SUBJECT[locale].format(tag=uuid.uuid4().hex[:8])
    body = {
        "channel": "mobile",
        "kind": "consultation",
        "category": "card",
        "subject": subject,
        "contact": {"phone": phone, "locale": locale},
    }
    created = requests.post(
        f"{stack.api}/v1/tickets", json=body, headers=auth("customers", customer), timeout=30
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    actions = f"{stack.api}/v1/tickets/{ticket['id']}/actions"
    agent = auth("agents", "a-1")
    for step in (
        {"action": "assign"},
        {"action": "start"},
        {"action": "resolve", "resolution": "done"},
    ):
        response = requests.post(actions, json=step, headers=agent, timeout=30)
        assert response.status_code == 200, (step, response.text)
    return ticket, subject


def invitation_link(stack: Stack, phone: str, before: int, timeline: Callable[[], Any]) -> str:
    link = re.compile(re.escape(stack.api) + r"/s/[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")

    def find() -> str | None:
        for text in texts_to(stack, phone)[before:]:
            found = link.search(text)
            if found:
                return found.group(0)
        return None

    try:
        return str(poll(find, WAIT, f"survey invitation SMS with a /s/ link to {phone}"))
    except AssertionError as error:
        seen = texts_to(stack, phone)[before:]
        raise AssertionError(f"{error}\nSMS: {seen}\ntimeline: {timeline()}") from None


def assert_javascript_is_off(driver: WebDriver) -> None:
    """A <noscript> block renders only when the browser really runs no script."""
    driver.get("data:text/html,<noscript><p id=off>no script</p></noscript>")
    assert driver.find_element(By.ID, "off").text == "no script"


def heading(driver: WebDriver) -> str:
    return str(
        WebDriverWait(driver, WAIT)
        .until(ec.visibility_of_element_located((By.TAG_NAME, "h1")))
        .text
    )


def label_for(driver: WebDriver, control: WebElement) -> WebElement:
    control_id = control.get_attribute("id")
    assert control_id, "every radio button needs an id its label can point at"
    labels = driver.find_elements(By.CSS_SELECTOR, f'label[for="{control_id}"]')
    assert len(labels) == 1, f"radio {control_id} has {len(labels)} <label for>"
    assert labels[0].text.strip(), f"the label of {control_id} is empty"
    return labels[0]


class Case(NamedTuple):
    locale: str
    score: int
    phone: str  # one per case; moto treats numbers ending in 99 as opted out of SMS


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(Case("zh-CN", 2, "+8613800138001"), id="zh-CN-low-score"),
        pytest.param(Case("en-US", 4, "+8613800138002"), id="en-US"),
    ],
)
def test_the_customer_answers_from_the_sms_link_without_javascript(stack, auth, browser, case):
    locale, score, phone = case
    before = len(texts_to(stack, phone))
    ticket, subject = resolved_ticket(stack, auth, locale, phone)
    agent = auth("agents", "a-1")
    ticket_url = f"{stack.api}/v1/tickets/{ticket['id']}"

    def timeline() -> list[Any]:
        entries = requests.get(f"{ticket_url}/timeline", headers=agent, timeout=30).json()
        return [(entry["type"], entry.get("data")) for entry in entries["items"]]

    link = invitation_link(stack, phone, before, timeline)

    driver = browser(OTHER[locale])
    assert_javascript_is_off(driver)

    # The short link from the SMS redirects to the survey page.
    driver.get(link)
    WebDriverWait(driver, WAIT).until(ec.url_contains("/v1/surveys/"))
    page_url = driver.current_url
    assert page_url == link.replace("/s/", "/v1/surveys/")
    assert heading(driver)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale

    # Only the ticket's subject, shown as text: markup in it is escaped, not rendered.
    shown = driver.find_element(By.CSS_SELECTOR, ".subject")
    assert subject in shown.text
    assert not shown.find_elements(By.CSS_SELECTOR, "b")
    assert phone[3:] not in driver.page_source  # nothing about the customer but the subject

    # An accessible form: a legend for the group, a label for each of the five scores.
    form = driver.find_element(By.TAG_NAME, "form")
    legend = form.find_element(By.CSS_SELECTOR, "fieldset > legend")
    assert legend.text.strip()
    radios = form.find_elements(By.CSS_SELECTOR, 'fieldset input[type="radio"][name="score"]')
    assert [radio.get_attribute("value") for radio in radios] == ["1", "2", "3", "4", "5"]
    labels = {radio.get_attribute("value"): label_for(driver, radio) for radio in radios}
    assert not any(radio.is_selected() for radio in radios)

    # Pick the score by its label, as a finger on a phone would, then send the form.
    labels[str(score)].click()
    WebDriverWait(driver, WAIT).until(lambda _: radios[score - 1].is_selected())
    assert [radio.is_selected() for radio in radios].count(True) == 1
    form.find_element(By.ID, "comment").send_keys(COMMENT[locale])
    button = form.find_element(By.CSS_SELECTOR, 'button[type="submit"]')
    assert button.text.strip()
    button.click()

    # Chromium may answer a look at the old page's node, while the next page loads, with
    # "Node ... does not belong to the document" rather than a stale reference: poll again.
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        ec.staleness_of(button)
    )
    assert heading(driver) == THANKS[locale]
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    body = driver.find_element(By.TAG_NAME, "body").text
    if score <= 2:
        assert FOLLOW_UP[locale] in body, body
    else:
        assert FOLLOW_UP[locale] not in body, body
    assert not driver.find_elements(By.TAG_NAME, "form")

    # The answer closes the ticket.
    poll(
        lambda: requests.get(ticket_url, headers=agent, timeout=30).json()["status"] == "closed",
        WAIT,
        f"ticket {ticket['id']} closed after the answer",
    )

    # The same link again: already answered, nothing left to submit.
    driver.get(link)
    WebDriverWait(driver, WAIT).until(ec.url_to_be(page_url))
    assert heading(driver) == ANSWERED[locale]
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == locale
    assert not driver.find_elements(By.TAG_NAME, "form")
    assert not driver.find_elements(By.CSS_SELECTOR, "input, textarea, button")
