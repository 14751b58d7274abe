import json

import pytest

import app  # noqa: F401 - imports every module, so every domain error is declared
from chalicelib.api.openapi import openapi_document
from chalicelib.api.problems import (
    GENERIC_PROBLEMS,
    PROBLEMS,
    PROBLEMS_FILE,
    ProblemFileError,
    load_problems,
    problem_for,
)
from chalicelib.domain.errors import (
    DomainError,
    FieldError,
    IllegalTransitionError,
    NotFoundError,
    ServiceUnavailableError,
    ThrottledError,
    UnauthorizedError,
    ValidationError,
    VersionMismatchError,
)
from chalicelib.domain.inbound_sms import MalformedSmsError


def _body(response):
    assert response.headers["Content-Type"] == "application/problem+json"
    return json.loads(response.body)


def test_validation_problem_lists_every_field():
    body = _body(problem_for(ValidationError([FieldError("subject", "is required")])))
    assert body["type"] == "validation-failed"
    assert body["status"] == 400
    assert body["errors"] == [{"path": "subject", "message": "is required"}]


def test_subclass_maps_to_its_own_row_not_its_parents():
    response = problem_for(IllegalTransitionError("resolve", "new"))
    body = _body(response)
    assert (response.status_code, body["type"], body["current_status"]) == (
        409,
        "illegal-transition",
        "new",
    )


def test_not_found_and_version_mismatch():
    assert problem_for(NotFoundError("No ticket T-1")).status_code == 404
    assert _body(problem_for(VersionMismatchError("stale")))["type"] == "version-mismatch"


def _domain_errors(base: type[DomainError] = DomainError) -> list[type[DomainError]]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_domain_errors(sub)]
    return found


def test_every_row_of_the_problems_file_names_a_domain_error():
    rows = json.loads(PROBLEMS_FILE.read_text(encoding="utf-8"))["errors"]
    assert sorted(error.__name__ for error in PROBLEMS) == sorted(rows)
    assert all(issubclass(error, DomainError) for error in PROBLEMS)
    assert {error: (row.status, row.type, row.title) for error, row in PROBLEMS.items()}[
        IllegalTransitionError
    ] == (409, "illegal-transition", "Action not allowed in this status")


def test_every_domain_error_answers_with_its_own_row_or_a_parents():
    errors = _domain_errors()  # every module is imported (app registers every route)
    assert MalformedSmsError in errors and IllegalTransitionError in errors
    homeless = [e.__name__ for e in errors if not any(k in PROBLEMS for k in e.__mro__)]
    assert homeless == []


@pytest.mark.parametrize(
    ("errors", "wrong"),
    [
        ({"NoSuchError": {"status": 409, "type": "x", "title": "X"}}, "NoSuchError"),
        ({"CatalogueError": {"status": 409, "type": "x", "title": "X"}}, "CatalogueError"),
        ({"NotFoundError": {"status": 500, "type": "x", "title": "X"}}, "status"),
        ({"NotFoundError": {"status": 502, "type": "x", "title": "X"}}, "status"),
        ({"NotFoundError": {"status": 504, "type": "x", "title": "X"}}, "status"),
        ({"NotFoundError": {"status": 404, "type": "Not Found", "title": "X"}}, "type"),
        ({"NotFoundError": {"status": 404, "type": "x", "title": "X", "extra": 1}}, "extra"),
    ],
)
def test_a_bad_row_stops_the_api_at_start_up(errors, wrong):
    raw = json.dumps({"_about": "test", "errors": errors}).encode()
    with pytest.raises(ProblemFileError, match=wrong):
        load_problems(raw)


def test_platform_statuses_read_as_the_rows_of_the_errors_that_own_them():
    owned = {404: NotFoundError, 401: UnauthorizedError, 429: ThrottledError}
    owned |= {503: ServiceUnavailableError}
    for status, error in owned.items():
        assert GENERIC_PROBLEMS[status] == (PROBLEMS[error].type, PROBLEMS[error].title)
    documented = openapi_document()["paths"]["/v1/tickets/{ticket_id}"]["get"]["responses"]
    assert documented["404"]["description"] == "Not found"
    assert documented["429"]["description"] == "Too many requests"


def test_a_dependency_outage_is_a_503_with_retry_after_on_every_route():
    response = problem_for(ServiceUnavailableError("down"))
    assert (response.status_code, _body(response)["type"]) == (503, "service-unavailable")
    assert response.headers["Retry-After"] == "5"
    paths = openapi_document()["paths"]
    for operation in (paths["/v1/tickets"]["get"], paths["/v1/health"]["get"]):
        documented = operation["responses"]["503"]
        assert documented["description"] == "Temporarily unavailable"
        assert "Retry-After" in documented["headers"]
