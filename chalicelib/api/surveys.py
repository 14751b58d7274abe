"""Survey routes (SPEC section 8): no login; the code in the link is the key.

The same URL serves the customer's browser (an HTML page and its form) and
apps (JSON, chosen with `Accept: application/json` or a JSON body).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from chalice.app import Blueprint, Request, Response

from chalicelib import bootstrap
from chalicelib.api import survey_pages as pages
from chalicelib.api.http import FORM, HTML, JSON, api_route, json_body, json_response, negotiate
from chalicelib.api.problems import problem_for
from chalicelib.api.validation import MAX_BODY_BYTES, refuse_unsafe_text, validate
from chalicelib.domain.errors import (
    DomainError,
    FieldError,
    NotFoundError,
    SurveyAnsweredError,
    SurveyClosedError,
    ValidationError,
)
from chalicelib.domain.surveys import Answer, needs_recovery, parse_answer, well_formed_code
from chalicelib.service import surveys
from chalicelib.service.surveys import SurveyView

surveys_blueprint = Blueprint(__name__)


def _html(body: str, status: int = 200) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={
            "Content-Type": f"{HTML}; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _wants_json(request: Request) -> bool:
    """JSON when the Accept header prefers it to the page (q-values count); else HTML."""
    return negotiate(request.headers.get("accept"), (HTML, JSON)) == JSON


def _survey_json(view: SurveyView, status: int = 200) -> Response:
    body = {
        "status": view.survey.public_status,
        "subject": view.subject,
        "locale": view.survey.locale,
    }
    return json_response(body, status)


@api_route(surveys_blueprint, "GET /s/{code}")
def short_link(code: str) -> Response:
    if not well_formed_code(code):
        return problem_for(NotFoundError("No such survey"))
    base = bootstrap.container().settings.public_base_url.rstrip("/")
    return Response(
        body="",
        status_code=302,
        headers={"Location": f"{base}/v1/surveys/{code}", "Cache-Control": "no-store"},
    )


@api_route(surveys_blueprint, "GET /v1/surveys/{code}")
def get_survey(code: str) -> Response:
    request = surveys_blueprint.current_request
    as_json = _wants_json(request)
    try:
        view = surveys.find_survey(bootstrap.container().survey_ports(workflow=False), code)
    except NotFoundError as error:
        return _error(error, as_json, request)
    if as_json:
        return _survey_json(view)
    if view.survey.public_status == "open":
        return _html(pages.form_page(view.survey.locale, view.subject))
    return _html(pages.status_page(view.survey.locale, view.survey.public_status))


@api_route(surveys_blueprint, "POST /v1/surveys/{code}")
def answer_survey(code: str) -> Response:
    request = surveys_blueprint.current_request
    from_form = _media_type(request) == FORM
    as_json = not from_form
    ports = bootstrap.container().survey_ports(workflow=False)
    view: SurveyView | None = None
    try:
        view = surveys.find_survey(ports, code)  # 404 before 400 (SPEC 3)
        answer = _form_answer(request) if from_form else _json_answer(request)
        answered = surveys.answer_survey(ports, view, answer)
    except DomainError as error:
        return _error(error, as_json, request, view)
    if as_json:
        return _survey_json(answered, 201)
    return _html(
        pages.thanks_page(answered.survey.locale, answer.score, needs_recovery(answer.score)), 201
    )


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or JSON).split(";")[0].strip().lower()


def _json_answer(request: Request) -> Answer:
    body = validate("survey-answer", json_body(request))
    comment = str(body.get("comment") or "").strip()
    return Answer(score=int(body["score"]), comment=comment or None)


def _form_answer(request: Request) -> Answer:
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError([FieldError("body", f"must be at most {MAX_BODY_BYTES} bytes")])
    try:
        fields = parse_qs(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=10
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise ValidationError([FieldError("body", "is not a readable form")]) from error
    repeated = [
        FieldError(name, "was sent more than once") for name, v in fields.items() if len(v) > 1
    ]
    if repeated:
        raise ValidationError(repeated)
    values: dict[str, Any] = {name: value[0] for name, value in fields.items()}
    # The JSON body's character rules: the comment may span lines, nothing else may.
    refuse_unsafe_text(values, single_line=set(values) - {"comment"})
    if not values.get("comment"):
        values.pop("comment", None)
    else:
        # Browsers count a line break as one character against maxlength but send CRLF.
        values["comment"] = values["comment"].replace("\r\n", "\n")
    return parse_answer(values, from_form=True)


def _sent_form(request: Request) -> dict[str, str]:
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        fields = parse_qs(raw[:MAX_BODY_BYTES].decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: value[0] for name, value in fields.items() if name in ("score", "comment")}


def _error(
    error: DomainError, as_json: bool, request: Request, view: SurveyView | None = None
) -> Response:
    if as_json:
        return problem_for(error)

    locale = (
        view.survey.locale
        if view
        else pages.preferred_locale(request.headers.get("accept-language"))
    )
    status = problem_for(error).status_code
    if isinstance(error, ValidationError) and view is not None:
        # Show the form again with what the customer chose and wrote, so nothing is lost.
        sent = _sent_form(request)
        page = pages.form_page(
            locale, view.subject, error.errors, sent.get("score"), sent.get("comment")
        )
        return _html(page, status)
    if isinstance(error, SurveyAnsweredError):
        return _html(pages.status_page(locale, "answered"), status)
    if isinstance(error, SurveyClosedError):
        return _html(pages.status_page(locale, "expired"), status)
    if isinstance(error, NotFoundError):
        return _html(pages.not_found_page(locale), status)
    return _html(pages.status_page(locale, "expired"), status)
