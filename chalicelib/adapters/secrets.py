"""Keys read at run time from Secrets Manager: cached for a while, rotation-safe.

The function's configuration names the secret (its ARN), never its value: the
key is fetched with `GetSecretValue` when first needed and again after the
cache's time to live. Both the current version (AWSCURRENT) and the one before
it (AWSPREVIOUS) are held: the current signs, both verify, so what was signed
just before a rotation still verifies for a while; anything older does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.logs import logger
from chalicelib.service.ports import DependencyUnavailableError

CACHE_SECONDS = 300.0  # a rotation reaches every running instance within 5 minutes
# A value no key we hold verifies may be signed with a newer key: read the secret again,
# but at most this often, so forged values cannot drive calls to Secrets Manager.
REFRESH_SECONDS = 5.0
CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"


class SecretUnavailableError(DependencyUnavailableError):
    """Secrets Manager did not give the key, and no copy is held: the request that needs
    it cannot be served now (a 503 at the API)."""


class SecretsManagerCursorKeys:
    """The cursor-signing keys (api.cursors.CursorKeys) from one Secrets Manager secret."""

    def __init__(
        self,
        client: Any,
        secret_arn: str,
        *,
        cache_seconds: float = CACHE_SECONDS,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._secret = secret_arn
        self._cache_seconds = cache_seconds
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._keys: tuple[bytes, ...] = ()
        self._stale_at = float("-inf")  # the keys held are read again from then on
        self._refreshable_at = float("-inf")  # the earliest time a stale copy is suspected

    def signing_keys(self) -> tuple[bytes, ...]:
        """The current key first, then the previous one if the secret has one."""
        now = self._clock()
        if now >= self._stale_at:
            self._fetch(now)
        return self._held()

    def _held(self) -> tuple[bytes, ...]:
        if not self._keys:
            raise SecretUnavailableError("no cursor key held; Secrets Manager asked again soon")
        return self._keys

    def refreshed_keys(self) -> tuple[bytes, ...]:
        now = self._clock()
        if now >= self._refreshable_at:
            self._fetch(now)
        return self._held()

    def _fetch(self, now: float) -> None:
        try:
            current = _key_bytes(self._value(CURRENT))
            previous = self._value(PREVIOUS, missing_ok=True)
        except SecretUnavailableError:
            if not self._keys:
                # None held (a cold start in an outage): the requests of the next few
                # seconds answer 503 at once instead of each waiting out the SDK's retries.
                self._stale_at = self._refreshable_at = now + self._refresh_seconds
                raise
            # Keep the keys held (they were right a moment ago); ask again a little later.
            logger.warning("cursor key not refreshed; the keys held stay in use")
            self._stale_at = self._refreshable_at = now + self._refresh_seconds
            return
        older = _key_bytes(previous) if previous is not None else current
        self._keys = (current,) if older == current else (current, older)
        self._stale_at, self._refreshable_at = (
            now + self._cache_seconds,
            now + self._refresh_seconds,
        )

    def _value(self, stage: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """GetSecretValue at this stage; None for a stage the secret does not have yet
        (AWSPREVIOUS before the first rotation) when missing_ok."""
        try:
            response: dict[str, Any] = self._client.get_secret_value(
                SecretId=self._secret, VersionStage=stage
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if missing_ok and code == "ResourceNotFoundException":
                return None
            raise SecretUnavailableError(f"cursor key ({stage}): {code}") from error
        except BotoCoreError as error:
            raise SecretUnavailableError(f"cursor key ({stage}): {type(error).__name__}") from error
        return response


def _key_bytes(response: dict[str, Any] | None) -> bytes:
    if response is None:
        raise SecretUnavailableError("the cursor key secret has no current version")
    text = response.get("SecretString")
    if text:
        return str(text).encode()
    binary = response.get("SecretBinary")
    if binary:
        return bytes(binary)
    raise SecretUnavailableError("the cursor key secret is empty")
