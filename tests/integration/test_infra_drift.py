"""infra/template.json, the moto resources made from it, and the PynamoDB models agree.

What each test compares: "template vs. what moto created" checks that local/resources.py
(create_resources) builds what the template declares; the resources are built FROM the
template, so an edit to the template changes both sides there and is caught by the models
section instead. "template vs. the PynamoDB models" reads the template's JSON and what the
models declare on their own: a key, index or TTL edit to either one fails there.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.models import ALL_MODELS, TicketItem
from local.resources import (
    AWS_ONLY_TYPES,
    LOCAL_TYPES,
    TEMPLATE_PATH,
    create_resources,
    load_template,
    state_machine_definition_path,
    table_definition,
)

REGION = "ap-east-1"
TABLE_NAME = "servicedesk-drift"
# Declared in the template, but made by Chalice's half of the package (merged into it).
CHALICE_TYPES = {None}


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield create_resources(region=REGION, table_name=TABLE_NAME)


@pytest.fixture
def described_table(created: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = boto3.client("dynamodb", region_name=REGION).describe_table(
        TableName=created["table_name"]
    )["Table"]
    return table


def _template_table() -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"]["Table"]["Properties"]
    return properties


def _keys(key_schema: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """(attribute, HASH|RANGE) pairs, hash key first whatever order they were listed in."""
    pairs = ((key["AttributeName"], key["KeyType"]) for key in key_schema)
    return tuple(sorted(pairs, key=lambda pair: pair[1]))


def _indexes(indexes: Sequence[Mapping[str, Any]], name: str = "IndexName") -> dict[str, Any]:
    return {
        index[name]: (
            _keys(index.get("KeySchema") or index["key_schema"]),
            (index.get("Projection") or index["projection"])["ProjectionType"],
        )
        for index in indexes
    }


def _attribute_types(definitions: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


# --- template vs. what moto created (checks create_resources, not template edits) -----------


def test_table_keys_and_indexes_match_the_template(described_table: dict[str, Any]):
    template = _template_table()
    assert _keys(described_table["KeySchema"]) == _keys(template["KeySchema"])
    assert _attribute_types(described_table["AttributeDefinitions"]) == _attribute_types(
        template["AttributeDefinitions"]
    )
    assert _indexes(described_table["GlobalSecondaryIndexes"]) == _indexes(
        template["GlobalSecondaryIndexes"]
    )
    assert described_table["BillingModeSummary"]["BillingMode"] == template["BillingMode"]


def test_stream_and_encryption_match_the_template(
    described_table: dict[str, Any], created: dict[str, Any]
):
    template = _template_table()
    assert described_table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": template["StreamSpecification"]["StreamViewType"],
    }
    assert described_table["LatestStreamArn"] == created["stream_arn"]
    assert described_table["SSEDescription"]["Status"] == "ENABLED"
    assert template["SSESpecification"]["SSEEnabled"] is True
    # The desk's own key, not an AWS-managed one (issue 14, item 9).
    assert template["SSESpecification"]["SSEType"] == "KMS"
    assert template["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DeskKey"}
    assert described_table["SSEDescription"]["SSEType"] == "KMS"
    assert described_table["SSEDescription"]["KMSMasterKeyArn"] == created["desk_key_arn"]


def test_log_groups_use_the_desks_key_and_expire():
    resources = load_template()["Resources"]
    groups = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Logs::LogGroup"}
    assert {"FunctionLogs", "SurveyLogs", "ApiAccessLogs"} <= set(groups)
    for name, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DeskKey", "Arn"]}, name
        assert group["Properties"]["RetentionInDays"] > 0, name


def test_cursor_secret_is_made_locally_and_read_by_arn(created: dict[str, Any]):
    resources = load_template()["Resources"]
    secret = resources["CursorSigningKey"]["Properties"]
    assert secret["KmsKeyId"] == {"Ref": "DeskKey"}
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    # The ARN travels in the environment, never the value (no dynamic reference).
    assert variables["SERVICEDESK_CURSOR_SECRET_ARN"] == {"Ref": "CursorSigningKey"}
    assert "resolve:secretsmanager" not in json.dumps(variables)
    secretsmanager = boto3.client("secretsmanager", region_name=REGION)
    described = secretsmanager.describe_secret(SecretId=created["cursor_secret_arn"])
    assert described["KmsKeyId"] == created["desk_key_arn"]
    value = secretsmanager.get_secret_value(SecretId=created["cursor_secret_arn"])["SecretString"]
    assert re.fullmatch(r"[0-9a-f]{64}", value)


def test_ttl_and_recovery_match_the_template(created: dict[str, Any]):
    template = _template_table()
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    ttl = dynamodb.describe_time_to_live(TableName=created["table_name"])["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == template["TimeToLiveSpecification"]["AttributeName"]
    backups = dynamodb.describe_continuous_backups(TableName=created["table_name"])
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_topic_and_queue_match_the_template(created: dict[str, Any]):
    resources = load_template()["Resources"]
    topic = boto3.client("sns", region_name=REGION).get_topic_attributes(
        TopicArn=created["ops_alerts_topic_arn"]
    )["Attributes"]
    assert created["ops_alerts_topic_arn"].endswith(":ops-alerts")
    # Encrypted with the desk's own key (so alarms may publish), made in moto too.
    assert resources["OpsAlerts"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DeskKey"}
    assert resources["DeskKey"]["Properties"]["EnableKeyRotation"] is True
    assert topic["KmsMasterKeyId"] == created["desk_key_arn"]
    queue = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=created["stream_failures_queue_url"], AttributeNames=["All"]
    )["Attributes"]
    assert queue["SqsManagedSseEnabled"] == "true"


def test_state_machine_runs_the_asl_file(created: dict[str, Any]):
    described = boto3.client("stepfunctions", region_name=REGION).describe_state_machine(
        stateMachineArn=created["survey_state_machine_arn"]
    )
    asl = state_machine_definition_path().read_text()
    expected = json.loads(asl.replace("${TableName}", created["table_name"]))
    assert json.loads(described["definition"]) == expected
    assert described["type"] == "STANDARD"


def test_every_declared_resource_is_created_locally(created: dict[str, Any]) -> None:
    """Every key, secret, table, queue, topic, subscription, bucket, bus, rule or workflow
    in infra/ is made by local/resources.py; any other type must be named as one the
    local stack leaves to AWS."""
    resources = load_template()["Resources"]
    local_kinds = {k for k, v in resources.items() if v.get("Type") in LOCAL_TYPES}
    made = set(created["physical"]) | {"SurveyStateMachine"}
    assert local_kinds <= made, sorted(local_kinds - made)
    assert {"DeskKey", "CursorSigningKey", "Table", "OpsAlerts", "StreamFailures"} <= made
    types = {v.get("Type") for v in resources.values()}
    assert types <= {*LOCAL_TYPES, *AWS_ONLY_TYPES, *CHALICE_TYPES}


def test_asl_placeholders_all_have_substitutions():
    machine = load_template()["Resources"]["SurveyStateMachine"]["Properties"]
    asl = (TEMPLATE_PATH.parent / machine["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", asl))
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_asl_transitions_name_existing_states_and_reach_them_all():
    asl = json.loads(state_machine_definition_path().read_text())
    states = asl["States"]
    targets: dict[str, set[str]] = {name: set() for name in states}
    for name, state in states.items():
        targets[name].update(filter(None, [state.get("Next"), state.get("Default")]))
        targets[name].update(choice["Next"] for choice in state.get("Choices", []))
        targets[name].update(catcher["Next"] for catcher in state.get("Catch", []))
    assert set().union(*targets.values()) <= set(states)
    reached, frontier = set(), [asl["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in reached:
            reached.add(name)
            frontier.extend(targets[name])
    assert reached == set(states)


# --- template vs. the PynamoDB models ---------------------------------------------------------


def test_models_declare_the_templates_keys_and_indexes():
    schema = TicketItem._get_schema()
    template = _template_table()
    assert _keys(schema["key_schema"]) == _keys(template["KeySchema"])
    # Each item type declares its own indexes; together they are the table's.
    schemas = [model._get_schema() for model in ALL_MODELS]
    indexes = [index for each in schemas for index in each["global_secondary_indexes"]]
    definitions = [d for each in schemas for d in each["attribute_definitions"]]
    assert _indexes(indexes, "index_name") == _indexes(template["GlobalSecondaryIndexes"])
    assert _attribute_types(definitions) == _attribute_types(template["AttributeDefinitions"])
    assert not schema["local_secondary_indexes"]
    assert "LocalSecondaryIndexes" not in template


def test_every_model_shares_the_tables_primary_key():
    template_keys = _keys(_template_table()["KeySchema"])
    for model in ALL_MODELS:
        assert _keys(model._get_schema()["key_schema"]) == template_keys, model.__name__


def test_models_expire_items_by_the_ttl_attribute():
    ttl_attribute = _template_table()["TimeToLiveSpecification"]["AttributeName"]
    assert ttl_attribute in TicketItem.get_attributes()
    # DynamoDB only expires a Number holding epoch seconds.
    assert TicketItem.get_attributes()[ttl_attribute].attr_type == "N"


def test_table_definition_is_what_create_table_gets():
    definition = table_definition("x")
    template = _template_table()
    assert definition["TableName"] == "x"
    assert definition["KeySchema"] == template["KeySchema"]
    assert definition["GlobalSecondaryIndexes"] == template["GlobalSecondaryIndexes"]
    assert definition["StreamSpecification"]["StreamEnabled"] is True


# --- the workflow runs against resources made from the template --------------------------------


def _put(created: dict[str, Any], item: dict[str, str]) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=created["table_name"], Item={k: {"S": v} for k, v in item.items()}
    )


def _run(created: dict[str, Any], name: str, window_seconds: int) -> str:
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    execution = stepfunctions.start_execution(
        stateMachineArn=created["survey_state_machine_arn"],
        name=name,
        input=json.dumps(
            {
                "ticket_id": "T-1",
                "survey_id": name,
                "delay_seconds": 0,
                "window_seconds": window_seconds,
            }
        ),
    )["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = stepfunctions.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            return str(status)
        time.sleep(0.1)
    raise AssertionError(f"{name} still running")


def _survey_state(created: dict[str, Any], survey_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=created["table_name"],
        Key={"pk": {"S": f"SURVEY#{survey_id}"}, "sk": {"S": "SURVEY"}},
    )["Item"]
    return item


def test_unanswered_survey_is_reminded_then_expired(created: dict[str, Any]):
    _put(created, {"pk": "TICKET#T-1", "sk": "#TICKET", "status": "resolved"})
    _put(created, {"pk": "SURVEY#S-1", "sk": "SURVEY", "survey_state": "pending"})
    assert _run(created, "S-1", window_seconds=1) == "SUCCEEDED"
    item = _survey_state(created, "S-1")
    assert item["survey_state"] == {"S": "expired"}
    assert "task_token" not in item


def test_survey_of_a_reopened_ticket_is_skipped(created: dict[str, Any]):
    _put(created, {"pk": "TICKET#T-1", "sk": "#TICKET", "status": "in_progress"})
    _put(created, {"pk": "SURVEY#S-2", "sk": "SURVEY", "survey_state": "pending"})
    assert _run(created, "S-2", window_seconds=1) == "SUCCEEDED"
    assert _survey_state(created, "S-2")["survey_state"] == {"S": "pending"}
