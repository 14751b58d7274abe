"""The public contract (schemas/ and the served OpenAPI document) matches what ships."""

import json

import pytest
from openapi_spec_validator import validate as validate_openapi

import app  # noqa: F401 - registers every route
from chalicelib.api.openapi import openapi_document
from local.publish_schemas import PUBLIC, SHIPPED, openapi_text

SHIPPED_NAMES = sorted(path.name for path in SHIPPED.glob("*.json"))


def test_every_shipped_schema_is_published_unchanged():
    published = sorted(p.name for p in PUBLIC.glob("*.json") if p.name != "openapi.json")
    assert published == SHIPPED_NAMES, "run `make schemas`"
    for name in SHIPPED_NAMES:
        assert (PUBLIC / name).read_bytes() == (SHIPPED / name).read_bytes(), (
            f"{name}: make schemas"
        )


def test_published_openapi_is_the_served_one():
    assert (PUBLIC / "openapi.json").read_text(encoding="utf-8") == openapi_text(), "make schemas"


def test_openapi_document_is_valid_3_1():
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)


def test_every_route_is_documented_with_problem_responses():
    document = openapi_document()
    from app import app as chalice_app

    for path, methods in chalice_app.routes.items():
        for method in methods:
            if method == "OPTIONS":
                continue
            operation = document["paths"][path][method.lower()]
            problem = operation["responses"]["500"]["content"]
            assert "application/problem+json" in problem


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_schemas_are_valid_json_schema(name):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(json.loads((SHIPPED / name).read_text(encoding="utf-8")))


def test_gateway_statuses_are_documented_on_protected_routes():
    responses = openapi_document()["paths"]["/v1/tickets"]["post"]["responses"]
    for status in ("401", "403", "413", "415"):
        assert status in responses
