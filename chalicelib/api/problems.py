"""RFC 9457 problem details: the one mapping from domain errors to HTTP responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
from chalice.app import Response

from chalicelib.domain import applications, complaints, documents, errors, merge, reviews
from chalicelib.domain.errors import (
    DomainError,
    IllegalTransitionError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    ThrottledError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationError,
)

PROBLEM_JSON = "application/problem+json"
PROBLEMS_FILE = Path(__file__).resolve().parent.parent / "data" / "problems.json"
# The modules declaring the domain errors that a row of the problems file may name.
_ERROR_MODULES = (errors, applications, complaints, documents, merge, reviews)


# A domain error answers a 4xx, or 503 (a dependency is down); 500 is for bugs only.
UNAVAILABLE = 503


class ProblemType(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: Annotated[int, msgspec.Meta(ge=400, le=UNAVAILABLE)]
    type: Annotated[str, msgspec.Meta(pattern="^[a-z]+(-[a-z]+)*$")]
    title: Annotated[str, msgspec.Meta(min_length=1)]


class _ProblemsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    about: str = msgspec.field(name="_about")
    errors: dict[str, ProblemType]


class ProblemFileError(ValueError):
    """The problems file does not parse, or names something that is not a domain error."""


def load_problems(
    raw: bytes, source: str = "problems.json"
) -> dict[type[DomainError], ProblemType]:
    """Exception type -> its problem type, from the data file; checked whole, so a typo
    stops the API at start-up instead of turning an error into a generic 400."""
    try:
        rows = msgspec.json.decode(raw, type=_ProblemsFile).errors
    except msgspec.ValidationError as error:
        raise ProblemFileError(f"{source}: {error}") from error
    for name, row in rows.items():
        if 500 <= row.status < UNAVAILABLE:
            raise ProblemFileError(f"{source}: {name}: status {row.status} is not 4xx or 503")
    return {_error_class(name, source): row for name, row in rows.items()}


def _error_class(name: str, source: str) -> type[DomainError]:
    for module in _ERROR_MODULES:
        found = getattr(module, name, None)
        if isinstance(found, type) and issubclass(found, DomainError):
            return found
    raise ProblemFileError(f"{source}: {name} is not a domain error of {_ERROR_MODULES}")


# Looked up along the MRO, so a subclass without its own row inherits its parent's.
PROBLEMS = load_problems(PROBLEMS_FILE.read_bytes(), str(PROBLEMS_FILE))
_FALLBACK = ProblemType(400, "bad-request", "Bad request")
# Seconds a client waits before retrying (the Retry-After of 429 and 503): capacity comes
# back within a second; an outage the SDK already retried through lasts longer.
RETRY_AFTER_SECONDS = "1"
RETRY_AFTER: dict[type[DomainError], str] = {
    ThrottledError: RETRY_AFTER_SECONDS,
    ServiceUnavailableError: "5",
}

# Statuses produced outside our views (by Chalice or the gateway), reshaped as problems:
# the statuses one of our errors owns read as that error's row of PROBLEMS.
GENERIC_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    403: ("forbidden", "Access denied"),
    405: ("method-not-allowed", "Method not allowed"),
    422: ("unprocessable", "Unprocessable request"),
    410: ("gone", "Gone"),
    500: ("internal-error", "Internal error"),
} | {
    row.status: (row.type, row.title)
    for row in (
        PROBLEMS[error]
        for error in (
            UnauthorizedError,
            NotFoundError,
            NotAcceptableError,
            PayloadTooLargeError,
            UnsupportedMediaTypeError,
            ThrottledError,
            ServiceUnavailableError,
        )
    )
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": slug, "title": title, "status": status, "detail": detail}
    body.update(extra or {})
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": PROBLEM_JSON, **(headers or {})},
    )


def problem_for(error: DomainError) -> Response:
    row = _lookup(type(error))
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationError):
        extra["errors"] = [{"path": e.path, "message": e.message} for e in error.errors]
    if isinstance(error, IllegalTransitionError):
        extra["current_status"] = error.status
    retry_after = next((s for kind, s in RETRY_AFTER.items() if isinstance(error, kind)), None)
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return problem(row.status, row.type, row.title, error.detail, extra=extra, headers=headers)


def generic_problem(status: int, detail: str | None = None) -> Response:
    slug, title = GENERIC_PROBLEMS.get(status, ("error", "Error"))
    return problem(status, slug, title, detail or title)


def internal_error() -> Response:
    return generic_problem(500, "An internal error occurred; it has been logged.")


def _lookup(error_type: type[DomainError]) -> ProblemType:
    for klass in error_type.__mro__:
        if klass in PROBLEMS:
            return PROBLEMS[klass]
    return _FALLBACK
