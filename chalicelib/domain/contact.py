"""Customer contact details: stored in full, shown masked to everyone."""

from __future__ import annotations

from dataclasses import dataclass

# ITU-T E.164 country calling codes are 1-3 digits and prefix-free; these are the
# codes of the bank's customers' numbers we must split precisely for masking.
_COUNTRY_CODES = (
    "1",
    "7",
    "20",
    "27",
    "30",
    "31",
    "32",
    "33",
    "34",
    "36",
    "39",
    "40",
    "41",
    "43",
    "44",
    "45",
    "46",
    "47",
    "48",
    "49",
    "51",
    "52",
    "53",
    "54",
    "55",
    "56",
    "57",
    "58",
    "60",
    "61",
    "62",
    "63",
    "64",
    "65",
    "66",
    "81",
    "82",
    "84",
    "86",
    "90",
    "91",
    "92",
    "93",
    "94",
    "95",
    "98",
    "852",
    "853",
    "855",
    "856",
    "880",
    "886",
    "971",
    "972",
    "966",
    "974",
)


# Phone masks (SPEC 5): the first 3 and last 4 national digits at most, never fewer than
# 4 hidden (a 9- or 10-digit number would otherwise show 7 of its digits).
_HEAD, _TAIL, _MIN_HIDDEN = 3, 4, 4


@dataclass(frozen=True)
class Contact:
    phone: str | None
    email: str | None
    preferred: str
    locale: str

    @classmethod
    def from_request(cls, data: dict[str, str] | None) -> Contact:
        data = data or {}
        phone = data.get("phone")
        email = data.get("email")
        return cls(
            phone=phone,
            email=email,
            preferred=data.get("preferred") or _default_preferred(phone, email),
            locale=data.get("locale") or "zh-CN",
        )

    def masked(self) -> dict[str, str | None]:
        return {
            "phone": mask_phone(self.phone) if self.phone else None,
            "email": mask_email(self.email) if self.email else None,
            "preferred": self.preferred,
            "locale": self.locale,
        }


def _default_preferred(phone: str | None, email: str | None) -> str:
    if phone:
        return "sms"
    if email:
        return "email"
    return "none"


def split_country_code(e164: str) -> tuple[str, str]:
    digits = e164.lstrip("+")
    for length in (1, 2, 3):
        if digits[:length] in _COUNTRY_CODES:
            return digits[:length], digits[length:]
    return digits[:2], digits[2:]


def mask_phone(e164: str) -> str:
    """`+8613812348000` -> `+86 138****8000`: at least 4 national digits always hidden.

    The first 3 show only when 4 stay hidden besides them (11 digits or more), else only
    the last 4 do (and fewer than 4 under 8 digits); one `*` per hidden digit.
    """
    country, national = split_country_code(e164)
    shown_tail = min(_TAIL, max(0, len(national) - _MIN_HIDDEN))
    shown_head = _HEAD if len(national) >= _HEAD + _MIN_HIDDEN + _TAIL else 0
    hidden = len(national) - shown_head - shown_tail
    tail = national[len(national) - shown_tail :]
    return f"+{country} {national[:shown_head]}{'*' * hidden}{tail}"


def mask_email(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"
