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
print(json.dumps({"clients": calls, "modules": sorted(m for m in ("boto3", "pynamodb", "jwt",
      "cryptography", "ulid", "zoneinfo") if m in sys.modules)}))
"""


def test_import_app_builds_no_client_and_defers_heavy_modules():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"clients": [], "modules": []}
