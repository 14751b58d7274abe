"""Make moto's DynamoDB as isolated as the real one, for the local stack and tests.

moto applies TransactWriteItems without isolation: two transactions can both
pass a condition, and a cancelled one restores a deep copy of the whole table
taken before it started, silently undoing writes committed meanwhile. Real
DynamoDB transactions are serializable. Serializing every DynamoDB request in
the moto server restores that guarantee, so races tested locally behave as
they will in AWS.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_PATCHED = False


def serialize_dynamodb() -> None:
    global _PATCHED  # noqa: PLW0603 - patch once per process
    if _PATCHED:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _PATCHED = True
