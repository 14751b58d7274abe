"""Request bodies: size, media type, strict JSON, then JSON Schema.

Error messages name the field and never echo the value (it may be personal data).
jsonschema, its validators and the patterns are built on the first validation, not
at import: a cold start that only reads pays nothing for them.

Schema patterns are ECMA-262, as JSON Schema says: `$` is the end of the text. Python's
`$` also matches before a final newline (`+8613800138000\n` would pass `^...$`), so the
validator runs patterns with `$` read as `\\Z`, and our own patterns use `fullmatch`.
Single-line fields (subject, reason, ids, phone, email, times) refuse every control
character by their schema pattern or format; in multi-line text, only TAB, LF and CR pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.domain.applications import FORM_MESSAGES
from chalicelib.domain.errors import (
    FieldError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema import ValidationError as SchemaError
    from jsonschema.protocols import Validator

# Patterns as text, matched whole (`fullmatch`): `re` compiles and caches them on first use.
_RFC3339 = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = rf"[^@\s\x00-\x1f\x7f-\x9f]{{1,64}}@{_LABEL}(?:\.{_LABEL})+"
# Refused in any text: C0 controls but TAB, LF and CR; DEL and C1 controls; lone surrogates.
_FORBIDDEN_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]"
# Refused in single-line text besides: TAB, LF, CR and the Unicode line and paragraph separators.
_LINE_BREAKING_CHARS = r"[\t\n\r\u2028\u2029]"
_NOT_ALLOWED = "contains characters that are not allowed"
# The digits of a date-time's fraction past the sixth (microseconds): dropped.
_BEYOND_MICROSECONDS = r"(\.[0-9]{6})[0-9]+"
# A charset's name as a Content-Type parameter may give it (RFC 9110 token characters).
_CHARSET_NAME = r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}"
# The instants a date-time may name (UTC): a day inside what `datetime` holds, either side.
_NO_TIME = timedelta(0)
_EARLIEST, _LATEST = datetime.min + timedelta(days=1), datetime.max - timedelta(days=1)


@cache
def format_checker() -> FormatChecker:
    """Only the formats our schemas use, checked our way (RFC 3339 with an offset)."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_rfc3339)
    checker.checks("email")(_is_email)
    return checker


def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(_RFC3339, value):
        return not isinstance(value, str)
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        return False
    # Every time zone must be able to show the instant (UTC, a branch's): year 1 or 9999 at
    # one offset can fall outside `datetime` at another (an OverflowError in a use case).
    # Compared as wall-clock times: moving the moment itself to UTC could overflow.
    offset = moment.utcoffset() or _NO_TIME
    return _EARLIEST + offset <= moment.replace(tzinfo=None) <= _LATEST + offset


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(_EMAIL, value))


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time the schema's format accepted. Its fraction is kept to the
    microsecond (`datetime`'s precision) and truncated beyond, toward the earlier instant:
    RFC 3339 allows any number of digits and clients send 7 (.NET) or 9 (Go, Java), so a
    400 would refuse them for a difference no rule of the desk can see (docs/api.md)."""
    text = value.upper().replace("Z", "+00:00")
    return datetime.fromisoformat(re.sub(_BEYOND_MICROSECONDS, r"\1", text, count=1))


@cache
def load_schema(name: str) -> dict[str, Any]:
    with (SCHEMA_DIR / f"{name}.json").open(encoding="utf-8") as handle:
        return json.load(handle)  # type: ignore[no-any-return]


@cache
def _validator(name: str) -> Validator:
    return _ecma_validator()(load_schema(name), format_checker=format_checker())


@cache
def _ecma_validator() -> type[Draft202012Validator]:
    """Draft 2020-12 with ECMA-262's `$` in `pattern`."""
    from jsonschema import Draft202012Validator, validators

    extended: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _ecma_pattern}
    )
    return extended


def _ecma_pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[SchemaError]:
    from jsonschema import ValidationError as SchemaError

    if isinstance(instance, str) and not re.search(python_pattern(pattern), instance):
        yield SchemaError("does not match its pattern")


@cache
def python_pattern(ecma: str) -> str:
    """An ECMA-262 pattern for Python's `re`: `$` (outside a class) becomes `\\Z`, the end
    of the text; Python's `$` also matches before a final newline."""
    out: list[str] = []
    escaped = in_class = False
    for char in ecma:
        out.append(r"\Z" if char == "$" and not (escaped or in_class) else char)
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
    return "".join(out)


def read_json(raw_body: bytes | None, content_type: str | None) -> Any:
    """Parse a request body strictly, or raise the matching domain error."""
    raw = raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"The body exceeds {MAX_BODY_BYTES} bytes")
    media_type, *params = (content_type or "application/json").split(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaTypeError("Send the body as application/json")
    _refuse_other_charsets(params)
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_number,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError) as error:
        raise ValidationError([FieldError("body", "is not valid JSON")]) from error


def _refuse_other_charsets(params: list[str]) -> None:
    """JSON is UTF-8 (RFC 8259 8.1): a body labelled with another charset would be read
    as something its sender did not mean, so it is a 415 naming the charset (a token of
    at most 40 characters is named; anything else is not echoed)."""
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"')
        if name.strip().lower() != "charset" or charset.lower() == "utf-8":
            continue
        named = charset if re.fullmatch(_CHARSET_NAME, charset) else "given"
        raise UnsupportedMediaTypeError(f"The charset {named} is not supported; send UTF-8")


def validate(name: str, data: Any) -> dict[str, Any]:
    """Validate against a named schema; every offending field is reported at once."""
    errors = [item for error in _validator(name).iter_errors(data) for item in _field_errors(error)]
    errors.extend(_unsafe_strings(data, "", 0))
    if errors:
        raise ValidationError(_dedupe([_printable(error) for error in errors]))
    assert isinstance(data, dict)
    return data


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent: an int when it is whole. JSON has one
    number type, so `1e3` and `1000.0` are the integer 1000 (JSON Schema agrees): kept as
    a float, it was stored and answered as `1000.0` and fingerprinted unlike `1000`."""
    value = float(text)
    return int(value) if value.is_integer() else value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _path(parts: Any) -> str:
    return ".".join(str(part) for part in parts) or "body"


def _field_errors(error: SchemaError) -> list[FieldError]:
    path = _path(error.absolute_path)
    prefix = f"{path}." if error.absolute_path else ""
    validator = error.validator
    if validator == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        instance = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(set(instance) - set(known if isinstance(known, dict) else {}))
        return [FieldError(f"{prefix}{name}", "is not a known field") for name in extra]
    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return [FieldError(f"{prefix}{missing[0]}" if missing else path, "is required")]
    return [FieldError(path, _message(str(validator), error.validator_value))]


_MESSAGES = {
    **FORM_MESSAGES,
    "format": "must be a valid {}",
    "minProperties": "must have at least {} fields",
    "maxItems": "must have at most {} items",
}


def _message(validator: str, expected: Any) -> str:
    if validator == "enum":
        expected = ", ".join(str(value) for value in expected)
    template = _MESSAGES.get(validator, "is not valid")
    return template.format(expected)


def refuse_unsafe_text(fields: Mapping[str, str], single_line: Collection[str]) -> None:
    """Form fields get the rules JSON bodies get: no control characters but TAB, LF and CR,
    and none of those in the fields named single-line. Every offending field is named."""
    errors = [
        FieldError(name, _NOT_ALLOWED)
        for name, value in fields.items()
        if re.search(_FORBIDDEN_CHARS, value)
        or (name in single_line and re.search(_LINE_BREAKING_CHARS, value))
    ]
    if errors:
        raise ValidationError(errors)


def _unsafe_strings(data: Any, path: str, depth: int) -> list[FieldError]:
    """NUL, control characters and lone surrogates are refused wherever they appear."""
    if depth > MAX_DEPTH:
        return [FieldError(path or "body", "is nested too deeply")]
    if isinstance(data, str):
        return (
            [FieldError(path or "body", _NOT_ALLOWED)] if re.search(_FORBIDDEN_CHARS, data) else []
        )
    children: list[tuple[str, Any]] = []
    errors: list[FieldError] = []
    if isinstance(data, dict):
        children = [(str(key), value) for key, value in data.items()]
        errors = [
            FieldError(f"{path}.{key}" if path else key, "is a field name that " + _NOT_ALLOWED)
            for key, _ in children
            if re.search(_FORBIDDEN_CHARS, key)
        ]
    elif isinstance(data, list):
        children = [(str(index), value) for index, value in enumerate(data)]
    for key, value in children:
        errors.extend(_unsafe_strings(value, f"{path}.{key}" if path else key, depth + 1))
    return errors


def _printable(error: FieldError) -> FieldError:
    """The error with its path fit to be shown: a field name is the client's text, and a
    lone surrogate in it could not even be encoded in the answer (U+FFFD stands in)."""
    path = re.sub(_FORBIDDEN_CHARS, "\ufffd", error.path)
    return error if path == error.path else FieldError(path, error.message)


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: dict[tuple[str, str], FieldError] = {}
    for error in errors:
        seen.setdefault((error.path, error.message), error)
    return list(seen.values())
