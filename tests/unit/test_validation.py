import json
import re
from datetime import UTC

import pytest

from chalicelib.api.validation import (
    MAX_BODY_BYTES,
    SCHEMA_DIR,
    parse_rfc3339,
    python_pattern,
    read_json,
    refuse_unsafe_text,
    validate,
)
from chalicelib.domain.errors import (
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from tests.docs_support import ROOT

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
def test_a_malformed_contact_email_is_refused_naming_the_field(email):
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


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', " Utf-8 "])
def test_json_with_charset_is_json(charset):
    assert read_json(b'{"a": 1}', f"application/json; charset={charset}") == {"a": 1}


@pytest.mark.parametrize(
    ("charset", "named"),
    [
        ("iso-8859-1", "iso-8859-1"),
        ("UTF-16", "UTF-16"),
        ('"gb2312"', "gb2312"),
        ("us-ascii", "us-ascii"),
        ("<script>", "given"),  # not a charset name: not echoed
    ],
)
def test_json_in_another_charset_is_a_415_naming_it(charset, named):
    # A body in another charset was read as UTF-8: a 400 "not valid JSON" when its bytes
    # were no UTF-8, or quietly read as something its sender did not mean when they were.
    body = '{"subject": "caf\u00e9"}'.encode("latin-1")
    for raw in (body, b'{"a": 1}'):
        with pytest.raises(UnsupportedMediaTypeError) as raised:
            read_json(raw, f"application/json; charset={charset}")
        assert raised.value.detail == f"The charset {named} is not supported; send UTF-8"


# --- date-times finer than a microsecond: accepted, truncated (docs/api.md) ---------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("2026-12-01T10:00:00.1234567Z", "2026-12-01T10:00:00.123456+00:00"),  # .NET
        ("2026-12-01T09:59:59.999999999Z", "2026-12-01T09:59:59.999999+00:00"),  # never rounded up
        ("2026-12-01T18:00:00.000000900+08:00", "2026-12-01T10:00:00+00:00"),
        ("2026-12-01T10:00:00.5Z", "2026-12-01T10:00:00.500000+00:00"),
    ],
)
def test_a_date_time_finer_than_a_microsecond_is_accepted_and_truncated(sent, kept):
    # RFC 3339 allows any number of fraction digits; `datetime` holds microseconds. The
    # desk keeps the microsecond and drops the rest, toward the earlier instant, and says so.
    validate("ticket-create", {**VALID, "received_at": sent})
    assert parse_rfc3339(sent).astimezone(UTC).isoformat() == kept


def test_the_api_doc_says_how_finely_times_are_kept():
    times = next(
        line
        for line in (ROOT / "docs" / "api.md").read_text("utf-8").split("\n- ")
        if line.startswith("Times are RFC 3339")
    )
    assert "kept to the microsecond" in times and "truncated" in times


# --- single-line fields: no control characters, no trailing newline (SPEC 5) -------------------

APPOINTMENT = {
    "branch_id": "BR-SH-LJZ",
    "slot_start": "2026-12-01T02:00:00Z",
    "category": "card",
    "subject": "New card",
}
LINE_BREAKS = ["\n", "\r", "\r\n", "\t", "\x00", "\x1b", "\x85", "\u2028"]


def _refused(schema, body):
    with pytest.raises(ValidationError) as raised:
        validate(schema, body)
    return sorted({error.path for error in raised.value.errors})


@pytest.mark.parametrize("char", LINE_BREAKS)
@pytest.mark.parametrize(
    ("schema", "body", "field"),
    [
        ("ticket-create", {**VALID, "contact": {"phone": "+8613800138000"}}, "contact.phone"),
        ("ticket-create", {**VALID, "contact": {"email": "jane@example.com"}}, "contact.email"),
        ("ticket-create", {**VALID, "customer_id": "cust-1"}, "customer_id"),
        ("ticket-create", {**VALID, "received_at": "2026-11-27T10:00:00+08:00"}, "received_at"),
        ("ticket-create", VALID, "subject"),
        ("appointment-create", APPOINTMENT, "subject"),
        ("appointment-create", APPOINTMENT, "branch_id"),
        ("appointment-create", APPOINTMENT, "slot_start"),
        ("ticket-action", {"action": "assign", "assignee": "agent-7"}, "assignee"),
        ("ticket-action", {"action": "cancel", "reason": "Booked twice"}, "reason"),
        (
            "ticket-action",
            {"action": "reschedule", "slot_start": "2026-12-01T02:00:00Z"},
            "slot_start",
        ),
    ],
)
def test_single_line_fields_refuse_line_breaks_and_control_characters(schema, body, field, char):
    assert validate(schema, _copy(body))  # valid as it stands
    value = _get(body, field)
    for broken in (value + char, char + value):  # a trailing newline is what `$` let through
        assert _refused(schema, _with(body, field, broken)) == [field]


def _copy(body):
    return json.loads(json.dumps(body))


def _get(body, field):
    for name in field.split("."):
        body = body[name]
    return body


def _with(body, field, value):
    changed = _copy(body)
    *parents, name = field.split(".")
    target = changed
    for parent in parents:
        target = target[parent]
    target[name] = value
    return changed


@pytest.mark.parametrize("start", ["08:00\n", "\n08:00", "08:00\r"])
def test_quiet_hours_refuse_line_breaks(start):
    body = {"sms": True, "email": True, "quiet_hours": {"start": start, "end": "20:00"}}
    assert _refused("preferences", body) == ["quiet_hours.start"]


def test_multi_line_fields_keep_their_line_breaks_but_not_other_controls():
    lines = "line one\r\n\tline two\n"
    assert validate("ticket-action", {"action": "resolve", "resolution": lines})
    assert validate("ticket-action", {"action": "request_info", "message": lines})
    assert validate("comment-create", {"body": lines})
    assert validate("survey-answer", {"score": 3, "comment": lines})
    for control in ("\x00", "\x0b", "\x7f", "\x85", "\x9f"):
        assert _refused("comment-create", {"body": f"a{control}b"}) == ["body"]
        assert _refused("survey-answer", {"score": 3, "comment": f"a{control}"}) == ["comment"]


@pytest.mark.parametrize("subject", [" ", "\u3000", " \n "])
def test_subjects_are_not_blank(subject):
    assert _refused("ticket-create", {**VALID, "subject": subject}) == ["subject"]


def test_single_line_text_may_hold_any_printable_character():
    text = "卡被锁了 — Karte gesperrt, 100 % (₩) ✓ \u00a0ok"
    assert validate("ticket-create", {**VALID, "subject": text})
    assert validate("ticket-action", {"action": "cancel", "reason": text})


@pytest.mark.parametrize(
    ("ecma", "python"),
    [
        (r"^\+[1-9][0-9]{6,14}$", r"^\+[1-9][0-9]{6,14}\Z"),
        (r"^a\$$", r"^a\$\Z"),  # an escaped dollar is a character
        (r"^[$]x$", r"^[$]x\Z"),  # so is one in a class
        (r"^[\]$]$", r"^[\]$]\Z"),
        (r"^a\\$", r"^a\\\Z"),  # an escaped backslash, then the end
        (r"\S", r"\S"),
    ],
)
def test_schema_patterns_read_dollar_as_the_end_of_the_text(ecma, python):
    assert python_pattern(ecma) == python


def test_every_schema_pattern_compiles_and_anchored_ones_anchor_both_ends():
    """Patterns in the published schemas mean the same in ECMA-262 and in our validator."""
    for path in SCHEMA_DIR.glob("*.json"):
        for pattern in _patterns(json.loads(path.read_text(encoding="utf-8"))):
            assert re.compile(python_pattern(pattern))
            if pattern.startswith("^"):
                assert pattern.endswith("$"), (path.name, pattern)


def _patterns(node):
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


# --- forms get the same character rules ------------------------------------------------------


def test_form_fields_refuse_control_characters_and_single_line_ones_line_breaks():
    refuse_unsafe_text({"score": "4", "comment": "kind\r\nstaff\t!"}, single_line={"score"})
    with pytest.raises(ValidationError) as raised:
        refuse_unsafe_text(
            {"score": "4\n", "comment": "nul\x00", "name": "ok"}, single_line={"score", "name"}
        )
    assert sorted(error.path for error in raised.value.errors) == ["comment", "score"]
