import json

from chalicelib.api.problems import problem_for
from chalicelib.domain.errors import (
    FieldError,
    IllegalTransitionError,
    NotFoundError,
    ValidationError,
    VersionMismatchError,
)


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
