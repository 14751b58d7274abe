"""Integration tests: the real adapters against moto, in-process, resources from infra/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib import bootstrap
from chalicelib.config import Settings
from local.moto_fidelity import make_moto_faithful

REGION = "ap-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)
    make_moto_faithful()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from local.resources import create_resources

        resources = create_resources(endpoint_url=None, region=REGION)
        settings = Settings.from_env(
            {
                "SERVICEDESK_AUTH_MODE": "local-hs256",
                "TABLE_NAME": resources["table_name"],
                "AWS_DEFAULT_REGION": REGION,
            }
        )
        bootstrap.use(bootstrap.bootstrap(settings))
        yield resources
        bootstrap.use(None)
