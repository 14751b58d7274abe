"""Local AWS resources (moto), created from the one declaration in infra/template.json.

Nothing here restates a key schema, an index or a workflow: every value is read
from the CloudFormation template and the ASL file it points at, so the local
stack and the tests cannot drift from what is deployed. A template property with
no local translation is an error, not a silent omission.

Works against a moto server (``endpoint_url``) and inside ``moto.mock_aws``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = PROJECT_DIR / "infra" / "template.json"
DEFAULT_TABLE_NAME = "servicedesk"
DEFAULT_REGION = "ap-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account

TABLE = "Table"
OPS_ALERTS = "OpsAlerts"
STREAM_FAILURES = "StreamFailures"
SURVEY_STATE_MACHINE = "SurveyStateMachine"
DESK_KEY = "DeskKey"
CURSOR_SECRET = "CursorSigningKey"

# Resource types create_resources() makes in moto ...
LOCAL_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::KMS::Key",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
)
# ... and the ones it leaves to AWS: what moto cannot host or the local stack does not need
# (edge protection, API Gateway settings, IAM, monitoring; logs go to stdout locally).
AWS_ONLY_TYPES = (
    "AWS::KMS::Alias",
    "AWS::SNS::TopicPolicy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::Logs::QueryDefinition",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlanKey",
)

STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# CloudFormation table properties that map 1:1 onto CreateTable arguments.
_TABLE_PASS_THROUGH = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "DeletionProtectionEnabled",
)
# Renamed or reshaped on the way (see _stream_arguments, _sse_arguments).
_TABLE_TRANSLATED = ("StreamSpecification", "SSESpecification")
# Applied after CreateTable (see _configure_table), or meaningless locally.
_TABLE_AFTER_CREATE = ("TimeToLiveSpecification", "PointInTimeRecoverySpecification")
_TABLE_IGNORED = ("TableName", "Tags")


class TemplateTranslationError(ValueError):
    """The template says something the local stack cannot reproduce."""


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        template: dict[str, Any] = json.load(handle)
    return template


def resource(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][logical_id]
    return found


def parameter_default(template: Mapping[str, Any], name: str) -> str:
    return str(template["Parameters"][name]["Default"])


# --- DynamoDB -------------------------------------------------------------------------------


def table_definition(
    table_name: str = DEFAULT_TABLE_NAME,
    template: Mapping[str, Any] | None = None,
    physical: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """CreateTable keyword arguments equivalent to the template's ``Table``; ``physical``
    maps the stack's resources already made (its KMS key) to their local ids."""
    template = template or load_template()
    properties: dict[str, Any] = resource(template, TABLE)["Properties"]
    known = (*_TABLE_PASS_THROUGH, *_TABLE_TRANSLATED, *_TABLE_AFTER_CREATE, *_TABLE_IGNORED)
    _reject_unknown(TABLE, properties, known)
    definition: dict[str, Any] = {"TableName": table_name}
    definition.update({key: properties[key] for key in _TABLE_PASS_THROUGH if key in properties})
    definition.update(_stream_arguments(properties))
    definition.update(_sse_arguments(properties, template, physical))
    return definition


def ttl_attribute(template: Mapping[str, Any] | None = None) -> str | None:
    """The attribute DynamoDB expires items by, if the template enables TTL."""
    properties = resource(template or load_template(), TABLE)["Properties"]
    spec = properties.get("TimeToLiveSpecification") or {}
    return str(spec["AttributeName"]) if spec.get("Enabled") else None


def _stream_arguments(properties: Mapping[str, Any]) -> dict[str, Any]:
    spec = properties.get("StreamSpecification")
    if not spec:
        return {}
    return {"StreamSpecification": {"StreamEnabled": True, **spec}}


def _sse_arguments(
    properties: Mapping[str, Any],
    template: Mapping[str, Any] | None = None,
    physical: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    spec = properties.get("SSESpecification")
    if not spec:
        return {}
    translated: dict[str, Any] = {"Enabled": bool(spec.get("SSEEnabled"))}
    if "SSEType" in spec:
        translated["SSEType"] = spec["SSEType"]
    key = spec.get("KMSMasterKeyId")
    if isinstance(key, str):
        translated["KMSMasterKeyId"] = key
    elif key is not None and physical:  # the stack's own key, made in moto first
        translated["KMSMasterKeyId"] = _resolve(key, template or {}, physical)
    return {"SSESpecification": translated}


def _create_table(dynamodb: Any, definition: dict[str, Any]) -> None:
    try:
        dynamodb.create_table(**definition)
    except dynamodb.exceptions.ResourceInUseException:
        return  # already there: a moto server that outlived a previous run


def _configure_table(dynamodb: Any, table_name: str, template: Mapping[str, Any]) -> None:
    attribute = ttl_attribute(template)
    if attribute:
        current = dynamodb.describe_time_to_live(TableName=table_name)
        if current["TimeToLiveDescription"].get("TimeToLiveStatus") != "ENABLED":
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )
    pitr = resource(template, TABLE)["Properties"].get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


# --- SNS, SQS ---------------------------------------------------------------------------------


def _topic_arguments(
    logical_id: str, template: Mapping[str, Any], physical: Mapping[str, str] | None = None
) -> dict[str, Any]:
    properties = resource(template, logical_id)["Properties"]
    _reject_unknown(logical_id, properties, ("TopicName", "KmsMasterKeyId"))
    name = _resolve(properties.get("TopicName", logical_id), template, {})
    attributes = {}
    if "KmsMasterKeyId" in properties:
        attributes["KmsMasterKeyId"] = str(
            _resolve(properties["KmsMasterKeyId"], template, physical or {})
        )
    return {"Name": name, "Attributes": attributes}


def _queue_arguments(
    logical_id: str, template: Mapping[str, Any], table_name: str
) -> dict[str, Any]:
    properties = resource(template, logical_id)["Properties"]
    known = ("QueueName", "SqsManagedSseEnabled", "MessageRetentionPeriod", "VisibilityTimeout")
    _reject_unknown(logical_id, properties, known)
    name = properties.get("QueueName") or f"{table_name}-{_kebab(logical_id)}"
    attributes = {key: _attribute_text(properties[key]) for key in known[1:] if key in properties}
    return {"QueueName": name, "Attributes": attributes}


def _attribute_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


# --- KMS, Secrets Manager ----------------------------------------------------------------------


def _create_key(kms: Any, logical_id: str, template: Mapping[str, Any], alias: str) -> str:
    """The stack's customer-managed key, once per moto server (found again by its alias)."""
    properties = resource(template, logical_id)["Properties"]
    known = ("Description", "EnableKeyRotation", "KeyPolicy")
    _reject_unknown(logical_id, properties, known)
    try:
        return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    except kms.exceptions.NotFoundException:
        pass
    created = kms.create_key(Description=str(properties.get("Description", logical_id)))
    metadata = created["KeyMetadata"]
    if properties.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    return str(metadata["Arn"])


def _create_secret(
    secretsmanager: Any,
    logical_id: str,
    template: Mapping[str, Any],
    physical: Mapping[str, str],
    name: str,
) -> str:
    """A generated secret: locally a random 32-byte key in hex, encrypted with the desk's key."""
    properties = resource(template, logical_id)["Properties"]
    known = ("Name", "Description", "KmsKeyId", "GenerateSecretString")
    _reject_unknown(logical_id, properties, known)
    arguments: dict[str, Any] = {"Name": name, "SecretString": secrets.token_hex(32)}
    if "KmsKeyId" in properties:
        arguments["KmsKeyId"] = str(_resolve(properties["KmsKeyId"], template, physical))
    try:
        return str(secretsmanager.create_secret(**arguments)["ARN"])
    except secretsmanager.exceptions.ResourceExistsException:
        return str(secretsmanager.describe_secret(SecretId=name)["ARN"])


# --- Step Functions ---------------------------------------------------------------------------


def state_machine_definition_path(
    logical_id: str = SURVEY_STATE_MACHINE, template_path: Path = TEMPLATE_PATH
) -> Path:
    """The ASL file a state machine's ``DefinitionUri`` names, relative to the template."""
    properties = resource(load_template(template_path), logical_id)["Properties"]
    return template_path.parent / str(properties["DefinitionUri"])


def substitute(definition_text: str, substitutions: Mapping[str, str]) -> str:
    """Apply DefinitionSubstitutions the way Step Functions does; a gap is an error."""
    missing = sorted(set(SUBSTITUTION.findall(definition_text)) - set(substitutions))
    if missing:
        raise TemplateTranslationError(f"ASL placeholders without a substitution: {missing}")
    return SUBSTITUTION.sub(lambda match: substitutions[match.group(1)], definition_text)


def state_machine_definition(
    table_name: str = DEFAULT_TABLE_NAME,
    logical_id: str = SURVEY_STATE_MACHINE,
    template_path: Path = TEMPLATE_PATH,
) -> str:
    """The ASL as Step Functions will run it: file contents with substitutions applied."""
    template = load_template(template_path)
    properties = resource(template, logical_id)["Properties"]
    physical = {TABLE: table_name}
    substitutions = {
        name: str(_resolve(value, template, physical))
        for name, value in properties.get("DefinitionSubstitutions", {}).items()
    }
    path = template_path.parent / str(properties["DefinitionUri"])
    return substitute(path.read_text(encoding="utf-8"), substitutions)


def _create_state_machine(stepfunctions: Any, name: str, definition: str) -> str:
    role_arn = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{name}"
    existing = {
        machine["name"]: machine["stateMachineArn"]
        for page in stepfunctions.get_paginator("list_state_machines").paginate()
        for machine in page["stateMachines"]
    }
    if name in existing:
        stepfunctions.update_state_machine(
            stateMachineArn=existing[name], definition=definition, roleArn=role_arn
        )
        return str(existing[name])
    created = stepfunctions.create_state_machine(
        name=name,
        definition=definition,
        roleArn=role_arn,
        type="STANDARD",
        tracingConfiguration={"enabled": True},
    )
    return str(created["stateMachineArn"])


# --- intrinsics -------------------------------------------------------------------------------


def _resolve(value: Any, template: Mapping[str, Any], physical: Mapping[str, str]) -> Any:
    """Resolve the few intrinsics the local translation meets: Ref to a parameter or a
    resource already created. Anything else cannot be reproduced locally."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        target = value["Ref"]
        if target in physical:
            return physical[target]
        if target in template.get("Parameters", {}):
            return parameter_default(template, target)
    raise TemplateTranslationError(f"cannot resolve {value!r} locally")


def _reject_unknown(logical_id: str, properties: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(properties) - set(known))
    if unknown:
        raise TemplateTranslationError(
            f"{logical_id}: no local translation for {unknown}; teach local/resources.py"
        )


# --- entry point ------------------------------------------------------------------------------


def create_resources(
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    *,
    stage: str = "local",
    table_name: str = DEFAULT_TABLE_NAME,
    session: boto3.Session | None = None,
    template_path: Path = TEMPLATE_PATH,
) -> dict[str, str]:
    """Create the template's key, secret, table, topic, queue and state machine (the
    ``LOCAL_TYPES``); return their ids.

    ``endpoint_url`` points at a moto server; leave it None inside ``moto.mock_aws``.
    Calling it again against the same moto server leaves what exists in place.
    """
    session = session or boto3.Session(region_name=region)
    template = load_template(template_path)

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    key_arn = _create_key(client("kms"), DESK_KEY, template, f"alias/{table_name}")
    physical = {DESK_KEY: key_arn}
    cursor_secret_arn = _create_secret(
        client("secretsmanager"),
        CURSOR_SECRET,
        template,
        physical,
        f"{table_name}-{_kebab(CURSOR_SECRET)}",
    )
    dynamodb = client("dynamodb")
    _create_table(dynamodb, table_definition(table_name, template, physical))
    _configure_table(dynamodb, table_name, template)
    stream_arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]

    topic_arn = client("sns").create_topic(
        **_topic_arguments(OPS_ALERTS, template, physical),
        Tags=[{"Key": "servicedesk:stage", "Value": stage}],
    )["TopicArn"]
    queue_url = client("sqs").create_queue(
        **_queue_arguments(STREAM_FAILURES, template, table_name),
        tags={"servicedesk:stage": stage},
    )["QueueUrl"]
    # SES lives in its own region (it is not offered in ap-east-1); the identity is
    # verified there by hand before going live, and here in moto.
    sender = parameter_default(template, "EmailSender")
    ses_region = parameter_default(template, "SesRegion")
    session.client("ses", region_name=ses_region, endpoint_url=endpoint_url).verify_email_identity(
        EmailAddress=sender
    )
    machine_arn = _create_state_machine(
        client("stepfunctions"),
        f"{table_name}-survey",
        state_machine_definition(table_name, SURVEY_STATE_MACHINE, template_path),
    )
    return {
        "table_name": table_name,
        "stream_arn": str(stream_arn),
        "ops_alerts_topic_arn": str(topic_arn),
        "survey_state_machine_arn": machine_arn,
        "stream_failures_queue_url": str(queue_url),
        "email_sender": sender,
        "ses_region": ses_region,
        "desk_key_arn": key_arn,
        "cursor_secret_arn": cursor_secret_arn,
    }
