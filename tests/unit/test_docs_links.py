"""The documentation's links: every relative link resolves to a file (and heading) in the
repository, none leaves it, every page is reachable from the README, and every alarm
has its runbook section."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.docs_support import HEADING, PAGES, README, ROOT, RUNBOOKS, anchors, links, problem


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    broken = [f"{target}: {reason}" for target in links(page) if (reason := problem(page, target))]
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_points_at_the_contract_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "shared/SPEC.md" not in text
    assert "../shared" not in text


def test_every_page_is_reachable_from_the_readme() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}
    unreachable = [str(page.relative_to(ROOT)) for page in PAGES[1:] if page not in linked]
    assert unreachable == [], "add them to the README's 'Where to read more'"


def _alarms() -> dict[str, str]:
    template = json.loads((ROOT / "infra" / "template.json").read_text(encoding="utf-8"))
    return {
        name: str(resource.get("Properties", {}).get("AlarmDescription", ""))
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_has_a_runbook_section_named_after_it() -> None:
    headings = {
        match.group(2)
        for line in RUNBOOKS.read_text(encoding="utf-8").splitlines()
        if (match := HEADING.match(line))
    }
    missing = sorted(name for name in _alarms() if name not in headings)
    assert missing == [], "give each alarm a '## <LogicalId>' section in docs/runbooks.md"


def test_runbook_links_in_alarm_descriptions_resolve() -> None:
    sections = anchors(RUNBOOKS)
    broken = {
        name: anchor
        for name, description in _alarms().items()
        for anchor in re.findall(r"docs/runbooks\.md#([\w-]+)", description)
        if anchor not in sections
    }
    assert broken == {}
