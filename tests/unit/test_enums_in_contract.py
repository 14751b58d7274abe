"""The contract's lists of actions, statuses and event types are the code's enums.

The transition table (domain/lifecycle.RULES) is the one list of actions; the
request schema, the served OpenAPI document, docs/api.md and the Action enum
must say the same, in the same order, or a client is offered an action the desk
refuses (or never offered one it has). Likewise for statuses and event types.
"""

import json
import re
from typing import Any

import app  # noqa: F401 - registers every route
from chalicelib.api.openapi import openapi_document
from chalicelib.domain.events import CUSTOMER_VISIBLE_TYPES, PAYLOADS, EventType
from chalicelib.domain.lifecycle import ACTIONS, RULES
from chalicelib.domain.statuses import STATUSES, Action, Status
from chalicelib.service.reactions import REACTIONS
from local.publish_schemas import PROJECT_DIR, SHIPPED

API_DOC = PROJECT_DIR / "docs" / "api.md"


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SHIPPED / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def test_the_ticket_action_schema_offers_exactly_the_transition_tables_actions() -> None:
    assert _schema("ticket-action")["properties"]["action"]["enum"] == [str(a) for a in RULES]


def test_every_action_has_a_rule_and_every_rule_an_action() -> None:
    assert list(RULES) == list(Action) == list(ACTIONS)


def test_the_ticket_schema_lists_every_status_in_lifecycle_order() -> None:
    assert _schema("ticket")["properties"]["status"]["enum"] == [str(s) for s in Status]
    assert sorted(STATUSES) == sorted(Status)


def test_the_served_actions_route_names_the_tables_actions_and_the_list_filter_its_statuses() -> (
    None
):
    paths = openapi_document()["paths"]
    operation = paths["/v1/tickets/{ticket_id}/actions"]["post"]
    described = json.dumps(operation)
    assert ", ".join(RULES) in described
    parameters = paths["/v1/tickets"]["get"]["parameters"]
    [status] = [parameter for parameter in parameters if parameter["name"] == "status"]
    assert sorted(status["schema"]["enum"]) == sorted(Status)


def test_the_timeline_entry_schema_names_only_known_event_types() -> None:
    # The contract lists the types "at least" (new features add more), so the schema
    # names examples rather than closing the set with an enum.
    description = _schema("timeline-entry")["properties"]["type"]["description"]
    named = re.findall(r"[a-z]+\.[a-z_]+", description)
    assert named
    assert set(named) <= set(EventType)


def test_reactions_and_customer_visibility_are_keyed_by_known_event_types() -> None:
    assert set(REACTIONS) <= set(PAYLOADS)
    assert all(type(key) is EventType for key in (*REACTIONS, *CUSTOMER_VISIBLE_TYPES))


def _doc_section(heading: str) -> str:
    text = API_DOC.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n#", start + len(heading) + 2)
    return text[start : end if end >= 0 else len(text)]


def test_the_api_docs_action_table_lists_the_transition_tables_actions_in_order() -> None:
    rows = re.findall(r"^\| `([a-z_]+)`", _doc_section("### Actions"), flags=re.MULTILINE)
    assert rows == [str(action) for action in RULES]


def test_the_api_docs_name_every_status_and_every_event_type() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    [statuses] = re.findall(r"`status`\s*\(`([a-z_|]+)`\)", text)
    assert statuses.split("|") == [str(status) for status in Status]
    timeline = _doc_section("### Comments and the timeline")
    types = timeline[timeline.index("- Types:") : timeline.index("- Customers see")]
    assert set(re.findall(r"`([a-z]+\.[a-z_]+)`", types)) == set(EventType)
