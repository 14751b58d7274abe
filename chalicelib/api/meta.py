"""Public routes: health and the OpenAPI document."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import Operation, api_route, json_response
from chalicelib.api.openapi import openapi_document

meta_blueprint = Blueprint(__name__)


@api_route(
    meta_blueprint,
    Operation("/v1/health", "GET", "Liveness", public=True, responses={200: "health"}, tag="meta"),
)
def health() -> Response:
    return json_response({"status": "ok"})


@api_route(
    meta_blueprint,
    Operation(
        "/v1/openapi.json",
        "GET",
        "This API's OpenAPI 3.1 document",
        public=True,
        responses={200: None},
        tag="meta",
    ),
)
def openapi() -> Response:
    return json_response(openapi_document())
