"""Importing the app builds no AWS client and loads no AWS SDK layer it does not need yet."""

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
# Loaded by the handler that uses them, never by `import app` (every Lambda pays for that).
DEFERRED = (
    "boto3",
    "pynamodb",
    "jwt",
    "cryptography",
    "ulid",
    "zoneinfo",
    "holidays",
    "jsonschema",  # first body validation
    "chalicelib.api.cursors",  # hashlib/hmac: lists and timelines only
    "chalicelib.service.tickets",  # use cases: imported by the views
    "chalicelib.domain.ticket",
    "chalicelib.adapters.dynamo",
    "chalicelib.config",  # read on first use through bootstrap.settings()
)


def test_import_app_builds_no_client_and_defers_heavy_modules():
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
