"""Cold start: `import app` builds no AWS client and loads only what a request needs.

Our own modules are imported at the top of each module; deferral is kept for the
edges a read never touches (the boto3 SDK, the holiday library, jsonschema,
Powertools' metrics, the tz database, the email package's policies). What a customer
actually waits for (the import plus the first authenticated read) is measured in
bench/cold_start.py.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import botocore.session
calls = []
original = botocore.session.Session.create_client
def spy(self, *args, **kwargs):
    calls.append(args[0] if args else kwargs.get("service_name"))
    return original(self, *args, **kwargs)
botocore.session.Session.create_client = spy
import app
print(json.dumps({"clients": calls, "modules": sorted(m for m in DEFERRED if m in sys.modules)}))
"""
# Loaded by the code path that uses them, never by `import app` (every Lambda pays for that).
DEFERRED = ("boto3", "holidays", "jsonschema", "email.policy", "zoneinfo")
# The only modules a function body may import: the edges above (and the tz database).
EDGES = frozenset(
    {"boto3", "holidays", "jsonschema", "aws_lambda_powertools", "zoneinfo", "email.policy"}
)


def test_import_app_builds_no_client_and_defers_the_edges():
    result = subprocess.run(
        [sys.executable, "-c", f"DEFERRED = {DEFERRED!r}\n{PROBE}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"clients": [], "modules": []}


def _deferred_imports(path: Path) -> list[str]:
    """Imports inside function bodies, other than the edges."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [
                f"{path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path}"
                f":{node.lineno} {name}"
                for name in names
                if name not in EDGES and name.split(".")[0] not in EDGES
            ]
    return found


def test_our_own_modules_are_imported_at_the_top():
    shipped = [PROJECT_DIR / "app.py", *sorted((PROJECT_DIR / "chalicelib").rglob("*.py"))]
    deferred = [found for path in shipped for found in _deferred_imports(path)]
    assert deferred == []


def test_the_check_sees_a_deferred_import(tmp_path):
    sample = PROJECT_DIR / "chalicelib" / "service" / "tickets.py"
    assert _deferred_imports(sample) == []
    bad = tmp_path / "deferred_sample.py"
    bad.write_text("def view():\n    import hashlib\n    from chalicelib import bootstrap\n")
    assert [line.split(" ")[1] for line in _deferred_imports(bad)] == ["hashlib", "chalicelib"]
