"""Who may read customer files, forge inbound texts or rewrite the audit log (security
review M2, M3, L2), read from infra/template.json.

AWS enforces these policies, moto does not: each test reads the statements themselves,
and what moto can show (the buckets' default encryption) is checked on resources made
from the template.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.resources import load_template

REGION = "ap-east-1"
CUSTOMER_FILE_BUCKETS = ("Documents", "InboundMailBucket")
KEY = "CustomerFilesKey"
KEY_DATA_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncrypt*"}
ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
STACK_ROLES = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${AWS::StackName}/*"}
STACK_PATH = {"Fn::Sub": "/${AWS::StackName}/"}
GUARDDUTY_ROLE = "DocumentMalwareProtectionRole"
OPERATOR = "CustomerFilesOperatorRoleArn"
OPERATOR_SET = "HasCustomerFilesOperator"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"]
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _roles(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each function role infra/ gives policies (Chalice makes the role itself)."""
    for logical_id, resource in resources.items():
        if logical_id.endswith("Role") and "ManagedPolicyArns" in resource.get("Properties", {}):
            yield logical_id, resource["Properties"]


def _role_statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    properties = resources[role]["Properties"]
    statements = [
        statement
        for arn in properties.get("ManagedPolicyArns", [])
        for statement in resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    ]
    for inline in properties.get("Policies", []):
        statements += inline["PolicyDocument"]["Statement"]
    return statements


def _object_writers_and_readers(resources: dict[str, Any], bucket: str) -> set[str]:
    """The roles granted s3:GetObject or s3:PutObject on the bucket's objects."""
    return {
        role
        for role in resources
        if role.endswith("Role")
        for statement in _role_statements(resources, role)
        if statement["Effect"] == "Allow"
        and f"{bucket}.Arn" in str(statement["Resource"])
        and {"s3:GetObject", "s3:PutObject"} & set(_listed(statement["Action"]))
    }


# --- M2: customer files ---------------------------------------------------------------------


def test_customer_file_buckets_are_encrypted_with_the_customer_files_key(
    resources: dict[str, Any],
):
    for bucket in CUSTOMER_FILE_BUCKETS:
        [rule] = resources[bucket]["Properties"]["BucketEncryption"][
            "ServerSideEncryptionConfiguration"
        ]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": [KEY, "Arn"]},
        }, bucket
        assert rule["BucketKeyEnabled"] is True, bucket
    key = resources[KEY]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


def test_the_account_administers_the_key_but_only_the_desk_ses_and_guardduty_use_it(
    resources: dict[str, Any],
):
    statements = resources[KEY]["Properties"]["KeyPolicy"]["Statement"]
    [operator] = [s["Fn::If"] for s in statements if "Fn::If" in s]
    statements = [s for s in statements if "Fn::If" not in s]
    assert all(statement["Effect"] == "Allow" for statement in statements)
    # Break-glass: one named role, only while the parameter is set, only through S3.
    assert operator[0] == OPERATOR_SET and operator[2] == {"Ref": "AWS::NoValue"}
    assert operator[1]["Condition"]["ArnEquals"] == {"aws:PrincipalArn": {"Ref": OPERATOR}}
    assert set(operator[1]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert "kms:ViaService" in operator[1]["Condition"]["StringEquals"]
    users = [s for s in statements if KEY_DATA_ACTIONS & set(_listed(s["Action"]))]
    for statement in statements:
        actions = set(_listed(statement["Action"]))
        assert "kms:*" not in actions and "*" not in actions, statement["Sid"]
    # Administration (so nobody is locked out) gives no data-key use: an IAM policy with
    # kms:Decrypt on "*" (ReadOnlyAccess has none; broad ones do) reads nothing.
    [admin] = [s for s in statements if s not in users]
    assert admin["Principal"] == {"AWS": ROOT}
    assert "kms:PutKeyPolicy" in admin["Action"] or "kms:Put*" in admin["Action"]
    # ... and no grant either: a grant is a quieter way to the same data use.
    assert not {"kms:Create*", "kms:CreateGrant"} & set(admin["Action"])
    by_sid = {s["Sid"]: s for s in users}
    assert set(by_sid) == {"DeskRolesThroughS3", "SesStoresReceivedMail"}
    desk = by_sid["DeskRolesThroughS3"]
    assert desk["Condition"]["ArnLike"] == {"aws:PrincipalArn": STACK_ROLES}
    assert desk["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "s3.${AWS::Region}.amazonaws.com"
    }
    ses = by_sid["SesStoresReceivedMail"]
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    assert ses["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert (
        "receipt-rule-set/servicedesk-inbound:"
        in ses["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    )


def test_every_role_that_reads_or_writes_customer_files_may_use_the_key(
    resources: dict[str, Any],
):
    """The key policy admits roles under the stack's path; each role that reads or writes
    a customer file is there, and its own grant on the key goes through S3 only."""
    users = set().union(*(_object_writers_and_readers(resources, b) for b in CUSTOMER_FILE_BUCKETS))
    assert {
        "ApiHandlerRole",
        "OnInboundMailRole",
        "OnDocumentUploadedRole",
        "OnTableChangeRole",
        GUARDDUTY_ROLE,
    } == users
    for role in users:
        assert resources[role]["Properties"]["Path"] == STACK_PATH, role
        key_grants = [
            s
            for s in _role_statements(resources, role)
            if s["Effect"] == "Allow"
            and any(a.startswith("kms:") for a in _listed(s["Action"]))
            and s["Resource"] == {"Fn::GetAtt": [KEY, "Arn"]}
        ]
        assert key_grants, role
        for statement in key_grants:
            assert set(_listed(statement["Action"])) <= {"kms:Decrypt", "kms:GenerateDataKey"}
            assert statement["Condition"] == {
                "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
            }, role


@pytest.mark.parametrize(
    ("bucket", "policy", "service"),
    [
        ("Documents", "DocumentsPolicy", None),
        ("InboundMailBucket", "InboundMailBucketPolicy", "ses"),
    ],
)
def test_the_bucket_refuses_reads_and_writes_by_anyone_but_the_desk(
    resources: dict[str, Any], bucket: str, policy: str, service: str | None
):
    """A Deny names exactly the roles granted reads or writes (and GuardDuty's scan role on
    the document bucket); the account root stays out of it for break-glass, and
    administrators keep the bucket policy itself (s3:PutBucketPolicy is not denied), and the
    operator role named by a stack parameter passes while it is set."""
    statements = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
    [guard] = [
        s
        for s in statements
        if s["Effect"] == "Deny" and "aws:PrincipalArn" in str(s.get("Condition", {}))
    ]
    assert guard["Principal"] == "*"
    assert set(_listed(guard["Action"])) == {"s3:GetObject", "s3:PutObject"}
    assert guard["Resource"] == {"Fn::Sub": f"${{{bucket}.Arn}}/*"}
    exempt = guard["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert ROOT in exempt
    # The break-glass role, only while its parameter is set.
    assert {"Fn::If": [OPERATOR_SET, {"Ref": OPERATOR}, {"Ref": "AWS::NoValue"}]} in exempt
    roles = {entry["Fn::GetAtt"][0] for entry in exempt if "Fn::GetAtt" in entry}
    assert roles == _object_writers_and_readers(resources, bucket)
    if service:
        # SES stores received mail as a service principal (it has no principal ARN).
        assert guard["Condition"]["StringNotEquals"] == {
            "aws:PrincipalServiceName": "ses.amazonaws.com"
        }
    else:
        assert set(guard["Condition"]) == {"ArnNotEquals"}


def test_guardduty_scans_and_tags_encrypted_documents(resources: dict[str, Any]):
    statements = _role_statements(resources, GUARDDUTY_ROLE)
    actions = {a for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])}
    assert {"s3:GetObject", "s3:PutObjectTagging", "kms:Decrypt", "kms:GenerateDataKey"} <= actions


def test_objects_land_encrypted_with_the_customer_files_key(aws: dict[str, Any]):
    """The conftest's stack, made from the template."""
    s3 = boto3.client("s3", region_name=REGION)
    physical = aws["physical"]
    assert physical[KEY] != aws["desk_key_arn"]
    for bucket in CUSTOMER_FILE_BUCKETS:
        s3.put_object(Bucket=physical[bucket], Key="inbound/x", Body=b"x")
        head = s3.head_object(Bucket=physical[bucket], Key="inbound/x")
        assert head["ServerSideEncryption"] == "aws:kms", bucket
        assert head["SSEKMSKeyId"].endswith(physical[KEY].rsplit("/", 1)[1]), bucket


# --- M3: no forged inbound SMS --------------------------------------------------------------


def test_a_role_that_may_text_phone_numbers_may_not_publish_to_topics(resources: dict[str, Any]):
    """sns:Publish on "*" (a phone number has no ARN) would reach every topic, inbound-sms
    included: the same policy denies every topic but the one tagged for the functions."""
    tag = "aws:ResourceTag/servicedesk:publish"
    senders = 0
    for role, properties in _roles(resources):
        for arn in properties["ManagedPolicyArns"]:
            statements = resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
            star = [
                s
                for s in statements
                if s["Effect"] == "Allow"
                and "sns:Publish" in _listed(s["Action"])
                and s["Resource"] == "*"
            ]
            if not star:
                continue
            senders += 1
            [deny] = [
                s
                for s in statements
                if s["Effect"] == "Deny" and "sns:Publish" in _listed(s["Action"])
            ]
            assert deny["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}, role
            assert deny["Condition"] == {"StringNotEquals": {tag: "desk-functions"}}, role
    assert senders == 2  # OnTableChange, SendDeferredNotifications
    tagged = {
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::SNS::Topic"
        and {"Key": "servicedesk:publish", "Value": "desk-functions"}
        in resource["Properties"].get("Tags", [])
    }
    assert tagged == {"OpsAlerts"}  # never InboundSmsTopic


def test_only_the_sms_service_publishes_inbound_texts(resources: dict[str, Any]):
    statements = resources["InboundSmsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "sms-voice.amazonaws.com"}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    [deny] = [s for s in statements if s["Effect"] == "Deny" and "Bool" not in s["Condition"]]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "sns:Publish"
    assert deny["Resource"] == {"Ref": "InboundSmsTopic"}
    assert deny["Condition"] == {
        "StringNotEquals": {"aws:PrincipalServiceName": "sms-voice.amazonaws.com"}
    }


# --- L2: the audit log is append-only -------------------------------------------------------


def test_no_role_may_update_or_delete_an_audit_entry(resources: dict[str, Any]):
    """Audit entries expire by TTL (DynamoDB's deletion, no role's); nothing in the code
    updates or deletes one (adapters/records.py only puts them)."""
    table_users = 0
    for role, _ in _roles(resources):
        statements = _role_statements(resources, role)
        if not any("dynamodb:UpdateItem" in _listed(s["Action"]) for s in statements):
            continue
        table_users += 1
        guards = [
            s
            for s in statements
            if s["Effect"] == "Deny"
            and {"dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(_listed(s["Action"]))
        ]
        assert guards, role
        for guard in guards:
            assert guard["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}, role
            assert guard["Condition"] == {
                "ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["AUDIT#*"]}
            }, role
    assert table_users >= 8
