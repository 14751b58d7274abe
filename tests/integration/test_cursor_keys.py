"""The cursor-signing key read at run time from Secrets Manager (moto): cached, and
rotation-safe — cursors signed just before a rotation still work, older ones are a 400."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.secrets import (
    CACHE_SECONDS,
    REFRESH_SECONDS,
    SecretsManagerCursorKeys,
    SecretUnavailableError,
)
from chalicelib.api.cursors import CursorCodec, fingerprint
from chalicelib.domain.errors import ValidationError
from chalicelib.service.ports import StartKey

REGION = "ap-east-1"
QUERY = fingerprint("tickets", "agent-1", None, "card", None, None, None)
PAGE = StartKey("a-page-position-only-the-store-reads")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SecretsManager:
    """The real (moto) client, counting the GetSecretValue calls it makes."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager", region_name=REGION)
        self.reads = 0
        self.client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)
        created = self.client.create_secret(Name="cursor-key", SecretString="k1" * 32)
        self.arn = str(created["ARN"])

    def _count(self, **_: Any) -> None:
        self.reads += 1

    def rotate(self, value: str) -> None:
        """A new version becomes AWSCURRENT; the one before it, AWSPREVIOUS."""
        self.client.put_secret_value(SecretId=self.arn, SecretString=value)

    def keys(self, clock: Clock) -> SecretsManagerCursorKeys:
        return SecretsManagerCursorKeys(self.client, self.arn, clock=clock)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretsManager]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield SecretsManager()


def _refused(codec: CursorCodec, cursor: str | None) -> bool:
    try:
        codec.decode(cursor, QUERY)
    except ValidationError as error:
        assert [e.path for e in error.errors] == ["cursor"]
        return True
    return False


def test_the_key_is_read_once_and_kept_for_the_cache_time(secrets: SecretsManager):
    clock = Clock()
    codec = CursorCodec(secrets.keys(clock))
    cursor = codec.encode(PAGE, QUERY)
    for _ in range(20):
        assert codec.decode(cursor, QUERY) == PAGE
        assert codec.encode(PAGE, QUERY) == cursor
    assert secrets.reads == 2  # AWSCURRENT, and AWSPREVIOUS (none yet) once
    clock.advance(CACHE_SECONDS)
    codec.encode(PAGE, QUERY)
    assert secrets.reads == 4


def test_cursors_survive_one_rotation_and_fail_cleanly_after_two(secrets: SecretsManager):
    clock = Clock()
    codec = CursorCodec(secrets.keys(clock))
    before = codec.encode(PAGE, QUERY)
    secrets.rotate("k2" * 32)
    clock.advance(CACHE_SECONDS)
    after_one = codec.encode(PAGE, QUERY)
    assert after_one != before  # signed with the new current key
    assert codec.decode(before, QUERY) == PAGE  # the previous key still verifies
    secrets.rotate("k3" * 32)
    clock.advance(CACHE_SECONDS)
    assert codec.decode(after_one, QUERY) == PAGE
    assert _refused(codec, before)  # its key is neither current nor previous: a 400


def test_a_cursor_signed_by_a_fresher_instance_is_accepted(secrets: SecretsManager):
    clock = Clock()
    stale = CursorCodec(secrets.keys(clock))
    stale.encode(PAGE, QUERY)  # this instance holds k1 only
    secrets.rotate("k2" * 32)
    fresh = CursorCodec(secrets.keys(clock))  # a new instance signs with k2
    cursor = fresh.encode(PAGE, QUERY)
    clock.advance(REFRESH_SECONDS)
    reads = secrets.reads
    assert stale.decode(cursor, QUERY) == PAGE  # read again: k2 is the current key now
    assert secrets.reads == reads + 2


def test_forged_cursors_cannot_make_every_request_read_the_secret(secrets: SecretsManager):
    clock = Clock()
    codec = CursorCodec(secrets.keys(clock))
    forged = CursorCodec(b"an attacker's key").encode(PAGE, QUERY)
    assert _refused(codec, forged)
    reads = secrets.reads
    for _ in range(50):
        assert _refused(codec, forged)
    assert secrets.reads == reads  # at most one refresh per REFRESH_SECONDS


def test_a_secret_that_cannot_be_read_is_an_error_not_an_unsigned_cursor(
    secrets: SecretsManager,
):
    missing = secrets.arn.replace("cursor-key", "no-such-secret")
    keys = SecretsManagerCursorKeys(secrets.client, missing, clock=Clock())
    with pytest.raises(SecretUnavailableError):
        CursorCodec(keys).encode(PAGE, QUERY)


def test_an_outage_keeps_the_keys_held_and_asks_again_later(secrets: SecretsManager):
    clock = Clock()
    codec = CursorCodec(secrets.keys(clock))
    cursor = codec.encode(PAGE, QUERY)
    secrets.client.delete_secret(SecretId=secrets.arn, ForceDeleteWithoutRecovery=True)
    clock.advance(CACHE_SECONDS)
    assert codec.decode(cursor, QUERY) == PAGE  # Secrets Manager refused: the keys held serve
    reads = secrets.reads
    assert codec.encode(PAGE, QUERY) == cursor
    assert secrets.reads == reads  # not asked again on every request
    clock.advance(REFRESH_SECONDS)
    codec.encode(PAGE, QUERY)
    assert secrets.reads == reads + 1


def test_with_no_key_held_an_outage_is_answered_at_once_and_asked_again_later(
    secrets: SecretsManager,
):
    clock = Clock()
    missing = secrets.arn.replace("cursor-key", "no-such-secret")
    keys = SecretsManagerCursorKeys(secrets.client, missing, clock=clock)
    codec = CursorCodec(keys)
    with pytest.raises(SecretUnavailableError):
        codec.encode(PAGE, QUERY)
    reads = secrets.reads
    for _ in range(20):  # the requests of the next seconds: refused without a call
        with pytest.raises(SecretUnavailableError):
            codec.encode(PAGE, QUERY)
        with pytest.raises(SecretUnavailableError):
            keys.refreshed_keys()
    assert secrets.reads == reads
    clock.advance(REFRESH_SECONDS)
    with pytest.raises(SecretUnavailableError):
        codec.encode(PAGE, QUERY)
    assert secrets.reads > reads  # asked again once the pause is over
