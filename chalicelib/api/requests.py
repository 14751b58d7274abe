"""Request parts several routes share: query parameters, paging, Idempotency-Key, If-Match."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection
from typing import Any

from chalice.app import Request, Response

from chalicelib.api.auth import current_caller, require_role
from chalicelib.api.http import json_body
from chalicelib.api.validation import validate
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.identity import Caller
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse

_IDEMPOTENCY_KEY = r"[\x21-\x7e]{1,255}"
_IF_MATCH = r'(?:W/)?"?(\d{1,9})"?'

IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Retry-safe creation: same key and body give the first response again.",
}
LIMIT_PARAMETER = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
}
CURSOR_PARAMETER = {"name": "cursor", "in": "query", "schema": {"type": "string"}}


def query_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters; an unknown one is a 400 naming it."""
    params = dict(request.query_params or {})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValidationError([FieldError(name, "is not a known parameter") for name in unknown])
    return params


def page_limit(params: dict[str, str]) -> int:
    raw = params.get("limit", "20")
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= 100:
        raise ValidationError([FieldError("limit", "must be an integer from 1 to 100")])
    return int(raw)


def idempotency_key(
    request: Request, caller: Caller, route: str, body: Any
) -> IdempotencyKey | None:
    """The caller's Idempotency-Key for this route, bound to the body's fingerprint."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not re.fullmatch(_IDEMPOTENCY_KEY, key):
        raise ValidationError([FieldError("Idempotency-Key", "must be 1-255 visible characters")])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return IdempotencyKey(
        scope=f"{caller.role.value}:{caller.id}:{route}",
        key=key,
        fingerprint=hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest(),
    )


def if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    if value is None:
        return None
    match = re.fullmatch(_IF_MATCH, value.strip())
    if match is None:
        raise ValidationError([FieldError("If-Match", 'must be an ETag such as "3"')])
    return int(match.group(1))


def stored_response(response: StoredResponse) -> Response:
    """A response as it was kept for retries (or as it is sent the first time)."""
    return Response(
        body=response.body,
        status_code=response.status,
        headers={"Content-Type": "application/json", **response.headers},
    )


Create = Callable[[Caller, dict[str, Any], IdempotencyKey | None], StoredResponse]


def create(
    request: Request, roles: Collection[str], schema: str, route: str, use: Create
) -> Response:
    """A creating POST: role, body against its schema, Idempotency-Key, then the use case;
    its response goes out as it was stored for retries."""
    caller = current_caller(request)
    require_role(caller, roles)
    body = validate(schema, json_body(request))
    return stored_response(use(caller, body, idempotency_key(request, caller, route, body)))
