"""USAGE_CLIENTS (the authorizer's client -> usage key map) agrees with the usage plans.

CloudFormation cannot read an API key's value back, so the environment variable
spells the same values as the ApiKey resources: this reads both from
infra/template.json, substitutes them as CloudFormation would, and fails when one
side changes alone.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.config import Settings
from local.resources import load_template

STACK = "servicedesk-prod"
APPS = ("Mobile", "Web", "Branch")


def _sub(expression: Any, values: dict[str, str]) -> str:
    assert isinstance(expression, dict) and set(expression) == {"Fn::Sub"}, expression
    text = expression["Fn::Sub"]
    assert isinstance(text, str), "a plain Fn::Sub string"
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match[1]], text)


def _values(template: dict[str, Any], **overrides: str) -> dict[str, str]:
    values = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    return {**values, "AWS::StackName": STACK, **overrides}


def _usage_keys(template: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    settings = Settings.from_env(
        {
            "SERVICEDESK_AUTH_MODE": "local-hs256",
            "USAGE_CLIENTS": _sub(variables["USAGE_CLIENTS"], values),
        }
    )
    return dict(settings.usage_keys)


def test_each_client_app_gets_the_key_of_its_own_usage_plan():
    template = load_template()
    resources = template["Resources"]
    client_ids = {app: f"{app.lower()}-client-0123456789abcdefghij" for app in APPS}
    values = _values(template, **{f"{app}ClientId": client_ids[app] for app in APPS})
    usage_keys = _usage_keys(template, values)
    assert set(usage_keys) == set(client_ids.values())
    for app in APPS:
        key = resources[f"{app}ApiKey"]["Properties"]
        assert key["Enabled"] is True
        assert usage_keys[client_ids[app]] == _sub(key["Value"], values), app
        plan_key = resources[f"{app}UsagePlanKey"]["Properties"]
        assert plan_key["KeyId"] == {"Ref": f"{app}ApiKey"}
        assert plan_key["UsagePlanId"] == {"Ref": f"{app}UsagePlan"}
    assert len(set(usage_keys.values())) == len(APPS), "one plan per app"


def test_client_id_parameters_cannot_break_the_variable():
    parameters = load_template()["Parameters"]
    for app in APPS:
        pattern = re.compile(parameters[f"{app}ClientId"]["AllowedPattern"])
        assert pattern.fullmatch(parameters[f"{app}ClientId"]["Default"])
        assert pattern.fullmatch("4h2j5k6l7m8n9p0q1r2s3t4u5v")  # a Cognito app client id
        for bad in ("a=b", "a,b", "", "a b"):
            assert not pattern.fullmatch(bad), bad


def test_the_default_parameters_give_a_valid_variable():
    template = load_template()
    assert len(_usage_keys(template, _values(template))) == len(APPS)
