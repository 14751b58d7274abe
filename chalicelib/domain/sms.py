"""How many SMS segments a text costs, and in which encoding it travels.

A text made only of the GSM 03.38 default alphabet (and its extension table)
goes as GSM-7: 160 septets in one segment, 153 per segment once concatenated
(the user data header takes the rest). Anything else goes as UCS-2: 70 UTF-16
code units, 67 per concatenated segment. A character never straddles two
segments: an extension character's escape pair, and an emoji's surrogate pair,
move whole to the next segment, so counting is packing, not dividing.
"""

from __future__ import annotations

from collections.abc import Iterable

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

# GSM 03.38 default alphabet, 0x00-0x7F, less 0x1B (the escape to the extension table).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape: each costs two septets.
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT = {GSM_7: 160, UCS_2: 70}
CONCATENATED_SEGMENT = {GSM_7: 153, UCS_2: 67}


def encoding(text: str) -> str:
    """GSM-7 when every character is in the GSM 03.38 alphabet, else UCS-2."""
    gsm = _GSM_BASIC | _GSM_EXTENSION
    return GSM_7 if all(char in gsm for char in text) else UCS_2


def length(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    return sum(_unit_costs(text, encoding(text)))


def segments(text: str) -> int:
    """Segments the text is sent in; an empty text is no message at all."""
    if not text:
        return 0
    scheme = encoding(text)
    costs = list(_unit_costs(text, scheme))
    if sum(costs) <= SINGLE_SEGMENT[scheme]:
        return 1
    return _packed(costs, CONCATENATED_SEGMENT[scheme])


def _unit_costs(text: str, scheme: str) -> Iterable[int]:
    if scheme == GSM_7:
        return (2 if char in _GSM_EXTENSION else 1 for char in text)
    return (2 if ord(char) > 0xFFFF else 1 for char in text)


def _packed(costs: Iterable[int], capacity: int) -> int:
    count, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            count, used = count + 1, 0
        used += cost
    return count
