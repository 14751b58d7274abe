import json

import pytest

from chalicelib.api.validation import MAX_BODY_BYTES, read_json, validate
from chalicelib.domain.errors import (
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

VALID = {"channel": "web", "kind": "complaint", "category": "loan", "subject": "Rate changed"}


def _paths(body):
    with pytest.raises(ValidationError) as raised:
        validate("ticket-create", body)
    return sorted({error.path for error in raised.value.errors})


def test_valid_body_passes():
    assert validate("ticket-create", dict(VALID)) == VALID


def test_every_offending_field_is_named_at_once():
    body = {**VALID, "channel": "fax", "subject": "", "colour": "red", "contact": {"phone": "138"}}
    del body["kind"]
    assert _paths(body) == ["channel", "colour", "contact.phone", "kind", "subject"]


def test_messages_never_echo_the_value():
    with pytest.raises(ValidationError) as raised:
        validate("ticket-create", {**VALID, "contact": {"phone": "13812348000"}})
    assert "13812348000" not in json.dumps([e.message for e in raised.value.errors])


@pytest.mark.parametrize(
    "received_at",
    ["2026-11-27T10:00:00", "2026-11-27 10:00:00+08:00", "2026-13-01T00:00:00Z", "yesterday"],
)
def test_received_at_must_be_rfc3339_with_offset(received_at):
    assert _paths({**VALID, "received_at": received_at}) == ["received_at"]


@pytest.mark.parametrize("email", ["no-at-sign", "a@b", "a b@example.com"])
def test_email_format(email):
    assert _paths({**VALID, "contact": {"email": email}}) == ["contact.email"]


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate", "bell\x07"])
def test_control_characters_and_lone_surrogates_are_refused(text):
    assert _paths({**VALID, "description": text}) == ["description"]


def test_tabs_and_newlines_are_fine():
    assert validate("ticket-create", {**VALID, "description": "line one\n\tline two\r\n"})


def test_non_object_body_is_refused():
    assert _paths(["a list"]) == ["body"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"a": NaN}', b'{"a": 1, "a": 2}', b"\xff\xfe", b"[" * 60_000, b"1" * 5000],
    ids=["truncated", "nan", "duplicate-key", "not-utf8", "deep-nesting", "huge-int"],
)
def test_malformed_json_is_a_validation_problem(raw):
    with pytest.raises(ValidationError) as raised:
        read_json(raw, "application/json")
    assert raised.value.errors[0].path == "body"


def test_body_over_64kb_is_too_large():
    with pytest.raises(PayloadTooLargeError):
        read_json(b" " * (MAX_BODY_BYTES + 1), "application/json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_media_types_are_unsupported(content_type):
    with pytest.raises(UnsupportedMediaTypeError):
        read_json(b"{}", content_type)


def test_json_with_charset_is_json():
    assert read_json(b'{"a": 1}', "application/json; charset=utf-8") == {"a": 1}
