"""Request parts several routes share: query parameters, paging, Idempotency-Key, If-Match
(their OpenAPI descriptions are the shared parameters of chalicelib/data/routes.json)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple, TypeVar

from chalice.app import Request, Response

from chalicelib import bootstrap
from chalicelib.api.auth import current_caller, require_role
from chalicelib.api.cursors import CursorCodec, fingerprint
from chalicelib.api.http import json_body, json_response
from chalicelib.api.validation import validate
from chalicelib.domain.errors import FieldError, ValidationError
from chalicelib.domain.identity import Caller
from chalicelib.service.idempotency import IdempotencyKey, StoredResponse
from chalicelib.service.ports import Page, StartKey

_IDEMPOTENCY_KEY = r"[\x21-\x7e]{1,255}"
# One entity tag of If-Match: ours are the quoted version ("3"); a bare number names the
# same version. A weak tag (W/"3") is a well-formed tag that never matches: If-Match uses
# the strong comparison (RFC 9110 13.1.1, 8.8.3.2). ASCII digits only: `\d` would also take
# U+0661, an Arabic-Indic one.
_ENTITY_TAG = r'(W/)?(?:"([0-9]{1,9})"|([0-9]{1,9}))'


def query_values(request: Request) -> dict[str, str]:
    """The query parameters, each sent once: a name given twice is a 400 naming it (which
    of the values was meant is not ours to guess; Chalice would keep the last)."""
    query = request.query_params
    if query is None:
        return {}
    repeated = sorted(name for name in query if len(query.getlist(name)) > 1)
    if repeated:
        raise ValidationError([FieldError(name, "was sent more than once") for name in repeated])
    return dict(query)


def query_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters; an unknown or repeated one is a 400 naming it."""
    params = query_values(request)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValidationError([FieldError(name, "is not a known parameter") for name in unknown])
    return params


def page_limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit", "20")
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= 100:
        raise ValidationError([FieldError("limit", "must be an integer from 1 to 100")])
    return int(raw)


T = TypeVar("T")


class ListCursor:
    """The signed cursors of one list query, fingerprinted by its parts (the caller's id
    among them): the page a request asks for, and the next page's cursor in the answer."""

    def __init__(self, *query: object) -> None:
        self._codec = CursorCodec(bootstrap.container().cursor_keys)
        self._query_id = fingerprint(*query)

    def position(self, params: Mapping[str, str]) -> tuple[int, StartKey | None]:
        """The page's size (limit) and where it starts (the cursor of this query)."""
        return page_limit(params), self._codec.decode(params.get("cursor"), self._query_id)

    def page_response(self, page: Page[T], view: Callable[[T], Any]) -> Response:
        items = [view(item) for item in page.items]
        next_cursor = self._codec.encode(page.next_key, self._query_id)
        return json_response({"items": items, "next_cursor": next_cursor})

    def respond(
        self,
        params: Mapping[str, str],
        fetch: Callable[[int, StartKey | None], Page[T]],
        view: Callable[[T], Any],
    ) -> Response:
        """The page the request asks for, as `fetch(limit, start)` reads it, shown by `view`."""
        return self.page_response(fetch(*self.position(params)), view)


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


def if_match(request: Request) -> frozenset[int] | None:
    """The versions the caller acts on (If-Match, RFC 9110 13.1.1): None without the header
    or with `*` (any version of a ticket that exists), else those its strong entity tags
    name (none, when every tag is weak: the action is then a 412)."""
    value = request.headers.get("if-match")
    if value is None or value.strip() == "*":
        return None
    tags = [tag.strip() for tag in value.split(",") if tag.strip()]  # empty elements: ignored
    matches = [re.fullmatch(_ENTITY_TAG, tag) for tag in tags]
    if not tags or None in matches:
        raise ValidationError([FieldError("If-Match", 'must be "*" or ETags such as "3"')])
    strong = [match for match in matches if match and not match.group(1)]
    return frozenset(int(match.group(2) or match.group(3)) for match in strong)


def stored_response(response: StoredResponse) -> Response:
    """A response as it was kept for retries (or as it is sent the first time)."""
    return Response(
        body=response.body,
        status_code=response.status,
        headers={"Content-Type": "application/json", **response.headers},
    )


def later(parse: Callable[[], T]) -> tuple[T | None, ValidationError | None]:
    """Parse now; report a 400 only after the 404 and 403 checks (SPEC 3)."""
    try:
        return parse(), None
    except ValidationError as error:
        return None, error


def validated_later(schema: str, request: Request) -> tuple[dict[str, Any], ValidationError | None]:
    """Validate now, but let the service report it after the 404 and 403 checks."""
    try:
        data = json_body(request)
    except ValidationError as error:
        return {}, error
    try:
        return validate(schema, data), None
    except ValidationError as error:
        # Keep a well-formed action name: its permission check still comes first.
        action = data.get("action") if isinstance(data, dict) else None
        return ({"action": action} if isinstance(action, str) else {}), error


class Posted(NamedTuple):
    """A POST read before its use case runs: a 400 in the body or the Idempotency-Key
    waits in `invalid` for the use case to raise after its 404 and 403 checks (SPEC 3)."""

    caller: Caller
    body: dict[str, Any]
    idempotency: IdempotencyKey | None
    invalid: ValidationError | None


def posted_later(request: Request, schema: str, route: str) -> Posted:
    caller = current_caller(request)
    body, invalid = validated_later(schema, request)
    idempotency, key_error = later(lambda: idempotency_key(request, caller, route, body))
    return Posted(caller, body, idempotency, invalid or key_error)


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
