"""RFC 9457 problem details: the one mapping from domain errors to HTTP responses."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response

from chalicelib.domain.applications import ApprovalPendingError, ChecklistIncompleteError
from chalicelib.domain.complaints import ClassificationRequiredError, FourEyesError
from chalicelib.domain.documents import DocumentUnavailableError, TooManyDocumentsError
from chalicelib.domain.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    NotAcceptableError,
    NotFoundError,
    PayloadTooLargeError,
    RequestInFlightError,
    SlotFullError,
    SlotNotOfferedError,
    SurveyAnsweredError,
    SurveyClosedError,
    ThrottledError,
    TooManyAppointmentsError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationError,
    VersionMismatchError,
)
from chalicelib.domain.merge import MergeMismatchError
from chalicelib.domain.reviews import (
    NotReviewableError,
    RecusalError,
    ReviewExistsError,
    ReviewWindowClosedError,
)

PROBLEM_JSON = "application/problem+json"

# Exception type -> (status, type slug, title). Looked up along the MRO, so a
# subclass without its own row inherits its parent's.
PROBLEMS: dict[type[DomainError], tuple[int, str, str]] = {
    ValidationError: (400, "validation-failed", "The request is not valid"),
    UnauthorizedError: (401, "unauthorized", "Authentication is required"),
    ForbiddenError: (403, "forbidden", "Not allowed for this role"),
    NotFoundError: (404, "not-found", "Not found"),
    ConflictError: (409, "conflict", "Conflicts with the current state"),
    IllegalTransitionError: (409, "illegal-transition", "Action not allowed in this status"),
    VersionMismatchError: (412, "version-mismatch", "The ticket has changed"),
    RequestInFlightError: (409, "request-in-flight", "The same request is still running"),
    IdempotencyKeyReusedError: (
        422,
        "idempotency-key-reused",
        "The Idempotency-Key was used with another body",
    ),
    PayloadTooLargeError: (413, "payload-too-large", "The request body is too large"),
    UnsupportedMediaTypeError: (415, "unsupported-media-type", "Unsupported content type"),
    SurveyAnsweredError: (409, "survey-answered", "The survey has already been answered"),
    SurveyClosedError: (410, "survey-closed", "The survey has closed"),
    SlotFullError: (409, "slot-full", "The slot is full"),
    TooManyAppointmentsError: (409, "too-many-appointments", "Too many open appointments"),
    SlotNotOfferedError: (422, "slot-not-offered", "The branch does not offer this slot"),
    ThrottledError: (429, "throttled", "Too many requests"),
    ChecklistIncompleteError: (409, "checklist-incomplete", "Required documents not accepted"),
    ApprovalPendingError: (409, "approval-pending", "An approval is pending"),
    TooManyDocumentsError: (409, "too-many-documents", "The ticket has too many documents"),
    DocumentUnavailableError: (409, "document-unavailable", "The document is not available"),
    ClassificationRequiredError: (
        409,
        "classification-required",
        "Classify the complaint before resolving it",
    ),
    FourEyesError: (403, "four-eyes", "Another supervisor must approve this"),
    NotAcceptableError: (406, "not-acceptable", "No acceptable representation"),
    ReviewExistsError: (409, "review-exists", "The complaint has been reviewed already"),
    ReviewWindowClosedError: (409, "review-window-closed", "The 30 days for a review are over"),
    NotReviewableError: (409, "not-reviewable", "Only a resolved or closed complaint"),
    RecusalError: (403, "recusal", "Handled the complaint under review"),
    MergeMismatchError: (409, "merge-mismatch", "Not a ticket this one can be merged into"),
}
RETRY_AFTER_SECONDS = "1"

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
    status: (slug, title)
    for status, slug, title in (
        PROBLEMS[error]
        for error in (
            UnauthorizedError,
            NotFoundError,
            NotAcceptableError,
            PayloadTooLargeError,
            UnsupportedMediaTypeError,
            ThrottledError,
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
    status, slug, title = _lookup(type(error))
    extra: dict[str, Any] = {}
    if isinstance(error, ValidationError):
        extra["errors"] = [{"path": e.path, "message": e.message} for e in error.errors]
    if isinstance(error, IllegalTransitionError):
        extra["current_status"] = error.status
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if isinstance(error, ThrottledError) else None
    return problem(status, slug, title, error.detail, extra=extra, headers=headers)


def generic_problem(status: int, detail: str | None = None) -> Response:
    slug, title = GENERIC_PROBLEMS.get(status, ("error", "Error"))
    return problem(status, slug, title, detail or title)


def internal_error() -> Response:
    return generic_problem(500, "An internal error occurred; it has been logged.")


def _lookup(error_type: type[DomainError]) -> tuple[int, str, str]:
    for klass in error_type.__mro__:
        if klass in PROBLEMS:
            return PROBLEMS[klass]
    return 400, "bad-request", "Bad request"
