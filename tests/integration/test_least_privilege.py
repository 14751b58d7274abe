"""Each Lambda function's role grants exactly the AWS actions its code calls (issue 14, item 4).

Nothing here restates what the code does:

- which functions exist comes from the Chalice app (routes, authorizer, event sources);
- which parts of the bootstrap ``Container`` a function uses comes from its handler's
  source (``bootstrap.container().survey_ports(workflow=False)`` counts without the
  workflow and the notifier, which that method leaves out when ``workflow`` is False);
- which adapter fills each part comes from ``bootstrap()``;
- which operations an adapter calls comes from its source (``self._sns.publish`` is
  ``sns:Publish``; PynamoDB's ``.query(`` is ``dynamodb:Query``).

Declared below: which adapter class talks to which service (``ADAPTER_PORTS``,
``PORT_ADAPTERS``) and what the platform itself needs (logs, traces, the stream's event
source mapping, a key behind an encrypted topic or secret). The roles are read from
infra/template.json, where each Chalice role gets its managed policies.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from chalice.utils import to_cfn_resource_name

from local.resources import PROJECT_DIR, load_template

CHALICELIB = PROJECT_DIR / "chalicelib"
BOOTSTRAP = CHALICELIB / "bootstrap.py"
API_FUNCTION = "APIHandler"

# The adapter classes bootstrap() builds that reach AWS beyond the table ("Dynamo*" classes
# reach the table through PynamoDB).
ADAPTER_PORTS = {
    "SnsOpsAlerter": "ops_alerts",
    "AwsNotifier": "customer_messages",
    "StepFunctionsSurveyWorkflow": "survey_workflow",
    "S3ObjectStore": "document_objects",
    "S3MailSource": "inbound_mail",
    "EventBridgeBus": "event_bus",
    "S3RawMailStore": "raw_mail",
}
# The adapter attributes that hold each port's boto3 clients: (file, attribute, IAM prefix).
PORT_ADAPTERS = {
    "ops_alerts": [("adapters/alerts.py", "_sns", "sns")],
    "customer_messages": [
        ("adapters/notifications.py", "_sns", "sns"),
        ("adapters/notifications.py", "_ses", "ses"),
    ],
    "survey_workflow": [("adapters/surveys.py", "_client", "states")],
    "document_objects": [("adapters/objects.py", "_s3", "s3")],
    "inbound_mail": [("adapters/mail_store.py", "_s3", "s3")],
    "event_bus": [("adapters/event_bus.py", "_events", "events")],
    "raw_mail": [("adapters/inbox.py", "_s3", "s3")],
}
# Which methods of the document bucket's port (ObjectStore) each function's use cases call.
# The port is shared, its grants are not (security review L2). Declared, not derived: the
# calls run through the stream's reaction table and bootstrap's closures, which the walk
# below does not follow; test_declared_object_calls_are_real_port_calls ties each name to
# a call in the code, and the actions each method needs come from S3ObjectStore's source.
DOCUMENT_OBJECT_CALLS = {
    API_FUNCTION: {"upload_form", "download_url", "delete"},  # links; erasure
    "OnDocumentUploaded": {"fetch", "delete"},  # check a landed file; one after erasure
    "OnInboundMail": {"put"},  # a reply's attachments become documents
    # an expired document item's file (retention); an inbox item's attachments become
    # documents when staff open or link it (reactions.make_inbox_documents)
    "OnTableChange": {"delete", "put"},
    "OnDocumentScanned": set(),  # GuardDuty's verdict: no file touched
}
# The customer files buckets are SSE-KMS (review M2): S3 decrypts a read and makes a data
# key for a write with the caller's rights on the key.
ENCRYPTED_OBJECT_ACTIONS = {"s3:GetObject": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}
ENCRYPTED_OBJECT_PORTS = {"document_objects", "inbound_mail", "raw_mail"}
# Presigning is no call to AWS: the link carries the signer's right to the action it names.
PRESIGNED = {"s3:GeneratePresignedPost": "s3:PutObject", "s3:GeneratePresignedUrl": "s3:GetObject"}
# PynamoDB calls and the DynamoDB actions IAM checks them as. A transaction has no action
# of its own: each of its items is checked as PutItem/UpdateItem/DeleteItem/ConditionCheckItem.
PYNAMODB_CALLS = {
    r"\b[A-Z]\w*\.get\(|\.refresh\(|TransactGet": "dynamodb:GetItem",
    r"\.query\(|\.count\(": "dynamodb:Query",
    r"\.scan\(": "dynamodb:Scan",
    r"\.save\(": "dynamodb:PutItem",
    r"\.update\(": "dynamodb:UpdateItem",
    r"\.delete\(": "dynamodb:DeleteItem",
    r"\.condition_check\(": "dynamodb:ConditionCheckItem",
    r"batch_write\(|batch_write_item\(": "dynamodb:BatchWriteItem",
    r"batch_get\(": "dynamodb:BatchGetItem",
}
# The cursor-signing secret, read at run time by the API (issue 14, item 3).
SECRET_ACTIONS = {"secretsmanager:GetSecretValue"}
# What Lambda needs for every function: its log group and X-Ray traces (Tracing: Active).
PLATFORM_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}
# What the event source mapping does with the function's role: read the stream, park failures.
STREAM_SOURCE_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "sqs:SendMessage",
}
# What an SQS event source mapping does with the function's role: read and delete messages.
QUEUE_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# A function fed by a bucket's notifications reads the object each event names, which may
# be gone by then (erasure, a replaced upload): S3 answers a missing key 404 only to a
# caller that may list the bucket, and 403 otherwise (the message was retried into its DLQ).
NOTIFIED_BUCKET_ACTIONS = {"s3:ListBucket"}
# Objects a function reads that the bucket's lifecycle may have deleted meanwhile: the API
# reads a stored email when staff open or link its inbox item (its attachments), and the
# stream's reaction to that write makes the documents from it.
READS_MAYBE_GONE = {
    API_FUNCTION: {"InboundMailBucket": "inbound/"},
    "OnTableChange": {"InboundMailBucket": "inbound/"},
}
# Using a topic or secret encrypted with the desk's own key.
ENCRYPTED_TOPIC_ACTIONS = {"kms:GenerateDataKey*", "kms:Decrypt"}
ENCRYPTED_SECRET_ACTIONS = {"kms:Decrypt"}
# Actions AWS only authorises on "*", and why.
STAR_ONLY = {
    "sns:Publish": "SMS to a phone number has no topic ARN",
    "sns:CheckIfPhoneNumberIsOptedOut": "no resource type",
    "states:SendTaskSuccess": "takes a task token, not an ARN",
    "xray:PutTraceSegments": "no resource type",
    "xray:PutTelemetryRecords": "no resource type",
    "dynamodb:ListStreams": "no resource type",
}


# --- what the code calls ----------------------------------------------------------------------


def _functions() -> dict[str, list[tuple[Path, str | None]]]:
    """Each deployed function's logical id -> the (file, function or None = whole file) it runs."""
    from app import app

    def located(handler: str) -> tuple[Path, str]:
        module, _, name = handler.rpartition(".")
        return PROJECT_DIR / (module.replace(".", "/") + ".py"), name

    functions: dict[str, list[tuple[Path, str | None]]] = {}
    sources: list[Any] = [*app.event_sources, *app.builtin_auth_handlers]
    for source in sources:
        functions[to_cfn_resource_name(source.name)] = [located(source.handler_string)]
    authorizer_files = {path for path, _ in functions[to_cfn_resource_name("jwt_authorizer")]}
    route_modules = {
        route.view_function.__module__ for paths in app.routes.values() for route in paths.values()
    }
    api: list[tuple[Path, str | None]] = []
    for module in sorted(_with_api_helpers(route_modules)):
        path = PROJECT_DIR / (module.replace(".", "/") + ".py")
        api.append((path, None) if path not in authorizer_files else (path, "current_caller"))
    api.append((CHALICELIB / "api" / "http.py", None))  # the middleware
    functions[API_FUNCTION] = api
    return functions


def _with_api_helpers(modules: set[str]) -> set[str]:
    """The route modules and the chalicelib.api modules they import, transitively (shared
    request helpers such as api/requests.py reach the container too)."""
    found: set[str] = set()
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in found:
            continue
        found.add(module)
        tree = ast.parse((PROJECT_DIR / (module.replace(".", "/") + ".py")).read_text("utf-8"))
        pending += [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module is not None
            and node.module.startswith("chalicelib.api.")
        ]
    return found


def _is_container(node: ast.AST) -> bool:
    """``bootstrap.container()``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "container"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "bootstrap"
    )


def _container_uses(node: ast.AST) -> Iterator[tuple[str, frozenset[str]]]:
    """``bootstrap.container().X`` under node, or ``name.X`` after ``name =
    bootstrap.container()``: (X, the keyword arguments passed as False)."""
    calls = {id(n.func): n for n in ast.walk(node) if isinstance(n, ast.Call)}
    names = {
        target.id
        for n in ast.walk(node)
        if isinstance(n, ast.Assign) and _is_container(n.value)
        for target in n.targets
        if isinstance(target, ast.Name)
    }
    for attribute in ast.walk(node):
        if not isinstance(attribute, ast.Attribute):
            continue
        inner = attribute.value
        if not (_is_container(inner) or (isinstance(inner, ast.Name) and inner.id in names)):
            continue
        call = calls.get(id(attribute))
        yield attribute.attr, _false_keywords(call) if call else frozenset()


def _false_keywords(call: ast.Call) -> frozenset[str]:
    return frozenset(
        keyword.arg
        for keyword in call.keywords
        if keyword.arg and isinstance(keyword.value, ast.Constant) and keyword.value.value is False
    )


def _entry_points(sources: Iterable[tuple[Path, str | None]]) -> set[tuple[str, frozenset[str]]]:
    found: set[tuple[str, frozenset[str]]] = set()
    for path, name in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes: list[ast.AST] = [tree] if name is None else _reachable(tree, name)
        assert nodes, f"{name} not found in {path}"
        for node in nodes:
            found.update(_container_uses(node))
    return found


def _reachable(tree: ast.Module, name: str) -> list[ast.AST]:
    """The module's function ``name`` and the module's functions it calls, transitively."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: dict[str, ast.FunctionDef] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found or current not in functions:
            continue
        found[current] = functions[current]
        pending += [
            node.func.id
            for node in ast.walk(functions[current])
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        ]
    return list(found.values())


class ContainerGraph:
    """bootstrap.py's Container: its methods and properties, the fields they read
    (minus ``x if flag else None`` for flags passed as False; plus the parts a
    ``self._parts_for(Bundle, ...)`` call hands over), and the ports each field's adapter
    reaches, as ``bootstrap()`` builds it."""

    def __init__(self) -> None:
        self.source = BOOTSTRAP.read_text(encoding="utf-8")
        tree = ast.parse(self.source)
        container = next(
            n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Container"
        )
        self.members = {n.name: n for n in container.body if isinstance(n, ast.FunctionDef)}
        self.helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        self.field_ports = self._field_ports(self.helpers["bootstrap"])

    def _field_ports(self, bootstrap: ast.FunctionDef) -> dict[str, set[str]]:
        built = next(
            n
            for n in ast.walk(bootstrap)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Container"
        )
        ports: dict[str, set[str]] = {}
        for keyword in built.keywords:
            assert keyword.arg is not None
            nodes: list[ast.AST] = [keyword.value]
            names = {n.id for n in ast.walk(keyword.value) if isinstance(n, ast.Name)}
            nodes += [self.helpers[name] for name in names if name in self.helpers]
            ports[keyword.arg] = set().union(*(self._ports_of(node) for node in nodes))
        return ports

    def _ports_of(self, node: ast.AST) -> set[str]:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        ports = {port for adapter, port in ADAPTER_PORTS.items() if adapter in names}
        if any(name.startswith("Dynamo") for name in names):
            ports.add("table")
        segment = ast.get_source_segment(self.source, node) or ""
        if "secretsmanager" in segment:
            ports.add("cursor_secret")
        clients = re.findall(r"client\(\s*\"(\w+)\"", segment)
        assert not clients or ports - {"table"}, (
            f"{segment[:80]!r} builds an AWS client ({clients}): name its adapter in ADAPTER_PORTS"
        )
        return ports

    def ports(self, name: str, false: frozenset[str] = frozenset()) -> set[str]:
        ports: set[str] = set()
        self._walk(name, false, set(), ports)
        return ports

    def _walk(self, name: str, false: frozenset[str], seen: set[str], ports: set[str]) -> None:
        if name in seen:
            return
        seen.add(name)
        if name in self.field_ports:
            ports |= self.field_ports[name]
            return
        member = self.members.get(name)
        assert member is not None, f"bootstrap.container().{name}: no such field or method"
        for used in self._self_attributes(member, false):
            self._walk(used, frozenset(), seen, ports)

    @staticmethod
    def _self_attributes(member: ast.FunctionDef, false: frozenset[str]) -> set[str]:
        skipped: set[int] = set()
        for node in ast.walk(member):
            if (
                isinstance(node, ast.IfExp)
                and isinstance(node.test, ast.Name)
                and node.test.id in false
            ):
                skipped.update(id(inner) for inner in ast.walk(node.body))
        return {
            node.attr
            for node in ast.walk(member)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and id(node) not in skipped
        } | _parts_handed_over(member)


def _parts_handed_over(member: ast.FunctionDef) -> set[str]:
    """The fields ``self._parts_for(Bundle, *left_out)`` calls in member read: asked of
    the method itself, on a stand-in container whose every part is its own name."""
    from chalicelib import bootstrap

    stand_in: Any = SimpleNamespace(**{name: name for name in bootstrap.PART_NAMES})
    parts: set[str] = set()
    for node in ast.walk(member):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_parts_for"
        ):
            continue
        bundle, *left_out = node.args
        assert isinstance(bundle, ast.Name), ast.unparse(node)
        names = [ast.literal_eval(argument) for argument in left_out]
        given = bootstrap.Container._parts_for(stand_in, getattr(bootstrap, bundle.id), *names)
        parts |= set(given)
    return parts


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _client_actions(relative: str, attribute: str, prefix: str) -> set[str]:
    text = (CHALICELIB / relative).read_text(encoding="utf-8")
    methods = set(re.findall(rf"self\.{attribute}\.([a-z_]+)\b", text)) - {"exceptions"}
    assert methods, f"no {attribute} calls in {relative}: update PORT_ADAPTERS"
    actions = {f"{prefix}:{_camel(method)}" for method in methods}
    return {PRESIGNED.get(action, action) for action in actions}


def _table_actions() -> set[str]:
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((CHALICELIB / "adapters").glob("*.py"))
    )
    return {action for pattern, action in PYNAMODB_CALLS.items() if re.search(pattern, text)}


def _object_method_actions(method: str) -> set[str]:
    """The S3 actions one S3ObjectStore method calls (presigning counts as the action)."""
    tree = ast.parse((CHALICELIB / "adapters" / "objects.py").read_text(encoding="utf-8"))
    store = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "S3ObjectStore")
    [body] = [n for n in store.body if isinstance(n, ast.FunctionDef) and n.name == method]
    calls = {
        node.attr
        for node in ast.walk(body)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_s3"
    } - {"exceptions"}
    assert calls, f"S3ObjectStore.{method} calls no S3 operation"
    return {PRESIGNED.get(f"s3:{_camel(call)}", f"s3:{_camel(call)}") for call in calls}


def _port_actions(port: str, function: str) -> set[str]:
    if port == "table":
        return _table_actions()
    if port == "cursor_secret":
        return SECRET_ACTIONS | ENCRYPTED_SECRET_ACTIONS
    if port == "document_objects":
        assert function in DOCUMENT_OBJECT_CALLS, f"{function}: add it to DOCUMENT_OBJECT_CALLS"
        calls = DOCUMENT_OBJECT_CALLS[function]
        actions = set().union(set(), *(_object_method_actions(m) for m in calls))
    else:
        actions = set().union(*(_client_actions(*adapter) for adapter in PORT_ADAPTERS[port]))
    if port == "ops_alerts":
        actions |= ENCRYPTED_TOPIC_ACTIONS
    if port in ENCRYPTED_OBJECT_PORTS:
        actions |= {ENCRYPTED_OBJECT_ACTIONS[a] for a in actions if a in ENCRYPTED_OBJECT_ACTIONS}
    return actions


def _secret_read_pending() -> bool:
    """Until the code reads the cursor secret at run time (issue 14, item 3, landing
    separately), the API's grant for it is expected ahead of the code; from then on the
    grant must follow from bootstrap() like every other."""
    code = "\n".join(p.read_text(encoding="utf-8") for p in CHALICELIB.rglob("*.py"))
    return "secretsmanager" not in code


def _needed_actions(template: dict[str, Any]) -> dict[str, set[str]]:
    graph = ContainerGraph()
    needed: dict[str, set[str]] = {}
    for function, sources in _functions().items():
        ports: set[str] = set()
        for entry, false in _entry_points(sources):
            ports |= graph.ports(entry, false)
        actions = set(PLATFORM_ACTIONS)
        for port in ports:
            actions |= _port_actions(port, function)
        events = template["Resources"].get(function, {}).get("Properties", {}).get("Events", {})
        if any(event.get("Type", "DynamoDB") == "DynamoDB" for event in events.values()):
            actions |= STREAM_SOURCE_ACTIONS
        if any(event.get("Type") == "SQS" for event in events.values()):
            actions |= QUEUE_SOURCE_ACTIONS
        if _notifying_buckets(template, function) or function in READS_MAYBE_GONE:
            actions |= NOTIFIED_BUCKET_ACTIONS
        needed[function] = actions
    if _secret_read_pending():
        needed[API_FUNCTION] |= SECRET_ACTIONS | ENCRYPTED_SECRET_ACTIONS
    return needed


def _notifying_buckets(template: dict[str, Any], function: str) -> dict[str, str]:
    """The buckets whose ObjectCreated notifications reach the function's queues: the
    bucket's logical id -> the key prefix its notification is filtered on."""
    resources = template["Resources"]
    events = resources.get(function, {}).get("Properties", {}).get("Events", {})
    queues = {
        match.group(1)
        for event in events.values()
        if event.get("Type") == "SQS"
        for match in [
            re.fullmatch(r"\$\{(\w+)\.Arn\}", str(event["Properties"]["Queue"].get("Fn::Sub")))
        ]
        if match
    }
    found: dict[str, str] = {}
    for bucket, resource in resources.items():
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        notifications = resource["Properties"].get("NotificationConfiguration", {})
        for target in notifications.get("QueueConfigurations", []):
            if target["Queue"].get("Fn::GetAtt", [None])[0] in queues:
                rules = target.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                found[bucket] = next((r["Value"] for r in rules if r["Name"] == "prefix"), "")
    return found


# --- what the template grants -------------------------------------------------------------------


def _role_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    resources = template["Resources"]
    # Chalice names each role after its function; the API's is ApiHandlerRole.
    role_id = "ApiHandlerRole" if function == API_FUNCTION else f"{function}Role"
    role = resources.get(role_id)
    assert role is not None, f"{role_id}: infra/template.json must give it its policies"
    assert role["Properties"].get("Policies") == [], f"{role_id}: use managed policies"
    statements: list[dict[str, Any]] = []
    for arn in role["Properties"]["ManagedPolicyArns"]:
        policy = resources[arn["Ref"]]["Properties"]["PolicyDocument"]
        statements += [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _granted(template: dict[str, Any], function: str) -> set[str]:
    return set().union(*(_actions(s) for s in _role_statements(template, function)))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def needed(template: dict[str, Any]) -> dict[str, set[str]]:
    return _needed_actions(template)


# --- the tests ------------------------------------------------------------------------------------


def test_every_function_is_known(needed: dict[str, set[str]]):
    assert set(needed) == {
        "APIHandler",
        "JwtAuthorizer",
        "OnTableChange",
        "SlaSweep",
        "SendDeferredNotifications",
        "SendAppointmentReminders",
        "OnDocumentUploaded",
        "OnDocumentScanned",
        "OnInboundMail",
        "OnInboundSms",
    }


def test_each_function_is_granted_exactly_what_its_code_calls(
    template: dict[str, Any], needed: dict[str, set[str]]
):
    problems = []
    for function, actions in sorted(needed.items()):
        granted = _granted(template, function)
        if granted - actions:
            problems.append(
                f"{function} is granted what its code never calls: {sorted(granted - actions)}"
            )
        if actions - granted:
            problems.append(f"{function} calls what it is not granted: {sorted(actions - granted)}")
    assert not problems, "\n".join(problems)


def test_the_internet_facing_api_cannot_message_anyone_or_drive_workflows(
    template: dict[str, Any], needed: dict[str, set[str]]
):
    granted = _granted(template, API_FUNCTION)
    assert not {a for a in granted if a.split(":")[0] in {"sns", "ses", "states", "sqs"}}
    # What it does read: the cursor secret and nothing else in Secrets Manager.
    secret_statements = [
        s
        for s in _role_statements(template, API_FUNCTION)
        if "secretsmanager:GetSecretValue" in _actions(s)
    ]
    assert [s["Resource"] for s in secret_statements] == [{"Ref": "CursorSigningKey"}]
    assert "secretsmanager:GetSecretValue" in needed[API_FUNCTION]


def test_star_resources_only_where_aws_allows_nothing_narrower(template: dict[str, Any]):
    for function in _functions():
        for statement in _role_statements(template, function):
            if statement["Resource"] == "*" or "*" in statement["Resource"]:
                for action in _actions(statement):
                    assert action in STAR_ONLY, f"{function}: {action} on '*'"


def test_sms_on_star_only_in_the_functions_that_send_customer_messages(
    template: dict[str, Any], needed: dict[str, set[str]]
):
    senders = {f for f, actions in needed.items() if "sns:CheckIfPhoneNumberIsOptedOut" in actions}
    assert senders == {"OnTableChange", "SendDeferredNotifications"}
    for function in needed:
        star_publish = [
            s
            for s in _role_statements(template, function)
            if "sns:Publish" in _actions(s) and s["Resource"] == "*"
        ]
        assert bool(star_publish) == (function in senders), function
        for statement in _role_statements(template, function):
            if "sns:Publish" in _actions(statement) and statement["Resource"] != "*":
                assert statement["Resource"] == {"Ref": "OpsAlerts"}, function


def test_email_only_from_the_configured_sender(template: dict[str, Any]):
    statements = [
        s
        for function in _functions()
        for s in _role_statements(template, function)
        if any(a.startswith("ses:") for a in _actions(s))
    ]
    assert statements
    for statement in statements:
        assert statement["Condition"] == {
            "StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}
        }


def test_alarms_publish_only_from_this_account(template: dict[str, Any]):
    resources = template["Resources"]
    alarm_statements = [
        statement
        for resource in resources.values()
        for document in (
            resource.get("Properties", {}).get("KeyPolicy"),
            resource.get("Properties", {}).get("PolicyDocument"),
        )
        if document
        for statement in document["Statement"]
        if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(alarm_statements) == 2  # the key that encrypts the topic, and the topic
    for statement in alarm_statements:
        condition = statement["Condition"]["StringEquals"]
        assert condition["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_only_the_functions_that_read_maybe_missing_objects_may_list_only_their_prefix(
    template: dict[str, Any], needed: dict[str, set[str]]
):
    # An object deleted between its event and its handling answered 403 when deployed (no
    # s3:ListBucket), and the message went to the DLQ with its alarm. The grant names the
    # bucket that notifies the function and, by s3:prefix, the keys it notifies of.
    listing = {
        function: [
            s for s in _role_statements(template, function) if "s3:ListBucket" in _actions(s)
        ]
        for function in needed
    }
    fed = {
        function: {**_notifying_buckets(template, function), **READS_MAYBE_GONE.get(function, {})}
        for function in needed
    }
    assert {f for f, statements in listing.items() if statements} == {f for f in fed if fed[f]}
    assert set(fed["OnInboundMail"]) == {"InboundMailBucket"}
    assert set(fed["OnDocumentUploaded"]) == {"Documents"}
    assert set(fed[API_FUNCTION]) == {"InboundMailBucket"}  # never the document bucket
    for function, buckets in fed.items():
        for statement in listing[function]:
            assert _actions(statement) == {"s3:ListBucket"}, function
            bucket = statement["Resource"]["Fn::GetAtt"][0]
            assert statement["Resource"] == {"Fn::GetAtt": [bucket, "Arn"]}, function
            assert statement["Condition"] == {"StringLike": {"s3:prefix": f"{buckets[bucket]}*"}}, (
                function
            )
            assert buckets[bucket], f"{function}: {bucket} notifies of every key"


def test_declared_object_calls_are_real_port_calls():
    """Each name in DOCUMENT_OBJECT_CALLS is an ObjectStore method the code calls."""
    from chalicelib.service.documents import ObjectStore

    code = "\n".join(
        p.read_text(encoding="utf-8")
        for p in CHALICELIB.rglob("*.py")
        if p.name not in {"objects.py", "ports.py"}
    )
    declared = set().union(*DOCUMENT_OBJECT_CALLS.values())
    assert declared == set(ObjectStore.__abstractmethods__)
    for method in declared:
        assert re.search(rf"objects(\(\))?\.{method}\(", code), method


def test_object_rights_are_split_per_function(template: dict[str, Any]):
    """Security review L2: the stream consumer deletes expired files and writes inbox
    attachments (never reads a document), the scan-result handler touches no file, the
    mail handler only writes attachments."""

    def document_actions(function: str) -> set[str]:
        return {
            action
            for statement in _role_statements(template, function)
            if "Documents.Arn" in str(statement["Resource"])
            for action in _actions(statement)
        }

    assert document_actions("OnTableChange") == {"s3:DeleteObject", "s3:PutObject"}
    assert document_actions("OnDocumentScanned") == set()
    assert document_actions("OnInboundMail") == {"s3:PutObject"}
    assert document_actions("OnDocumentUploaded") == {"s3:GetObject", "s3:DeleteObject"}
