"""local/package.py marks every operation behind the authorizer as API-key-required."""

from __future__ import annotations

from typing import Any

import pytest

from local.package import require_usage_keys
from local.resources import TemplateTranslationError

AUTHORIZER = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "x-amazon-apigateway-authtype": "custom",
    "x-amazon-apigateway-authorizer": {"type": "token", "authorizerResultTtlInSeconds": 0},
}


def _template() -> dict[str, Any]:
    body = {
        "swagger": "2.0",
        "securityDefinitions": {"jwt_authorizer": AUTHORIZER},
        "paths": {
            "/v1/tickets": {
                "get": {"security": [{"jwt_authorizer": []}]},
                "post": {"security": [{"api_key": []}, {"jwt_authorizer": []}]},
                "options": {},
            },
            "/s/{code}": {"get": {}, "post": {}},
            "/v1/health": {"get": {}, "parameters": [{"name": "x", "in": "path"}]},
        },
    }
    return {"Resources": {"RestAPI": {"Properties": {"DefinitionBody": body}}}}


def test_authenticated_operations_require_the_key_and_public_ones_do_not():
    template = _template()
    marked = require_usage_keys(template)
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert sorted(marked) == ["GET /v1/tickets", "POST /v1/tickets"]
    tickets = body["paths"]["/v1/tickets"]
    assert tickets["get"]["security"] == [{"jwt_authorizer": []}, {"api_key": []}]
    assert tickets["post"]["security"] == [{"api_key": []}, {"jwt_authorizer": []}]  # once
    assert "security" not in tickets["options"]
    assert body["paths"]["/s/{code}"] == {"get": {}, "post": {}}
    assert body["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
    assert body["securityDefinitions"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    assert require_usage_keys(template) == marked  # idempotent
    assert tickets["get"]["security"] == [{"jwt_authorizer": []}, {"api_key": []}]


def test_a_template_without_the_swagger_body_is_refused():
    with pytest.raises(TemplateTranslationError):
        require_usage_keys({"Resources": {"RestAPI": {"Properties": {}}}})
