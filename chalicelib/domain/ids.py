"""Identifier formats. Randomness is passed in, so these stay pure and testable."""

from __future__ import annotations

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "SD-"
REFERENCE_LENGTH = 8  # 40 bits: read out over the phone, unique by a conditional write


def reference_from_bytes(random5: bytes) -> str:
    """`SD-` + 8 Crockford base32 characters from 5 random bytes (no I, L, O, U)."""
    if len(random5) != 5:
        raise ValueError("a reference needs exactly 5 random bytes")
    number = int.from_bytes(random5, "big")
    chars = [CROCKFORD[(number >> shift) & 31] for shift in range(35, -1, -5)]
    return REFERENCE_PREFIX + "".join(chars)


def normalize_reference(text: str) -> str:
    """Accept what a customer reads out: lower case, spaces, O for 0, I/L for 1."""
    cleaned = text.upper().replace(" ", "").replace("-", "")
    cleaned = cleaned.removeprefix("SD")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    return REFERENCE_PREFIX + cleaned
