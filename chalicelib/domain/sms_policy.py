"""Where and how often the desk texts (security review H2: SMS pumping). Pure.

A contact number is typed in by the customer and never verified, and every ticket
texts it; without limits one customer token makes the desk send thousands of
international SMS an hour (toll fraud on premium ranges, +881/+882), and once the
account's SMS spend limit is reached nobody's SMS goes out.

- Destinations: only numbers whose E.164 country calling code is on the allow-list
  (default +86 mainland China, +852 Hong Kong, +853 Macao: the bank's customers and the
  stack's region). A ticket whose number is elsewhere is refused at input (400 on
  `contact.phone`); a message to such a number (a ticket opened before, or by staff from
  a text) is not sent.
- Quotas: at most `per_number` SMS to one number and `per_customer` SMS about one
  customer's tickets per day (the bank's day, Asia/Shanghai, as the reports count it: a
  quota renews at its midnight), counted atomically in the
  table before the provider is called.

A message the policy refuses goes by email when the customer allows it and gave one,
like any SMS the customer cannot take (SPEC 7); otherwise `notification.skipped`
records why. Ops hear of it once per number (or customer) per day.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import msgspec

from chalicelib.domain.counters import report_day, report_timezone
from chalicelib.domain.errors import FieldError, ValidationError

# E.164 country calling codes (without "+"): prefix-free, so a number is in a code's
# zone exactly when its digits start with it.
DEFAULT_ALLOWED_COUNTRY_CODES = ("86", "852", "853")
DEFAULT_DAILY_PER_NUMBER = 20
DEFAULT_DAILY_PER_CUSTOMER = 20
QUOTA_KEPT = timedelta(days=2)  # a day's counters are kept this long after the day began

# notification.skipped reasons (SPEC 7 lists "opted_out, no_contact, ...")
DESTINATION_NOT_ALLOWED = "sms_destination_not_allowed"
QUOTA_EXCEEDED = "sms_quota_exceeded"

# Which daily counter refused a message.
NUMBER = "number"
CUSTOMER = "customer"

_COUNTRY_CODE = re.compile(r"\+?([1-9][0-9]{0,2})")


class SmsPolicy(msgspec.Struct, frozen=True):
    allowed_country_codes: tuple[str, ...] = DEFAULT_ALLOWED_COUNTRY_CODES
    per_number: int = DEFAULT_DAILY_PER_NUMBER
    per_customer: int = DEFAULT_DAILY_PER_CUSTOMER

    def allows(self, phone: str) -> bool:
        """Whether the desk may text this E.164 number (its country code is allowed)."""
        digits = phone.strip().removeprefix("+")
        return any(digits.startswith(code) for code in self.allowed_country_codes)

    def check_contact(self, contact: object) -> None:
        """A request's `contact` (as posted): 400 on `contact.phone` when the desk may not
        text its number; the customer learns at once, instead of never hearing by SMS."""
        phone = contact.get("phone") if isinstance(contact, dict) else None
        if isinstance(phone, str) and not self.allows(phone):
            allowed = ", ".join(f"+{code}" for code in self.allowed_country_codes)
            message = f"must be a number the desk can text (country codes {allowed}); "
            raise ValidationError(
                [FieldError("contact.phone", message + "give an email address instead")]
            )


def number_prefix(phone: str) -> str:
    """The number's first 3 digits (`+882`), for ops: its country code (codes have 1-3
    digits) and no more, so no personal data."""
    return "+" + phone.strip().removeprefix("+")[:3]


def parse_country_codes(text: str) -> tuple[str, ...]:
    """`"+86, 852,853"` -> ("86", "852", "853"); ValueError naming a bad entry, or none."""
    codes: list[str] = []
    for entry in (part.strip() for part in text.split(",")):
        match = _COUNTRY_CODE.fullmatch(entry)
        if match is None:
            raise ValueError(f"{entry!r} is not a country calling code like +86")
        if match[1] not in codes:
            codes.append(match[1])
    if not codes:
        raise ValueError("names no country calling code")
    return tuple(codes)


# The bank's day (Asia/Shanghai) a moment falls on, `yyyy-mm-dd`: the reports' day, the
# counters' key; a quota renews at its midnight.
quota_day = report_day


def quota_expiry(day: str) -> datetime:
    """When a day's counters may go (TTL): `QUOTA_KEPT` after the day began."""
    start = datetime.fromisoformat(day).replace(tzinfo=report_timezone())
    return (start + QUOTA_KEPT).astimezone(UTC)
