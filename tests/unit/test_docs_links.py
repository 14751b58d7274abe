"""The documentation's links: every relative link resolves to a file (and heading) in the
repository, none leaves it, every page is reachable from the README, and every alarm
has its runbook section."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
PAGES = sorted([README, *(ROOT / "docs").glob("*.md"), ROOT / "bench" / "RESULTS.md"])

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code removed."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(_INLINE_CODE.sub("", line))
    return lines


def links(page: Path) -> list[str]:
    return [
        target
        for line in _prose_lines(page.read_text(encoding="utf-8"))
        for target in _LINK.findall(line)
    ]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def problem(page: Path, target: str) -> str | None:
    """Why this link from this page is broken, or None when it resolves in the repository."""
    if _SCHEME.match(target):
        return "leaves the repository (use a path inside it)"
    path_part, _, anchor = target.partition("#")
    destination = (page.parent / path_part).resolve() if path_part else page
    if not destination.is_relative_to(ROOT):
        return "leaves the repository"
    if not destination.exists():
        return "names no file in the repository"
    if anchor and (destination.suffix != ".md" or anchor not in anchors(destination)):
        return f"names no heading #{anchor} in {destination.relative_to(ROOT)}"
    return None


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
        if (match := _HEADING.match(line))
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
