"""Domain errors. The API maps each type to one problem+json response."""

from __future__ import annotations

import msgspec


class DomainError(Exception):
    """Base of every error the API turns into a problem (a 4xx, or 503 for an outage)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class FieldError(msgspec.Struct, frozen=True, order=True):  # a plain record: path, message
    path: str
    message: str


class ValidationError(DomainError):
    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        names = ", ".join(sorted({error.path for error in errors}))
        super().__init__(detail or f"Invalid request: {names}")
        self.errors = errors


class UnauthorizedError(DomainError):
    """No usable identity on a route that needs one."""


class ForbiddenError(DomainError):
    """The caller's role may not use this route or action."""


class NotFoundError(DomainError):
    """Unknown, or not visible to the caller (existence is never revealed)."""


class ConflictError(DomainError):
    """The request conflicts with the current state."""


class IllegalTransitionError(ConflictError):
    def __init__(self, action: str, status: str, why: str | None = None) -> None:
        because = f" ({why})" if why else ""
        super().__init__(f"'{action}' is not allowed while the ticket is {status}{because}")
        self.action = action
        self.status = status


class VersionMismatchError(DomainError):
    """The caller's If-Match names a version that is no longer current."""


class PayloadTooLargeError(DomainError):
    pass


class UnsupportedMediaTypeError(DomainError):
    pass


class IdempotencyKeyReusedError(DomainError):
    """The Idempotency-Key was used before with a different body."""


class ThrottledError(DomainError):
    """The desk is short of capacity right now; the client should retry (429, Retry-After)."""


class ServiceUnavailableError(DomainError):
    """A service the desk depends on is down right now; nothing was half-written, the
    client should retry (503, Retry-After)."""


class RequestInFlightError(ConflictError):
    """A request with the same Idempotency-Key is still being processed."""


class SurveyAnsweredError(ConflictError):
    """The survey already has its answer."""


class SurveyClosedError(DomainError):
    """The survey expired, or was withdrawn when the ticket was reopened."""


class SlotNotOfferedError(DomainError):
    """The slot start is not one the branch offers (closed, past, too far, off boundary)."""


class SlotFullError(ConflictError):
    """Every counter of the slot is taken."""


class TooManyAppointmentsError(ConflictError):
    """The customer already holds the most open appointments allowed."""


class NotAcceptableError(DomainError):
    """The Accept header names no representation this route has (406)."""
