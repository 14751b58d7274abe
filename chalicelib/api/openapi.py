"""The OpenAPI 3.1 document, built from the route table and the JSON Schemas."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from chalicelib.api.http import CSV, HTML, OPERATIONS, Operation
from chalicelib.api.problems import GENERIC_PROBLEMS
from chalicelib.api.validation import SCHEMA_DIR, load_schema

_GATEWAY_STATUSES = (401, 403, 413, 415, 429, 500, 503)
# Every route, public ones too: the desk short of capacity, a bug, a dependency down.
_ANY_ROUTE_STATUSES = (429, 500, 503)
_RETRY_STATUSES = (429, 503)  # answered with Retry-After
_NOT_ACCEPTABLE = 406
_SCHEMA_NAMES = {
    "ticket-create": "TicketCreate",
    "ticket": "Ticket",
    "problem": "Problem",
    "health": "Health",
}


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "servicedesk",
            "version": "1.0.0",
            "description": "A bank's omnichannel customer service desk: tickets, SLAs, "
            "notifications, follow-up surveys and branch appointments.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _component_schemas() -> dict[str, Any]:
    schemas = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = dict(load_schema(path.stem))
        schema.pop("$schema", None)
        schema.pop("$id", None)
        schemas[_component_name(path.stem)] = _rewrite_refs(schema)
    return schemas


def _component_name(stem: str) -> str:
    return _SCHEMA_NAMES.get(stem, _camel(stem))


def _rewrite_refs(node: Any) -> Any:
    """`{"$ref": "ticket.json"}` between schema files becomes a component reference."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.endswith(".json"):
            return {"$ref": f"#/components/schemas/{_component_name(ref[:-5])}"}
        return {key: _rewrite_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(value) for value in node]
    return node


def _camel(stem: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", stem))


def _ref(schema_name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{_component_name(schema_name)}"}


def _operation(operation: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": _operation_id(operation),
        "tags": [operation.tag],
        "responses": _responses(operation),
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", operation.path)
    ]
    parameters.extend(operation.parameters)
    if parameters:
        spec["parameters"] = parameters
    if operation.public:
        spec["security"] = []
    else:
        spec["security"] = [{"bearer": []}]
    if operation.request_schema:
        spec["requestBody"] = {
            "required": True,
            "content": {
                media_type: {"schema": _ref(operation.request_schema)}
                for media_type in operation.content_types
            },
        }
    return spec


def _operation_id(operation: Operation) -> str:
    words = re.sub(r"[{}]", "", operation.path).strip("/").replace("/", "_").replace("-", "_")
    return f"{operation.method.lower()}_{words}"


def _responses(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema_name in sorted(operation.responses.items()):
        if status >= 400:
            responses[str(status)] = _problem_response(status)
        elif status == 204:
            responses[str(status)] = {"description": "No content"}
        elif 300 <= status < 400:
            responses[str(status)] = {
                "description": "Redirect",
                "headers": {"Location": {"schema": {"type": "string"}}},
            }
        else:
            schema = _ref(schema_name) if schema_name else {"type": "object"}
            responses[str(status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema}},
            }
            headers = _TICKET_HEADERS.get(status, {}) if schema_name == "ticket" else {}
            if headers:
                responses[str(status)]["headers"] = headers
        if operation.html and status not in (204,) and not 300 <= status < 400:
            responses[str(status)]["content"][HTML] = {"schema": {"type": "string"}}
        if operation.csv and status == 200:
            responses[str(status)]["content"][CSV] = {"schema": {"type": "string"}}
    statuses = _GATEWAY_STATUSES if not operation.public else _ANY_ROUTE_STATUSES
    if operation.offered:  # an Accept naming none of its media types (api_route)
        statuses = (*statuses, _NOT_ACCEPTABLE)
    for status in statuses:
        responses.setdefault(str(status), _problem_response(status))
    return responses


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "string"}}


_ETAG = _header('The ticket\'s version, quoted ("3"): send it back in If-Match')
_TICKET_HEADERS = {
    200: {"ETag": _ETAG},
    201: {"ETag": _ETAG, "Location": _header("The new ticket's path")},
}


def _problem_response(status: int) -> dict[str, Any]:
    title = GENERIC_PROBLEMS.get(status, ("error", "Error"))[1]
    response: dict[str, Any] = {
        "description": title,
        "content": {"application/problem+json": {"schema": _ref("problem")}},
    }
    if status in _RETRY_STATUSES:
        response["headers"] = {"Retry-After": _header("Seconds to wait before retrying")}
    return response
