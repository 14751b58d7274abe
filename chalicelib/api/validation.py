"""Request bodies: size, media type, strict JSON, then JSON Schema.

Error messages name the field and never echo the value (it may be personal data).
jsonschema, its validators and the patterns are built on the first validation, not
at import: a cold start that only reads pays nothing for them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

# Patterns as text: `re` compiles and caches them on first use.
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = rf"^[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$"
_FORBIDDEN_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"


@cache
def format_checker() -> FormatChecker:
    """Only the formats our schemas use, checked our way (RFC 3339 with an offset)."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_rfc3339)
    checker.checks("email")(_is_email)
    return checker


def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or not re.match(_RFC3339, value):
        return not isinstance(value, str)
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(re.match(_EMAIL, value))


def parse_rfc3339(value: str) -> datetime:
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    with (SCHEMA_DIR / f"{name}.json").open(encoding="utf-8") as handle:
        return json.load(handle)  # type: ignore[no-any-return]


@cache
def _validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name), format_checker=format_checker())


def read_json(raw_body: bytes | None, content_type: str | None) -> Any:
    """Parse a request body strictly, or raise the matching domain error."""
    raw = raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"The body exceeds {MAX_BODY_BYTES} bytes")
    media_type = (content_type or "application/json").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaTypeError("Send the body as application/json")
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError) as error:
        raise ValidationError([FieldError("body", "is not valid JSON")]) from error


def validate(name: str, data: Any) -> dict[str, Any]:
    """Validate against a named schema; every offending field is reported at once."""
    errors = [item for error in _validator(name).iter_errors(data) for item in _field_errors(error)]
    errors.extend(_unsafe_strings(data, "", 0))
    if errors:
        raise ValidationError(_dedupe(errors))
    assert isinstance(data, dict)
    return data


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
    "type": "must be of type {}",
    "enum": "must be one of: {}",
    "minLength": "must have at least {} characters",
    "maxLength": "must have at most {} characters",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "pattern": "has an invalid format",
    "format": "must be a valid {}",
    "minProperties": "must have at least {} fields",
    "maxItems": "must have at most {} items",
}


def _message(validator: str, expected: Any) -> str:
    if validator == "enum":
        expected = ", ".join(str(value) for value in expected)
    template = _MESSAGES.get(validator, "is not valid")
    return template.format(expected)


def _unsafe_strings(data: Any, path: str, depth: int) -> list[FieldError]:
    """NUL, control characters and lone surrogates are refused wherever they appear."""
    if depth > MAX_DEPTH:
        return [FieldError(path or "body", "is nested too deeply")]
    if isinstance(data, str):
        return (
            [FieldError(path or "body", "contains characters that are not allowed")]
            if re.search(_FORBIDDEN_CHARS, data)
            else []
        )
    children: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        children = [(str(key), value) for key, value in data.items()]
    elif isinstance(data, list):
        children = [(str(index), value) for index, value in enumerate(data)]
    errors: list[FieldError] = []
    for key, value in children:
        errors.extend(_unsafe_strings(value, f"{path}.{key}" if path else key, depth + 1))
    return errors


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: dict[tuple[str, str], FieldError] = {}
    for error in errors:
        seen.setdefault((error.path, error.message), error)
    return list(seen.values())
