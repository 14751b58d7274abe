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
    "AWS::SNS::Subscription",
    "AWS::S3::Bucket",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
)
# ... and the ones it leaves to AWS: what moto cannot host or the local stack does not need
# (edge protection, API Gateway settings, IAM, monitoring; logs go to stdout locally).
AWS_ONLY_TYPES = (
    "AWS::KMS::Alias",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
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
    "AWS::GuardDuty::MalwareProtectionPlan",  # local mode: the EICAR stand-in scanner
    "AWS::SES::ReceiptRuleSet",
    "AWS::SES::ReceiptRule",
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
    _reject_unknown(logical_id, properties, ("TopicName", "KmsMasterKeyId", "Tags"))
    name = _resolve(properties.get("TopicName", logical_id), template, {})
    attributes = {}
    if "KmsMasterKeyId" in properties:
        attributes["KmsMasterKeyId"] = str(
            _resolve(properties["KmsMasterKeyId"], template, physical or {})
        )
    tags = [
        {"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in properties.get("Tags", [])
    ]
    return {"Name": name, "Attributes": attributes, "Tags": tags}


def _attribute_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


# --- every queue, topic, subscription, bucket, bus and rule -----------------------------------
#
# Declared resources of these types are made generically, in dependency order, and their
# physical ids returned under resources["physical"][<LogicalId>] (queue URL, topic ARN,
# bucket name, bus name, rule name) and ["<LogicalId>.Arn"] for Fn::GetAtt.

_QUEUE_ATTRIBUTES = (
    "SqsManagedSseEnabled",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "ReceiveMessageWaitTimeSeconds",
    "DelaySeconds",
    "MaximumMessageSize",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
)


def _of_type(template: Mapping[str, Any], kind: str) -> list[str]:
    return sorted(
        logical_id
        for logical_id, declared in template["Resources"].items()
        if declared.get("Type") == kind
    )


def _properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resource(template, logical_id).get("Properties", {})
    return found


def _create_queues(
    sqs: Any, template: Mapping[str, Any], physical: dict[str, str], table_name: str, stage: str
) -> None:
    # Dead-letter queues first: a RedrivePolicy names its DLQ's ARN.
    queues = _of_type(template, "AWS::SQS::Queue")
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in _properties(template, q))
    for logical_id in ordered:
        properties = _properties(template, logical_id)
        _reject_unknown(logical_id, properties, ("QueueName", "RedrivePolicy", *_QUEUE_ATTRIBUTES))
        name = _resolve(
            properties.get("QueueName") or f"{table_name}-{_kebab(logical_id)}", template, physical
        )
        attributes = {
            key: _attribute_text(_resolve(properties[key], template, physical))
            for key in _QUEUE_ATTRIBUTES
            if key in properties
        }
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(
                _resolve_deep(properties["RedrivePolicy"], template, physical)
            )
        url = sqs.create_queue(
            QueueName=name, Attributes=attributes, tags={"servicedesk:stage": stage}
        )["QueueUrl"]
        physical[logical_id] = str(url)
        physical[f"{logical_id}.Arn"] = str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )
        physical[f"{logical_id}.QueueName"] = str(name)


def _create_topics(
    sns: Any, template: Mapping[str, Any], physical: dict[str, str], stage: str
) -> None:
    for logical_id in _of_type(template, "AWS::SNS::Topic"):
        arguments = _topic_arguments(logical_id, template, physical)
        arguments["Tags"] = [*arguments["Tags"], {"Key": "servicedesk:stage", "Value": stage}]
        arn = sns.create_topic(**arguments)["TopicArn"]
        physical[logical_id] = physical[f"{logical_id}.TopicArn"] = str(arn)
        physical[f"{logical_id}.TopicName"] = str(arn).rsplit(":", 1)[-1]


def _create_subscriptions(sns: Any, template: Mapping[str, Any], physical: dict[str, str]) -> None:
    for logical_id in _of_type(template, "AWS::SNS::Subscription"):
        properties = _resolve_deep(_properties(template, logical_id), template, physical)
        known = (
            "TopicArn",
            "Protocol",
            "Endpoint",
            "RawMessageDelivery",
            "FilterPolicy",
            "FilterPolicyScope",
            "RedrivePolicy",
        )
        _reject_unknown(logical_id, properties, known)
        attributes = {
            key: (
                json.dumps(properties[key])
                if isinstance(properties[key], dict)
                else _attribute_text(properties[key])
            )
            for key in known[3:]
            if key in properties
        }
        arn = sns.subscribe(
            TopicArn=properties["TopicArn"],
            Protocol=properties["Protocol"],
            Endpoint=properties["Endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        physical[logical_id] = str(arn)


def _bucket_lifecycle(rules: list[dict[str, Any]]) -> dict[str, Any]:
    translated = []
    for rule in rules:
        _reject_unknown(
            "LifecycleConfiguration",
            rule,
            (
                "Id",
                "Status",
                "Prefix",
                "ExpirationInDays",
                "AbortIncompleteMultipartUpload",
                "TagFilters",
                "NoncurrentVersionExpiration",
                "ExpiredObjectDeleteMarker",
            ),
        )
        api: dict[str, Any] = {"Status": rule["Status"]}
        if "Id" in rule:
            api["ID"] = rule["Id"]
        tags = [{"Key": tag["Key"], "Value": tag["Value"]} for tag in rule.get("TagFilters", [])]
        prefix = rule.get("Prefix", "")
        if tags and (prefix or len(tags) > 1):
            api["Filter"] = {"And": {"Prefix": prefix, "Tags": tags}}
        elif tags:
            api["Filter"] = {"Tag": tags[0]}
        else:
            api["Filter"] = {"Prefix": prefix}
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "ExpiredObjectDeleteMarker" in rule:
            api["Expiration"] = {
                "ExpiredObjectDeleteMarker": bool(rule["ExpiredObjectDeleteMarker"])
            }
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
        translated.append(api)
    return {"Rules": translated}


def _bucket_cors(rules: list[dict[str, Any]]) -> dict[str, Any]:
    renamed = {"Id": "ID", "MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
    return {
        "CORSRules": [
            {renamed.get(key, key): value for key, value in rule.items()} for rule in rules
        ]
    }


def _bucket_notifications(configuration: dict[str, Any]) -> dict[str, Any]:
    _reject_unknown(
        "NotificationConfiguration",
        configuration,
        ("QueueConfigurations", "EventBridgeConfiguration"),
    )
    queues = []
    for entry in configuration.get("QueueConfigurations", []):
        api: dict[str, Any] = {"QueueArn": entry["Queue"], "Events": [entry["Event"]]}
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules")
        if rules:
            api["Filter"] = {"Key": {"FilterRules": rules}}
        queues.append(api)
    api_configuration: dict[str, Any] = {"QueueConfigurations": queues}
    if configuration.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        api_configuration["EventBridgeConfiguration"] = {}
    return api_configuration


def _create_buckets(
    s3: Any, template: Mapping[str, Any], physical: dict[str, str], table_name: str, stage: str
) -> None:
    known = (
        "BucketName",
        "PublicAccessBlockConfiguration",
        "BucketEncryption",
        "LifecycleConfiguration",
        "CorsConfiguration",
        "NotificationConfiguration",
        "VersioningConfiguration",
        "OwnershipControls",
        "Tags",
    )
    for logical_id in _of_type(template, "AWS::S3::Bucket"):
        properties = _resolve_deep(_properties(template, logical_id), template, physical)
        _reject_unknown(logical_id, properties, known)
        name = str(properties.get("BucketName") or f"{table_name}-{_kebab(logical_id)}").lower()
        try:
            region = s3.meta.region_name
            location = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=name, **location)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass
        physical[logical_id] = name
        physical[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
        tags = [*properties.get("Tags", []), {"Key": "servicedesk:stage", "Value": stage}]
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"],
            )
        if "BucketEncryption" in properties:
            rules = [
                {
                    (
                        "ApplyServerSideEncryptionByDefault"
                        if key == "ServerSideEncryptionByDefault"
                        else key
                    ): value
                    for key, value in rule.items()
                }
                for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(
                Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}
            )
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"]
            )
        if "LifecycleConfiguration" in properties:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration=_bucket_lifecycle(
                    properties["LifecycleConfiguration"]["Rules"]
                ),
            )
        if "CorsConfiguration" in properties:
            s3.put_bucket_cors(
                Bucket=name,
                CORSConfiguration=_bucket_cors(properties["CorsConfiguration"]["CorsRules"]),
            )
        if "NotificationConfiguration" in properties:
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration=_bucket_notifications(
                    properties["NotificationConfiguration"]
                ),
            )


def _create_buses_and_rules(
    events: Any, template: Mapping[str, Any], physical: dict[str, str]
) -> None:
    for logical_id in _of_type(template, "AWS::Events::EventBus"):
        properties = _properties(template, logical_id)
        _reject_unknown(
            logical_id,
            properties,
            ("Name", "Description", "KmsKeyIdentifier", "DeadLetterConfig", "Tags"),
        )
        name = str(_resolve(properties["Name"], template, physical))
        try:
            arn = events.create_event_bus(Name=name)["EventBusArn"]
        except events.exceptions.ResourceAlreadyExistsException:
            arn = events.describe_event_bus(Name=name)["Arn"]
        physical[logical_id] = physical[f"{logical_id}.Name"] = name
        physical[f"{logical_id}.Arn"] = str(arn)
    for logical_id in _of_type(template, "AWS::Events::Rule"):
        _create_rule(events, logical_id, template, physical)


def _create_rule(
    events: Any, logical_id: str, template: Mapping[str, Any], physical: dict[str, str]
) -> None:
    raw = _properties(template, logical_id)
    _reject_unknown(
        logical_id,
        raw,
        (
            "Name",
            "Description",
            "EventBusName",
            "EventPattern",
            "State",
            "Targets",
            "ScheduleExpression",
        ),
    )
    if "ScheduleExpression" in raw:
        return  # schedules are Chalice's; the local runner calls them itself
    properties = {
        key: _resolve_deep(value, template, physical)
        for key, value in raw.items()
        if key != "Targets"
    }
    name = str(properties.get("Name") or logical_id)
    bus = str(properties.get("EventBusName") or "default")
    events.put_rule(
        Name=name,
        EventBusName=bus,
        EventPattern=json.dumps(properties["EventPattern"]),
        State=str(properties.get("State", "ENABLED")),
    )
    physical[logical_id] = name
    targets = []
    for target in raw.get("Targets", []):
        # Only queue targets exist locally; Chalice's functions are fed by the runner.
        try:
            arn = str(_resolve_deep(target["Arn"], template, physical))
        except TemplateTranslationError:
            continue
        if arn.startswith("arn:aws:sqs:"):
            targets.append({"Id": str(target["Id"]), "Arn": arn})
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)


def create_messaging(
    client: Any,
    template: Mapping[str, Any],
    physical: dict[str, str],
    *,
    table_name: str = DEFAULT_TABLE_NAME,
    stage: str = "local",
) -> dict[str, str]:
    """Create every queue, topic, subscription, bucket (with its notifications), event bus
    and rule the template declares; ``client(service)`` makes a boto3 client. Adds their
    physical ids to ``physical`` and returns it."""
    _create_queues(client("sqs"), template, physical, table_name, stage)
    _create_topics(client("sns"), template, physical, stage)
    _create_subscriptions(client("sns"), template, physical)
    _create_buckets(client("s3"), template, physical, table_name, stage)
    _create_buses_and_rules(client("events"), template, physical)
    return physical


# --- KMS, Secrets Manager ----------------------------------------------------------------------


def _create_key(kms: Any, logical_id: str, template: Mapping[str, Any], alias: str) -> str:
    """One of the stack's customer-managed keys, once per moto server (found again by its
    alias). Its key policy is AWS's to enforce: moto does not."""
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
    resource already created, Fn::GetAtt of a created resource's Arn, Fn::Sub and Fn::Join
    over those. Anything else cannot be reproduced locally."""
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return _ref(argument, template, physical)
        if function == "Fn::GetAtt":
            name = ".".join(argument) if isinstance(argument, list) else str(argument)
            if name in physical:
                return physical[name]
        if function == "Fn::Sub" and isinstance(argument, str):
            return SUBSTITUTION.sub(
                lambda match: str(_sub_name(match.group(1), template, physical)), argument
            )
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(_resolve(part, template, physical)) for part in parts)
    raise TemplateTranslationError(f"cannot resolve {value!r} locally")


_PSEUDO = {
    "AWS::Region": DEFAULT_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def _ref(target: str, template: Mapping[str, Any], physical: Mapping[str, str]) -> Any:
    if target in physical:
        return physical[target]
    parameters = template.get("Parameters", {})
    if target in parameters:
        if parameters[target].get("Type") == "CommaDelimitedList":
            return [part.strip() for part in parameter_default(template, target).split(",")]
        return parameter_default(template, target)
    if target in _PSEUDO:
        return _PSEUDO[target]
    raise TemplateTranslationError(f"cannot resolve Ref {target!r} locally")


def _sub_name(name: str, template: Mapping[str, Any], physical: Mapping[str, str]) -> Any:
    if name in physical:
        return physical[name]
    return _ref(name, template, physical)


def _resolve_deep(value: Any, template: Mapping[str, Any], physical: Mapping[str, str]) -> Any:
    """Resolve intrinsics anywhere inside a property value."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return _resolve(value, template, physical)
        return {key: _resolve_deep(item, template, physical) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_deep(item, template, physical) for item in value]
    return value


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
) -> dict[str, Any]:
    """Create the template's ``LOCAL_TYPES`` (key, secrets, table, queues, topics and their
    subscriptions, buckets with their notifications, event buses and rules, state machine);
    return their ids, every one also under ``["physical"][<LogicalId>]``.

    ``endpoint_url`` points at a moto server; leave it None inside ``moto.mock_aws``.
    Calling it again against the same moto server leaves what exists in place.
    """
    session = session or boto3.Session(region_name=region)
    template = load_template(template_path)

    def client(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    physical: dict[str, str] = {}
    for logical_id in _of_type(template, "AWS::KMS::Key"):
        # The desk's key keeps the alias it always had; any other is named after its id.
        suffix = "" if logical_id == DESK_KEY else f"-{_kebab(logical_id)}"
        arn = _create_key(client("kms"), logical_id, template, f"alias/{table_name}{suffix}")
        physical[logical_id] = physical[f"{logical_id}.Arn"] = arn
    key_arn = physical[DESK_KEY]
    for logical_id in _of_type(template, "AWS::SecretsManager::Secret"):
        arn = _create_secret(
            client("secretsmanager"),
            logical_id,
            template,
            physical,
            f"{table_name}-{_kebab(logical_id)}",
        )
        physical[logical_id] = physical[f"{logical_id}.Id"] = arn
    dynamodb = client("dynamodb")
    _create_table(dynamodb, table_definition(table_name, template, physical))
    _configure_table(dynamodb, table_name, template)
    stream_arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    physical[TABLE] = table_name
    physical[f"{TABLE}.StreamArn"] = str(stream_arn)

    create_messaging(client, template, physical, table_name=table_name, stage=stage)
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
        "ops_alerts_topic_arn": physical[OPS_ALERTS],
        "survey_state_machine_arn": machine_arn,
        "stream_failures_queue_url": physical[STREAM_FAILURES],
        "email_sender": sender,
        "ses_region": ses_region,
        "desk_key_arn": key_arn,
        "cursor_secret_arn": physical[CURSOR_SECRET],
        "physical": physical,
    }
