import re

import pytest

from chalicelib.adapters.ids import RandomIdSource
from chalicelib.domain.ids import normalize_reference, reference_from_bytes

REFERENCE = re.compile(r"^SD-[0-9A-HJKMNP-TV-Z]{8}$")


def test_reference_encodes_forty_bits_in_crockford_base32():
    assert reference_from_bytes(b"\x00\x00\x00\x00\x00") == "SD-00000000"
    assert reference_from_bytes(b"\xff\xff\xff\xff\xff") == "SD-ZZZZZZZZ"
    assert reference_from_bytes(b"\x00\x00\x00\x00\x21") == "SD-00000011"


def test_reference_needs_five_bytes():
    with pytest.raises(ValueError):
        reference_from_bytes(b"\x00")


def test_normalize_accepts_what_a_customer_reads_out():
    assert normalize_reference("sd-7k4q 9m2p") == "SD-7K4Q9M2P"
    assert normalize_reference("SD-OIL00000") == "SD-01100000"


def test_random_ids_are_well_formed_and_time_sortable():
    ids = RandomIdSource()
    first, second = ids.ticket_id(), ids.ticket_id()
    assert re.match(r"^T-[0-9A-HJKMNP-TV-Z]{26}$", first)
    assert first != second
    assert REFERENCE.match(ids.reference())
    assert ids.event_id().startswith("E-")
