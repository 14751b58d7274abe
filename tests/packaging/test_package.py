"""The deployable artefacts: build/sam.json (Chalice + infra/) and deployment.zip.

Builds once per module with ``python -m local.package`` (which downloads the
Lambda-platform wheels through pip), then lints the template as written and as
the SAM transform turns it into plain CloudFormation, and opens the zip the
way Lambda will.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.resources import PROJECT_DIR, load_template, state_machine_definition_path

pytestmark = pytest.mark.packaging

REGION = "ap-east-1"
DUMMY_AWS_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
# Highest glibc of each Lambda Python runtime (python3.11 runs on Amazon Linux 2).
RUNTIME_GLIBC = {"python3.11": (2, 26), "python3.12": (2, 34), "python3.13": (2, 34)}
WHEEL_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
SAM_FUNCTION = "AWS::Serverless::Function"


@pytest.fixture(scope="module")
def aws_env() -> Iterator[dict[str, str]]:
    """Dummy credentials only: packaging and linting must never need real ones."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in DUMMY_AWS_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        yield dict(os.environ)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, aws_env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("build")
    completed = subprocess.run(
        [sys.executable, "-m", "local.package", str(out)],
        cwd=PROJECT_DIR,
        env={**aws_env, "PYTHONPATH": str(PROJECT_DIR)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


@pytest.fixture(scope="module")
def sam_template(build_dir: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((build_dir / "sam.json").read_text())
    return template


@pytest.fixture(scope="module")
def translated_path(build_dir: Path, sam_template: dict[str, Any], aws_env: dict[str, str]) -> Path:
    """Plain CloudFormation, as the SAM transform will hand it to CloudFormation."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = json.loads(json.dumps(sam_template))
    for resource in template["Resources"].values():
        if resource["Type"] == SAM_FUNCTION:
            # What `aws cloudformation package` does with ./deployment.zip.
            resource["Properties"]["CodeUri"] = "s3://packaging-bucket/deployment.zip"
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    translated = transform(template, pseudo, NoManagedPolicies())
    path = build_dir / "translated.json"
    path.write_text(json.dumps(translated, indent=2))
    return path


@pytest.fixture(scope="module")
def translated(translated_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(translated_path.read_text())
    return loaded


@pytest.fixture(scope="module")
def unzipped(build_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("deployment")
    with zipfile.ZipFile(build_dir / "deployment.zip") as archive:
        archive.extractall(target)
    return target


# cfn-lint's documented exit codes: 0 no match, else a bit mask of 2 error, 4 warning and
# 8 informational; 1 (outside the mask) is a bad command line or config, or a crash, when it
# linted nothing. Clean: no match, or informational matches only.
LINTS_CLEAN = (0, 8)


def _cfn_lint(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            "--regions",
            REGION,
            "--format",
            "parseable",
            "--",
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _resources_of(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _statements(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        documents = [properties.get("PolicyDocument")]
        documents += [policy.get("PolicyDocument") for policy in properties.get("Policies", [])]
        for document in filter(None, documents):
            yield from document["Statement"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


# --- the template ---------------------------------------------------------------------------


def test_merged_template_lints_clean(build_dir: Path, aws_env: dict[str, str]):
    result = _cfn_lint(build_dir / "sam.json", aws_env)
    assert result.returncode in LINTS_CLEAN, result.stdout + result.stderr


def test_translated_template_lints_clean(translated_path: Path, aws_env: dict[str, str]):
    result = _cfn_lint(translated_path, aws_env)
    assert result.returncode in LINTS_CLEAN, result.stdout + result.stderr


def test_survey_asl_passes_the_step_functions_schema(tmp_path: Path, aws_env: dict[str, str]):
    """cfn-lint checks ASL (E3601) only on plain AWS::StepFunctions::StateMachine."""
    machine = load_template()["Resources"]["SurveyStateMachine"]["Properties"]
    substitutions = dict.fromkeys(machine["DefinitionSubstitutions"], "servicedesk")
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Survey": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/survey",
                    "Definition": json.loads(state_machine_definition_path().read_text()),
                    "DefinitionSubstitutions": substitutions,
                },
            }
        },
    }
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(template))
    result = _cfn_lint(path, aws_env)
    assert result.returncode in LINTS_CLEAN, result.stdout + result.stderr


def test_no_scan_and_no_wildcard_actions(sam_template: dict[str, Any], translated: dict[str, Any]):
    for template in (sam_template, translated):
        assert "dynamodb:Scan" not in json.dumps(template)
        for statement in _statements(template):
            if statement.get("Effect") == "Deny":
                continue  # a wildcard in a Deny only takes away (e.g. a bucket's TLS-only guard)
            for action in _actions(statement):
                assert action != "*" and not action.endswith(":*"), statement


def test_every_function_role_is_the_templates(sam_template: dict[str, Any]):
    """A function Chalice adds gets only the fail-closed policy file until infra/ names it."""
    for name, function in _resources_of(sam_template, SAM_FUNCTION).items():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = sam_template["Resources"][role_id]["Properties"]
        assert role["Policies"] == [], f"{role_id}: its policies belong in infra/template.json"
        assert {"Ref": "FunctionBasePolicy"} in role.get("ManagedPolicyArns", []), (
            f"{name}: add {role_id} with its ManagedPolicyArns to infra/template.json"
        )


def test_only_the_stream_consumer_reads_the_stream(sam_template: dict[str, Any]):
    for function in _resources_of(sam_template, SAM_FUNCTION).values():
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        policies = sam_template["Resources"][role_id]["Properties"]["ManagedPolicyArns"]
        has_stream_event = any(
            event["Type"] == "DynamoDB"
            for event in function["Properties"].get("Events", {}).values()
        )
        assert ({"Ref": "StreamConsumerPolicy"} in policies) == has_stream_event, role_id


def test_stream_event_source_reads_the_tables_stream(sam_template: dict[str, Any]):
    events = [
        event["Properties"]
        for function in _resources_of(sam_template, SAM_FUNCTION).values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]
    assert events, "no DynamoDB stream consumer in the packaged template"
    for event in events:
        assert event["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert event["BisectBatchOnFunctionError"] is True
        assert event["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["StreamFailures", "Arn"]
        }


def test_stream_event_source_filters_what_the_local_pump_filters(sam_template: dict[str, Any]):
    """Lambda's FilterCriteria survive the merge, and they are the patterns the local pump
    applies (local/stream_filter.py; tests/unit/test_stream_filter.py ties them to the
    handler)."""
    from local.stream_filter import parse_pattern, template_patterns

    [source] = [
        event["Properties"]
        for function in _resources_of(sam_template, SAM_FUNCTION).values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]
    packaged = [parse_pattern(f["Pattern"]) for f in source["FilterCriteria"]["Filters"]]
    assert packaged == template_patterns() != []


def test_every_queue_is_sized_six_times_its_consumers_timeout(sam_template: dict[str, Any]):
    """AWS's rule for an SQS event source: the queue's visibility timeout at least six
    times the function's timeout, or a batch still running is delivered again. Exactly
    six: each queue was sized for its consumer, so a change to one is a change to both
    (a 15 s default under a queue sized for 60 s cut batches of mail short)."""
    queues = json.loads((PROJECT_DIR / "infra" / "template.json").read_text())["Resources"]
    consumers = [
        (name, function["Properties"]["Timeout"], event["Properties"]["Queue"]["Fn::Sub"])
        for name, function in _resources_of(sam_template, SAM_FUNCTION).items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    ]
    assert len(consumers) >= 4, consumers
    for name, timeout, arn in consumers:
        queue = arn.removeprefix("${").removesuffix(".Arn}")
        visibility = queues[queue]["Properties"]["VisibilityTimeout"]
        assert visibility == 6 * timeout, (name, timeout, queue, visibility)


def test_every_function_knows_the_resources(translated: dict[str, Any]):
    wanted = {
        "TABLE_NAME": {"Ref": "Table"},
        "OPS_ALERTS_TOPIC_ARN": {"Ref": "OpsAlerts"},
        "SURVEY_STATE_MACHINE_ARN": {"Ref": "SurveyStateMachine"},
        "SERVICEDESK_AUTH_MODE": "oidc",
        "SERVICEDESK_STAGE": "prod",
    }
    functions = _resources_of(translated, "AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {key: variables.get(key) for key in wanted} == wanted, name
        for key in ("OIDC_JWKS_URL", "OIDC_ISSUER", "OIDC_AUDIENCE", "PUBLIC_BASE_URL"):
            assert key in variables, (name, key)
        assert variables["OIDC_REQUIRED_SCOPE"] == {"Ref": "ApiScope"}, name
        # The secret's ARN, read at run time; never its value in the configuration.
        assert variables["SERVICEDESK_CURSOR_SECRET_ARN"] == {"Ref": "CursorSigningKey"}, name
        assert "SERVICEDESK_CURSOR_KEY" not in variables, name
    assert "resolve:secretsmanager" not in json.dumps(translated)


def test_state_machine_definition_is_inlined(sam_template: dict[str, Any]):
    machine = sam_template["Resources"]["SurveyStateMachine"]["Properties"]
    assert "DefinitionUri" not in machine
    assert machine["Definition"] == json.loads(state_machine_definition_path().read_text())
    assert machine["Logging"]["IncludeExecutionData"] is False
    assert machine["Tracing"] == {"Enabled": True}


def test_gateway_answers_are_problem_documents(sam_template: dict[str, Any]):
    responses = sam_template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    for name, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Content-Type"] == "'application/problem+json'", name
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert set(body) == {"type", "title", "status", "detail"}, name
        assert str(body["status"]) == response["StatusCode"], name
    assert responses["THROTTLED"]["ResponseParameters"]["Headers"]["Retry-After"]
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    # A firewall refusal or an unknown client app is a 403, not the catch-all's 400.
    for refused in ("WAF_FILTERED", "INVALID_API_KEY"):
        assert responses[refused]["StatusCode"] == "403", refused
    assert responses["RESOURCE_NOT_FOUND"]["StatusCode"] == "404"
    # The authorizer fails (rather than answer "Unauthorized") when the identity provider's
    # keys cannot be had: a 503 to retry, not a 500 and not a 401 (api/auth.py).
    for failed in ("AUTHORIZER_CONFIGURATION_ERROR", "AUTHORIZER_FAILURE"):
        assert responses[failed]["StatusCode"] == "503", failed
        assert responses[failed]["ResponseParameters"]["Headers"]["Retry-After"], failed
        body = json.loads(responses[failed]["ResponseTemplates"]["application/json"])
        assert body["type"] == "service-unavailable", failed


def test_browsers_can_read_every_gateway_answer(sam_template: dict[str, Any]):
    """SPEC 2: web banking calls cross-origin; a gateway 401, 403, 429 or 503 without CORS
    headers reaches its code as an opaque network error, so it could not tell "log in
    again" from "retry after Retry-After"."""
    responses = sam_template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    for name, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == "method.request.header.Origin", name
        exposed = headers["Access-Control-Expose-Headers"].strip("'").split(",")
        assert "Retry-After" in exposed, name
        assert headers["Vary"] == "'Origin'", name
        assert "Access-Control-Allow-Credentials" not in headers, name


def test_every_declared_resource_reaches_the_package(sam_template: dict[str, Any]):
    """Every resource infra/ declares reaches the package (a merge never drops one)."""
    declared = set(load_template()["Resources"])
    assert declared <= set(sam_template["Resources"])


def _stage(translated: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    stages = _resources_of(translated, "AWS::ApiGateway::Stage")
    assert len(stages) == 1, stages
    return next(iter(stages.items()))


def test_waf_guards_the_api_stage_per_ip(translated: dict[str, Any]):
    stage_id, _ = _stage(translated)
    ((acl_id, acl),) = _resources_of(translated, "AWS::WAFv2::WebACL").items()
    assert acl["Properties"]["Scope"] == "REGIONAL"
    (association,) = _resources_of(translated, "AWS::WAFv2::WebACLAssociation").values()
    arn = association["Properties"]["ResourceArn"]["Fn::Sub"]
    assert arn.endswith("/restapis/${RestAPI}/stages/${" + stage_id + "}")
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    rate_rules = {
        rule["Name"]: rule["Statement"]["RateBasedStatement"]
        for rule in acl["Properties"]["Rules"]
        if "RateBasedStatement" in rule["Statement"]
    }
    assert all(rule["AggregateKeyType"] == "IP" for rule in rate_rules.values())
    scoped = [rule for rule in rate_rules.values() if "ScopeDownStatement" in rule]
    unscoped = [rule for rule in rate_rules.values() if "ScopeDownStatement" not in rule]
    assert len(scoped) == 1 and len(unscoped) == 1
    parameters = translated["Parameters"]
    survey_limit = parameters[scoped[0]["Limit"]["Ref"]]["Default"]
    assert survey_limit < parameters[unscoped[0]["Limit"]["Ref"]]["Default"]
    # The survey scope matches the public routes with and without the stage in the path.
    pattern = re.compile(scoped[0]["ScopeDownStatement"]["RegexMatchStatement"]["RegexString"])
    for path in ("/s/Ab3dE", "/prod/s/Ab3dE", "/v1/surveys/Ab3dE", "/prod/v1/surveys/x"):
        assert pattern.search(path), path
    for path in ("/v1/tickets", "/prod/v1/tickets/T-1/actions", "/v1/health", "/v1/customers/s/x"):
        assert not pattern.search(path), path


def test_usage_plans_meter_each_client_app(translated: dict[str, Any]):
    stage_id, _ = _stage(translated)
    plans = _resources_of(translated, "AWS::ApiGateway::UsagePlan")
    assert len(plans) >= 3
    for plan in plans.values():
        properties = plan["Properties"]
        assert properties["ApiStages"] == [
            {"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": stage_id}}
        ]
        assert properties["Throttle"]["RateLimit"] > 0 and properties["Throttle"]["BurstLimit"] > 0
        assert properties["Quota"]["Limit"] > 0
    keys = _resources_of(translated, "AWS::ApiGateway::UsagePlanKey").values()
    assert {key["Properties"]["UsagePlanId"]["Ref"] for key in keys} == set(plans)
    (api,) = _resources_of(translated, "AWS::ApiGateway::RestApi").values()
    # Clients never send a key: the authorizer names the caller's app (usageIdentifierKey).
    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"


def _operations(definition: dict[str, Any]) -> dict[str, set[str]]:
    """``METHOD /path`` -> the security schemes the operation names."""
    return {
        f"{method.upper()} {path}": {
            name for requirement in operation.get("security", []) for name in requirement
        }
        for path, operations in definition["paths"].items()
        for method, operation in operations.items()
    }


def test_authenticated_operations_require_the_authorizers_usage_key(
    sam_template: dict[str, Any], translated: dict[str, Any]
):
    """Usage plans meter only methods that require a key; the authorizer supplies it."""
    import app  # noqa: F401 - registers every operation
    from chalicelib.api.http import OPERATIONS

    api = sam_template["Resources"]["RestAPI"]["Properties"]
    body = api["DefinitionBody"]
    assert body["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    assert body["securityDefinitions"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    operations = _operations(body)
    assert OPERATIONS
    for operation in OPERATIONS:
        schemes = operations[f"{operation.method} {operation.path}"]
        wanted = set() if operation.public else {"jwt_authorizer", "api_key"}
        assert schemes == wanted, (operation.method, operation.path)
    for name, schemes in operations.items():
        # Whatever else reaches the API (preflights included): a key exactly where a token is.
        assert ("api_key" in schemes) == ("jwt_authorizer" in schemes), name
    for public in ("GET /v1/health", "GET /v1/openapi.json", "GET /s/{code}"):
        assert operations[public] == set(), public
    (rest_api,) = _resources_of(translated, "AWS::ApiGateway::RestApi").values()
    assert rest_api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    assert rest_api["Properties"]["Body"]["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"


def test_every_function_knows_the_client_apps_usage_keys(translated: dict[str, Any]):
    for name, function in _resources_of(translated, "AWS::Lambda::Function").items():
        usage = function["Properties"]["Environment"]["Variables"]["USAGE_CLIENTS"]["Fn::Sub"]
        for app in ("Mobile", "Web", "Branch"):
            assert f"${{{app}ClientId}}=" in usage, (name, app)
            assert f"{app}ClientId" in translated["Parameters"], app


def test_access_log_has_no_bodies_or_query_strings(translated: dict[str, Any]):
    _, stage = _stage(translated)
    setting = stage["Properties"]["AccessLogSetting"]
    fields = json.loads(setting["Format"])
    assert {"requestId", "ip", "caller", "route", "status", "latencyMs"} <= set(fields)
    # The route template (/v1/surveys/{code}), not the path: no codes, ids or query strings.
    assert fields["route"] == "$context.resourcePath"
    for value in fields.values():
        assert value.startswith("$context."), value
        for leak in ("$context.path", "body", "querystring", "requestOverride", "$input"):
            assert leak not in value, value
    group_id = setting["DestinationArn"]["Fn::GetAtt"][0]
    group = translated["Resources"][group_id]["Properties"]
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DeskKey", "Arn"]}
    assert group["RetentionInDays"] > 0


def test_stream_consumer_has_reserved_concurrency(translated: dict[str, Any]):
    function = translated["Resources"]["OnTableChange"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {"Ref": "StreamReservedConcurrency"}
    assert translated["Parameters"]["StreamReservedConcurrency"]["Default"] > 0


def test_every_alarm_names_its_runbook_section(sam_template: dict[str, Any]):
    """docs/runbooks.md has one section per alarm, headed by the alarm's logical id."""
    alarms = _resources_of(sam_template, "AWS::CloudWatch::Alarm")
    assert alarms
    for logical_id, alarm in alarms.items():
        description = alarm["Properties"]["AlarmDescription"]
        assert description.endswith(f" Runbook: docs/runbooks.md#{logical_id.lower()}"), logical_id


# --- the deployment package -----------------------------------------------------------------


def test_package_carries_the_json_schemas(unzipped: Path):
    shipped = {p.name for p in (PROJECT_DIR / "chalicelib" / "schemas").glob("*.json")}
    packaged = {p.name for p in (unzipped / "chalicelib" / "schemas").glob("*.json")}
    assert shipped
    assert packaged == shipped


def _glibc_and_machine(platform_tag: str) -> tuple[tuple[int, int], str] | None:
    for legacy, glibc in LEGACY_MANYLINUX.items():
        if platform_tag.startswith(legacy + "_"):
            return glibc, platform_tag.removeprefix(legacy + "_")
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform_tag)
    if match is None:
        return None
    return (int(match[1]), int(match[2])), match[3]


def _wheel_tags(dist_info: Path) -> list[str]:
    lines = (dist_info / "WHEEL").read_text().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]


def test_binary_wheels_fit_the_lambda_runtime(unzipped: Path, sam_template: dict[str, Any]):
    function = next(iter(_resources_of(sam_template, SAM_FUNCTION).values()))["Properties"]
    max_glibc = RUNTIME_GLIBC[function["Runtime"]]
    machine = WHEEL_MACHINE[function["Architectures"][0]]
    binary = [
        d
        for d in unzipped.glob("*.dist-info")
        if "Root-Is-Purelib: false" in (d / "WHEEL").read_text()
    ]
    assert any(d.name.startswith("cryptography-") for d in binary)
    for dist_info in binary:
        platforms = [_glibc_and_machine(tag.split("-")[2]) for tag in _wheel_tags(dist_info)]
        assert any(
            found and found[0] <= max_glibc and found[1] == machine for found in platforms
        ), f"{dist_info.name}: {_wheel_tags(dist_info)} does not run on {function['Runtime']}"


def _python_in(unzipped: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` as Lambda would: the package alone on the path (no site-packages), in
    its folder, writing no bytecode (the code directory is read-only). It must succeed."""
    completed = subprocess.run(
        [sys.executable, "-S", "-B", "-c", code],
        cwd=unzipped,
        env={"PYTHONPATH": str(unzipped), "PATH": os.environ.get("PATH", ""), **DUMMY_AWS_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed


def test_package_imports_alone(unzipped: Path):
    """The handler module and the native code import from the zip with no site-packages
    (and, as on Lambda's read-only code directory, writing no bytecode)."""
    code = "import cryptography.hazmat.bindings._rust as rust, jwt, rpds, app; print(rust.__file__)"
    completed = _python_in(unzipped, code)
    assert completed.stdout.strip().startswith(str(unzipped))


def _cache_tag(runtime: str) -> str:
    """python3.11 -> cpython-311, the tag of the bytecode that runtime loads."""
    major, minor = runtime.removeprefix("python").split(".")
    return f"cpython-{major}{minor}"


def _pyc_of(source: str, tag: str) -> str:
    path = Path(source)
    return f"{path.parent.as_posix()}/__pycache__/{path.stem}.{tag}.pyc".removeprefix("./")


def test_every_module_ships_bytecode_its_runtime_loads_unchecked(
    build_dir: Path, sam_template: dict[str, Any]
):
    """Lambda cannot write a bytecode cache: a module shipped without one is compiled at
    every cold start. Each .py has its runtime's .pyc, hash-based and unchecked (PEP 552
    flags 0b01), so the zip's file times cannot make it stale; no other .pyc is left."""
    runtime = next(iter(_resources_of(sam_template, SAM_FUNCTION).values()))["Properties"][
        "Runtime"
    ]
    tag = _cache_tag(runtime)
    with zipfile.ZipFile(build_dir / "deployment.zip") as archive:
        names = set(archive.namelist())
        sources = sorted(name for name in names if name.endswith(".py"))
        pycs = sorted(name for name in names if name.endswith(".pyc"))
        expected = {source: _pyc_of(source, tag) for source in sources}
        missing = sorted(source for source, pyc in expected.items() if pyc not in names)
        flags = {name: int.from_bytes(archive.read(name)[4:8], "little") for name in pycs}
    assert "app.py" in sources and "chalicelib/bootstrap.py" in sources
    assert len(sources) > 500  # the libraries are in the zip too
    assert not missing, missing[:10]
    assert set(pycs) == set(expected.values()), sorted(set(pycs) - set(expected.values()))[:10]
    assert {name for name, value in flags.items() if value != 0b01} == set()


def test_the_handler_module_imports_without_compiling_anything(unzipped: Path):
    """Importing app from the package (every function's handler module) compiles no
    source: ours and every library's bytecode is found and used."""
    code = (
        "import importlib._bootstrap_external as ext\n"
        "compiled = []\n"
        "original = ext.SourceLoader.source_to_code\n"
        "def recording(self, data, path, *, _optimize=-1):\n"
        "    compiled.append(str(path))\n"
        "    return original(self, data, path, _optimize=_optimize)\n"
        "ext.SourceLoader.source_to_code = recording\n"
        "import app, chalicelib.handlers.stream\n"
        "print(len(compiled), compiled[:5])\n"
    )
    completed = _python_in(unzipped, code)
    assert completed.stdout.strip() == "0 []"
