import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "chalicelib" / "domain"
FORBIDDEN = (
    "boto3",
    "botocore",
    "pynamodb",
    "chalice",
    "jwt",
    "chalicelib.adapters",
    "chalicelib.api",
    "chalicelib.bootstrap",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_imports_nothing_from_aws_chalice_or_outer_layers(module):
    offending = {
        name
        for name in _imports(module)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)
    }
    assert not offending, f"{module.name} imports {offending}"


def test_the_walk_sees_imports():
    # Guard against a walker that finds nothing and so passes vacuously.
    assert "chalicelib.domain.contact" in _imports(DOMAIN / "ticket.py")
