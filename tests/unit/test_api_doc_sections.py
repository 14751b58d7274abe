"""docs/api.md's sections point at each other where their subjects meet (documents and
email in, the inbox and documents, complaints and their review) and say nothing stale
about what is not in the API. The links themselves are checked in test_docs_links."""

from __future__ import annotations

import re

import pytest

from tests.docs_support import ROOT, links

API = ROOT / "docs" / "api.md"


def _sections() -> dict[str, str]:
    found: dict[str, str] = {}
    current = ""
    for line in API.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (.*)$", line)
        if heading:
            current = heading.group(1)
            found[current] = ""
        elif current:
            found[current] += line + "\n"
    return found


def _links_of(section: str) -> set[str]:
    return set(re.findall(r"\]\(([^)\s]+)\)", _sections()[section]))


@pytest.mark.parametrize(
    ("section", "target"),
    [
        ("Applications and documents", "#email-replies-and-the-triage-inbox"),
        ("Email replies and the triage inbox", "#applications-and-documents"),
        ("Tickets", "#complaints-the-regulators-rules"),
        ("Complaints (the regulator's rules)", "#tickets"),
        ("Complaints (the regulator's rules)", "#reports-audit-and-privacy"),
        ("Applications and documents", "privacy.md#erasure"),
    ],
)
def test_sections_link_where_their_subjects_meet(section: str, target: str):
    assert target in _links_of(section)


def test_nothing_shipped_is_listed_as_missing():
    missing = [name for name in _sections() if name.startswith("Not in the API")]
    assert missing == ["Not in the API: channels and exports"]
    text = _sections()[missing[0]].lower()
    assert "planned" not in text and "not implemented" not in text


def test_the_email_section_says_attachments_become_documents():
    text = _sections()["Email replies and the triage inbox"]
    assert "not yet documents" not in text
    assert "becomes a document of that ticket" in text
    assert any("#applications-and-documents" in link for link in links(API))
