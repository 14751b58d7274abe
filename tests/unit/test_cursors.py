"""Opaque list cursors: only what the API issued, for the query it was issued for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from chalicelib.api.cursors import CursorCodec, fingerprint
from chalicelib.domain.errors import ValidationError
from chalicelib.service.ports import StartKey

SIGNING_KEY = b"unit-test-cursor-key"
CODEC = CursorCodec(SIGNING_KEY)
encode_cursor = CODEC.encode
decode_cursor = CODEC.decode

QUERY = fingerprint("tickets", "cust-1", None, None, None, None, None)
# Positions are the store's own tokens: the codec signs them without reading them.
LIST_KEY = StartKey(
    '{"customer_id":"cust-1","list_sk":"2026-11-27T02:30:00+00:00#T-01JD3",'
    '"pk":"TICKET#T-01JD3","sk":"#TICKET"}'
)
EVENT_KEY = StartKey("E-01JD4")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forge(payload: Any) -> str:
    return b64(json.dumps(payload).encode())


def signed(payload: Any) -> str:
    """A payload signed with the deployment's key: what only the API can make."""
    raw = json.dumps(payload).encode()
    return b64(hmac.new(SIGNING_KEY, raw, hashlib.sha256).digest()[:16] + raw)


def assert_refused(cursor: str, query: str = QUERY) -> None:
    with pytest.raises(ValidationError) as raised:
        decode_cursor(cursor, query)
    assert [error.path for error in raised.value.errors] == ["cursor"]


@pytest.mark.parametrize("key", [LIST_KEY, EVENT_KEY], ids=["list", "timeline"])
def test_a_cursor_round_trips(key):
    cursor = encode_cursor(key, QUERY)
    assert cursor is not None
    assert decode_cursor(cursor, QUERY) == key


def test_no_key_is_no_cursor_and_no_cursor_is_the_first_page():
    assert encode_cursor(None, QUERY) is None
    assert decode_cursor(None, QUERY) is None


def test_a_cursor_is_url_safe_and_does_not_show_its_content_plainly():
    cursor = encode_cursor(LIST_KEY, QUERY)
    assert cursor is not None
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "TICKET#" not in cursor


def test_a_fingerprint_depends_on_every_part_of_the_query():
    base = fingerprint("tickets", "cust-1", None, "cards", None, None, "new")
    assert base == fingerprint("tickets", "cust-1", None, "cards", None, None, "new")
    others = {
        fingerprint("tickets", "cust-2", None, "cards", None, None, "new"),
        fingerprint("tickets", "cust-1", None, "loans", None, None, "new"),
        fingerprint("tickets", "cust-1", None, "cards", None, None, None),
        fingerprint("timeline", "cust-1", None, "cards", None, None, "new"),
    }
    assert base not in others
    assert len(others) == 4


def test_a_cursor_for_another_query_is_refused():
    cursor = encode_cursor(LIST_KEY, QUERY)
    assert cursor is not None
    assert_refused(cursor, fingerprint("tickets", "cust-2", None, None, None, None, None))
    assert_refused(cursor, fingerprint("tickets", "cust-1", None, None, None, None, "new"))


def test_a_cursor_whose_query_fingerprint_was_edited_is_refused():
    forged = forge({"p": LIST_KEY, "q": "0" * 16})
    assert_refused(forged)


def test_a_cursor_with_an_edited_key_is_refused():
    # SPEC 4: "a cursor that was not issued by the API" is 400. This one was built by
    # the client from an issued cursor, moving the start key within the list.
    issued = encode_cursor(LIST_KEY, QUERY)
    assert issued is not None
    raw = base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4))
    tag, payload = raw[:16], json.loads(raw[16:])
    payload["p"] = payload["p"].replace("2026-11-27", "2099-01-01")
    assert payload["p"] != LIST_KEY
    assert_refused(b64(tag + json.dumps(payload).encode()))


def test_a_cursor_signed_with_another_key_is_refused():
    other = CursorCodec(b"another-deployment").encode(LIST_KEY, QUERY)
    assert other is not None
    assert_refused(other)


def test_an_unsigned_cursor_is_refused_whatever_its_position():
    assert_refused(forge({"p": LIST_KEY, "q": QUERY}))
    assert_refused(forge({"p": "anything", "q": QUERY}))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "not base64 at all?",
        "a",
        b64(b"\xff\xfe\xfd"),
        b64(b"{not json"),
        b64(b""),
        "A" * 3000,
    ],
    ids=["empty", "symbols", "spaces", "one-char", "not-utf8", "not-json", "nothing", "too-long"],
)
def test_garbage_is_refused(cursor):
    assert_refused(cursor)


def test_one_changed_character_of_an_issued_cursor_is_refused_or_harmless():
    cursor = encode_cursor(EVENT_KEY, QUERY)
    assert cursor is not None
    for index in range(len(cursor)):
        flipped = "A" if cursor[index] != "A" else "B"
        tampered = cursor[:index] + flipped + cursor[index + 1 :]
        try:
            key = decode_cursor(tampered, QUERY)
        except ValidationError as error:
            assert [e.path for e in error.errors] == ["cursor"]
        else:
            # Never an error of another kind, never another position.
            assert key == EVENT_KEY


@pytest.mark.parametrize(
    "payload",
    [[LIST_KEY, QUERY], "cursor", 42, None, True, {"q": QUERY}, {"k": {"pk": "x"}, "q": QUERY}],
    ids=["list", "string", "number", "null", "bool", "no-position", "old-key-shape"],
)
def test_a_payload_that_is_not_a_cursor_object_is_refused(payload):
    assert_refused(forge(payload))


@pytest.mark.parametrize(
    "position",
    [["pk", "TICKET#T-1"], {"pk": "TICKET#T-1"}, 5, None, True, "", "E" * 1401],
    ids=["list", "object", "number", "null", "bool", "empty", "too-long"],
)
def test_a_signed_position_that_is_not_a_bounded_string_is_refused(position):
    # Even signed with the deployment's key, only a string token reaches the store.
    assert_refused(signed({"p": position, "q": QUERY}))


def test_a_signed_string_position_is_handed_to_the_store_unread():
    assert decode_cursor(signed({"p": "any token", "q": QUERY}), QUERY) == "any token"
