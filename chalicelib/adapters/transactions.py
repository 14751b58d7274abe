"""One way to write a DynamoDB transaction: named items, a request token, mapped errors.

Every TransactWriteItems of the desk goes through `Transaction`:

- each item is added under a name; a cancellation is told by the names of the items
  whose condition failed (never by position), and mapped to the ports' errors here;
- the call carries a ClientRequestToken derived from what it writes (a digest of its
  items, event ids included), so the SDK's retries of a request whose response was lost
  are idempotent in DynamoDB (10 minutes), and our own retries of a changed write (a new
  reference, a new event id) never reuse a token for other parameters;
- a write that carries events is marked by its first event (a new, random id): when a
  retry finds its conditions failing because the first attempt succeeded (its response
  was lost, or the store does not honour the token), a consistent read of that event
  says it was us, and the write answers with that success.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachableError
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    GetError,
    PutError,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.adapters.models import EventItem
from chalicelib.service.ports import (
    DependencyUnavailableError,
    StoreThrottledError,
    TransactionConflictError,
)

CONDITION_FAILED = "ConditionalCheckFailed"
# Capacity refusals, as the whole call's error code or as a cancellation reason.
THROTTLED_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)
# A service failing or out of reach (HTTP 5xx), as an AWS error code: DynamoDB's, and the
# other services' the API calls (Secrets Manager's InternalServiceError, S3's).
UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "InternalServiceError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# No answer at all: the endpoint not reached, the connection dropped, a timeout.
_UNREACHED = (EndpointUnreachableError, HTTPClientError)
_TOKEN_LENGTH = 36  # DynamoDB's maximum ClientRequestToken length
_KINDS = ("check", "delete", "put", "update")  # the order the connection sends them in

Refusal = Callable[[], Exception]


class Refused(Exception):
    """The conditions of these named items failed; nothing was written."""

    def __init__(self, names: frozenset[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


def storage_error(error: PynamoDBException) -> Exception | None:
    """The ports' error for a call the store refused or failed as a whole (None: not ours
    to map).

    A transaction conflict and a capacity refusal both mean nothing was written: the
    use case may retry. A store that failed or was out of reach after the SDK's own
    retries (5xx, no connection, a timeout) is DependencyUnavailableError: the request
    cannot be served now (a write's outcome is settled by `Transaction` first).
    """
    reasons = getattr(error, "cancellation_reasons", None) or []
    codes = {reason.code for reason in reasons if reason is not None}
    if "TransactionConflict" in codes:
        return TransactionConflictError()
    code = error_code(error)
    if code in THROTTLED_CODES or codes & THROTTLED_CODES:
        return StoreThrottledError()
    if code in UNAVAILABLE_CODES or isinstance(error.cause, _UNREACHED):
        cause = code or type(error.cause).__name__
        return DependencyUnavailableError(f"DynamoDB ({type(error).__name__}): {cause}")
    return None


def error_code(error: PynamoDBException) -> str | None:
    """The AWS error code of the call, if it got an answer. (PynamoDB's own
    `cause_response_code` fails on a read timeout, whose `response` is None.)"""
    response = getattr(error.cause, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code is not None else None


def aws_failure(error: Exception) -> StoreThrottledError | DependencyUnavailableError | None:
    """The ports' error when `error` says an AWS service the request needs refused it for
    capacity (StoreThrottledError) or failed or was out of reach after the SDK's own
    retries (DependencyUnavailableError): raised so by an adapter, or a PynamoDB or
    botocore error an adapter let through (a read: PynamoDB raises while a query's
    results are iterated). None for anything else (a bug stays a 500)."""
    if isinstance(error, StoreThrottledError | DependencyUnavailableError):
        return error
    if isinstance(error, PynamoDBException):
        mapped = storage_error(error)
        return (
            mapped if isinstance(mapped, StoreThrottledError | DependencyUnavailableError) else None
        )
    if isinstance(error, _UNREACHED):
        return DependencyUnavailableError(f"AWS: {type(error).__name__}")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in THROTTLED_CODES:
            return StoreThrottledError()
        if code in UNAVAILABLE_CODES or int(status) >= 500:
            return DependencyUnavailableError(f"AWS {error.operation_name}: {code or status}")
    return None


@contextmanager
def storage_call() -> Iterator[None]:
    """Run one call to the store (not a transaction: `Transaction` settles those): an
    error `storage_error` maps becomes the ports' error, any other is raised as it is."""
    try:
        yield
    except PynamoDBException as error:
        mapped = storage_error(error)
        if mapped is not None:
            raise mapped from error
        raise


def written(write: Callable[[], object]) -> bool:
    """Run one conditional single-item write: True when it was written, False when its
    condition failed (the item is there already, or has moved on). A capacity refusal
    becomes the ports' error, like a transaction's."""
    try:
        with storage_call():
            write()
    except (PutError, UpdateError, DeleteError) as error:
        if error_code(error) == f"{CONDITION_FAILED}Exception":
            return False
        raise
    return True


class Transaction:
    """A TransactWriteItems of named items. Use as a context manager, or call `commit`.

    Its methods are named as PynamoDB's TransactWrite's (IAM checks each item as
    PutItem, UpdateItem, DeleteItem or ConditionCheckItem).

    `refusals` maps item names to the error a failed condition on that item means, in
    order of precedence; a failed condition on an item not named there raises `Refused`.
    """

    def __init__(
        self, connection: Connection, refusals: Mapping[str, Refusal] | None = None
    ) -> None:
        self._connection = connection
        self._refusals = dict(refusals or {})
        self._items: dict[str, list[tuple[str, dict[str, Any]]]] = {kind: [] for kind in _KINDS}
        self._mark: EventItem | None = None

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.commit()

    def save(self, name: str, item: Model, condition: Condition | None = None) -> None:
        self._add("put", name, item.get_save_kwargs_from_instance(condition=condition))

    def update(
        self, name: str, item: Model, actions: list[Action], condition: Condition | None = None
    ) -> None:
        kwargs = item.get_update_kwargs_from_instance(actions=actions, condition=condition)
        self._add("update", name, kwargs)

    def delete(self, name: str, item: Model, condition: Condition | None = None) -> None:
        self._add("delete", name, item.get_delete_kwargs_from_instance(condition=condition))

    def condition_check(
        self, name: str, model: type[Model], hash_key: str, range_key: str, condition: Condition
    ) -> None:
        kwargs = model.get_operation_kwargs_from_class(hash_key, range_key, condition=condition)
        self._add("check", name, kwargs)

    def events(self, items: Iterable[EventItem]) -> None:
        """New event items (each written once); the first one marks the write as ours."""
        for item in items:
            self.save(f"event:{item.event_id}", item, EventItem.pk.does_not_exist())
            if self._mark is None:
                self._mark = item

    def _add(self, kind: str, name: str, kwargs: dict[str, Any]) -> None:
        if any(name == known for entries in self._items.values() for known, _ in entries):
            raise ValueError(f"two items named {name!r} in one transaction")
        self._items[kind].append((name, kwargs))

    def names(self) -> list[str]:
        """The item names in the order the call sends them (cancellation reasons' order)."""
        return [name for kind in _KINDS for name, _ in self._items[kind]]

    def token(self) -> str:
        """The ClientRequestToken: a digest of every item, so it changes with the write."""
        items = [[kwargs for _, kwargs in self._items[kind]] for kind in _KINDS]
        canonical = json.dumps(items, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:_TOKEN_LENGTH]

    def commit(self) -> None:
        try:
            self._connection.transact_write_items(
                condition_check_items=[kwargs for _, kwargs in self._items["check"]],
                delete_items=[kwargs for _, kwargs in self._items["delete"]],
                put_items=[kwargs for _, kwargs in self._items["put"]],
                update_items=[kwargs for _, kwargs in self._items["update"]],
                client_request_token=self.token(),
            )
        except TransactWriteError as error:
            self._settle(error)

    def failed(self, error: TransactWriteError) -> frozenset[str]:
        """The names of the items whose condition failed."""
        reasons = error.cancellation_reasons or []
        return frozenset(
            name
            for name, reason in zip(self.names(), reasons, strict=False)
            if reason is not None and reason.code == CONDITION_FAILED
        )

    def _settle(self, error: TransactWriteError) -> None:
        """Map a failed call: our own earlier success, a refusal, or a storage error."""
        failed = self.failed(error)
        mapped = storage_error(error)
        # No answer, or an unknown one: the write may have gone through all the same.
        unknown = mapped is None or isinstance(mapped, DependencyUnavailableError)
        if (failed or (unknown and not error.cancellation_reasons)) and self._was_ours():
            return  # an earlier attempt of this very write succeeded
        for name, refusal in self._refusals.items():
            if name in failed:
                raise refusal() from error
        if mapped is not None:
            raise mapped from error
        if failed:
            raise Refused(failed) from error
        raise error

    def _was_ours(self) -> bool:
        mark = self._mark
        if mark is None:
            return False
        try:
            EventItem.get(mark.pk, mark.sk, consistent_read=True)
        except EventItem.DoesNotExist:
            return False
        except GetError:
            return False  # cannot tell: report the write's own failure
        return True
