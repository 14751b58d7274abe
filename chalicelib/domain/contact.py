"""Customer contact details: stored in full, shown masked to everyone."""

from __future__ import annotations

import msgspec

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


# Phone masks (SPEC 5): the first 3 national digits from 9 digits on, always the last 4,
# and between them a fixed `****` whatever the number of digits it hides (so the mask
# does not tell the number's length): `+86 138****8000`, `+1 415****2671`.
_HEAD, _TAIL, _FULL_FROM = 3, 4, 9
_HIDDEN = "****"


class Contact(msgspec.Struct, frozen=True):
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
    """`+8613812348000` -> `+86 138****8000`, `+14155552671` -> `+1 415****2671`; under 9
    national digits all but the last 4 are hidden (`+853 ****1234`)."""
    country, national = split_country_code(e164)
    head = national[:_HEAD] if len(national) >= _FULL_FROM else ""
    return f"+{country} {head}{_HIDDEN}{national[-_TAIL:]}"


def mask_email(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"
