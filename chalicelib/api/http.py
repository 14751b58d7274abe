"""HTTP plumbing shared by every blueprint: routes, errors, CORS and request logs."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from chalice.app import Blueprint, Request, Response

from chalicelib.adapters.transactions import aws_failure
from chalicelib.api.auth import jwt_authorizer
from chalicelib.api.problems import PROBLEM_JSON, generic_problem, internal_error, problem_for
from chalicelib.api.validation import read_json
from chalicelib.domain.errors import DomainError, NotAcceptableError
from chalicelib.logs import logger
from chalicelib.service.ports import StoreThrottledError
from chalicelib.service.retries import throttled, unavailable

JSON = "application/json"
HTML = "text/html"
CSV = "text/csv"
FORM = "application/x-www-form-urlencoded"
CORS_ALLOW_HEADERS = "Authorization,Content-Type,If-Match,Idempotency-Key"
CORS_EXPOSE_HEADERS = "ETag,Location,Retry-After"


class Operation(NamedTuple):
    """One route, as the OpenAPI document and the access matrix see it: a row of the
    route table (chalicelib/data/routes.json)."""

    path: str
    method: str
    summary: str
    public: bool = False
    request_schema: str | None = None
    responses: dict[int, str | None] = {}  # never mutated: a shared default is safe
    roles: tuple[str, ...] = ()
    tag: str = "tickets"
    parameters: tuple[dict[str, Any], ...] = ()
    content_types: tuple[str, ...] = ("application/json",)
    html: bool = False  # also answers text/html (the survey pages)
    csv: bool = False  # also answers text/csv when the Accept header asks (reports)

    @property
    def offered(self) -> tuple[str, ...]:
        """The media types its answers come in, the default first; none when every success
        has no body (a redirect, 204): the Accept header then chooses nothing."""
        if all(
            status == NO_CONTENT or 300 <= status < 400 for status in self.responses if status < 400
        ):
            return ()
        return (HTML, JSON) if self.html else (JSON, CSV) if self.csv else (JSON,)


NO_CONTENT = 204
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class _Route(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    summary: str
    tag: str
    responses: dict[int, str | None]
    public: bool = False
    roles: tuple[str, ...] = ()
    request_schema: str | None = None
    content_types: tuple[str, ...] = (JSON,)
    parameters: tuple[str | dict[str, Any], ...] = ()
    html: bool = False
    csv: bool = False


class _RouteTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    about: str = msgspec.field(name="_about")
    parameters: dict[str, dict[str, Any]]
    routes: dict[str, _Route]


class RouteTableError(ValueError):
    """The route table does not parse, or a row or a view does not fit it."""


def load_routes(raw: bytes, source: str = "routes.json") -> dict[str, Operation]:
    """Each route's operation by its "METHOD /path", from the route table; the table is
    checked whole, so a row that does not fit stops the API at start-up."""
    try:
        table = msgspec.json.decode(raw, type=_RouteTable)
    except msgspec.ValidationError as error:
        raise RouteTableError(f"{source}: {error}") from error
    return {
        key: _operation(key, row, table.parameters, source) for key, row in table.routes.items()
    }


def _operation(key: str, row: _Route, shared: dict[str, dict[str, Any]], source: str) -> Operation:
    method, _, path = key.partition(" ")
    if method not in _METHODS or not path.startswith("/"):
        raise RouteTableError(f"{source}: {key!r} is not a method and a path")
    if row.public == bool(row.roles):
        raise RouteTableError(f"{source}: {key} names roles or is public: one of the two")
    unknown = [name for name in row.parameters if isinstance(name, str) and name not in shared]
    if unknown:
        raise RouteTableError(f"{source}: {key} names no shared parameter {unknown}")
    fields = msgspec.structs.asdict(row)  # the row's fields are the operation's, by name
    fields["parameters"] = tuple(shared[p] if isinstance(p, str) else p for p in row.parameters)
    return Operation(path, method, **fields)


ROUTES_FILE = Path(__file__).resolve().parent.parent / "data" / "routes.json"
ROUTES = load_routes(ROUTES_FILE.read_bytes(), str(ROUTES_FILE))
OPERATIONS: list[Operation] = []
_OPTIONS_REGISTERED: set[str] = set()


def api_route(blueprint: Blueprint, route: str) -> Callable[..., Any]:
    """Register the view of one row of the route table ("METHOD /path"); domain errors
    become problems, a dependency's refusal a 429 and its outage a 503, anything else a
    logged 500."""
    operation = ROUTES.get(route)
    if operation is None:
        raise RouteTableError(f"{route} has no row in {ROUTES_FILE.name}")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        offered = operation.offered  # once per route, not per request

        @functools.wraps(view)
        def guarded(**params: Any) -> Any:
            try:
                if offered:  # 406 before any work (RFC 9110 12.5.1)
                    negotiate(blueprint.current_request.headers.get("accept"), offered)
                return view(**params)
            except DomainError as error:
                return problem_for(error)
            except Exception as error:
                return _unexpected(error, operation.path)

        options: dict[str, Any] = {"methods": [operation.method]}
        if not operation.public:
            options["authorizer"] = jwt_authorizer
        if operation.method in ("POST", "PUT", "PATCH"):
            options["content_types"] = list(operation.content_types)
        blueprint.route(operation.path, **options)(guarded)
        OPERATIONS.append(operation)
        _register_preflight(blueprint, operation.path)
        return view

    return decorator


def _unexpected(error: Exception, route: str | None) -> Response:
    """429 when an AWS service refused the request for capacity, 503 when it failed or was
    out of reach (the adapters tell, without personal data: the service and its error
    code), each logged once as a warning; anything else is a bug: a 500 with its stack
    trace in the log."""
    cause = aws_failure(error)
    if isinstance(cause, StoreThrottledError):
        logger.warning("dependency throttled", extra={"route": route})
        return problem_for(throttled())
    if cause is not None:
        logger.warning("dependency unavailable", extra={"route": route, "cause": str(cause)})
        return problem_for(unavailable())
    logger.exception("unhandled error", extra={"route": route})
    return internal_error()


def _register_preflight(blueprint: Blueprint, path: str) -> None:
    if path in _OPTIONS_REGISTERED:
        return
    _OPTIONS_REGISTERED.add(path)

    def preflight(**_params: Any) -> Response:
        app = blueprint.current_app
        methods = sorted(set(app.routes.get(path, {})) | {"OPTIONS"})
        return Response(
            body="", status_code=204, headers={"Access-Control-Allow-Methods": ",".join(methods)}
        )

    preflight.__name__ = f"preflight_{len(_OPTIONS_REGISTERED)}"
    blueprint.route(path, methods=["OPTIONS"])(preflight)


def json_body(request: Request) -> Any:
    """The request's JSON body, parsed strictly (size, media type, syntax)."""
    body = request.raw_body
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    return read_json(raw, request.headers.get("content-type"))


def _header(headers: Any, name: str) -> str:
    """A response header by case-insensitive name, as one string."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return ",".join(value) if isinstance(value, list) else str(value)
    return ""


def negotiate(accept: str | None, offered: tuple[str, ...]) -> str:
    """The offered media type the Accept header prefers: the highest q, then the type named
    more precisely (`application/json` over `*/*`), then the order offered; no header
    takes the first. 406 when the header accepts none of them."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    best, best_rank = None, (0.0, 0)
    for media_type in offered:
        rank = _quality(media_type, ranges)
        if rank[0] > 0 and rank > best_rank:
            best, best_rank = media_type, rank
    if best is None:
        raise NotAcceptableError(f"This resource is offered as {', '.join(offered)} only")
    return best


def _media_range(part: str) -> tuple[str, float]:
    media, *params = (piece.strip() for piece in part.split(";"))
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = min(max(float(value), 0.0), 1.0)
            except ValueError:
                q = 0.0
    return media.lower(), q


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The q of the most specific range matching the type (RFC 9110 12.5.1), and how
    specific that range is (2: the type itself, 1: `type/*`, 0: `*/*`)."""
    kind = media_type.split("/", maxsplit=1)[0]
    for specificity, candidate in ((2, media_type), (1, f"{kind}/*"), (0, "*/*")):
        matches = [q for media, q in ranges if media == candidate]
        if matches:
            return max(matches), specificity
    return 0.0, 0


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": JSON, **(headers or {})},
    )


def problem_middleware(allowed_origins: Callable[[], tuple[str, ...]]) -> Callable[..., Response]:
    """HTTP middleware: reshape platform errors as problems, add CORS, log one line."""

    def middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
        started = time.perf_counter()
        try:
            response = get_response(event)
        except Exception as error:
            response = _unexpected(error, None)
        response = _as_problem(response)
        _add_cors(event, response, allowed_origins())
        _log_request(event, response, started)
        return response

    return middleware


def _as_problem(response: Response) -> Response:
    if response.status_code < 400:
        return response
    if _header(response.headers, "content-type").startswith((PROBLEM_JSON, HTML)):
        return response  # our own problem, or an error page meant for a browser
    reshaped = generic_problem(response.status_code)
    reshaped.headers.update({k: v for k, v in response.headers.items() if k.lower() == "allow"})
    return reshaped


def _add_cors(event: Request, response: Response, allowed: tuple[str, ...]) -> None:
    origin = event.headers.get("origin") if event.headers else None
    if not origin or origin not in allowed:
        return
    response.headers.update(
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }
    )


def _created_ticket(response: Response) -> str | None:
    """The id of the ticket a 201 created (its Location is /v1/tickets/<id>), else None."""
    location = _header(response.headers, "location") if response.status_code == 201 else None
    if not location:
        return None
    prefix, _, ticket_id = location.rpartition("/")
    return ticket_id if prefix.endswith("/v1/tickets") and ticket_id else None


def _log_request(event: Request, response: Response, started: float) -> None:
    context = event.context or {}
    params = event.uri_params or {}
    logger.info(
        "request",
        extra={
            "request_id": getattr(event.lambda_context, "aws_request_id", None)
            or context.get("requestId"),
            "method": event.method,
            "route": context.get("resourcePath"),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            # The route's own parameter, else a created ticket's Location; no other Location
            # (GET /s/{code} redirects to /v1/surveys/{code}: a secret).
            "ticket_id": params.get("ticket_id") or _created_ticket(response),
            "role": (context.get("authorizer") or {}).get("role"),
        },
    )
