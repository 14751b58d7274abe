"""Public routes: health and the OpenAPI document."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import api_route, json_response
from chalicelib.api.openapi import openapi_document

meta_blueprint = Blueprint(__name__)


@api_route(meta_blueprint, "GET /v1/health")
def health() -> Response:
    return json_response({"status": "ok"})


@api_route(meta_blueprint, "GET /v1/openapi.json")
def openapi() -> Response:
    return json_response(openapi_document())
