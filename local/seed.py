"""Demo data for the local stack: the bank's branches (from local/data/branches.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BRANCHES_FILE = Path(__file__).resolve().parent / "data" / "branches.json"


def seed_branches(dynamodb: Any, table_name: str) -> int:
    branches = json.loads(BRANCHES_FILE.read_text(encoding="utf-8"))
    for branch in branches:
        dynamodb.put_item(
            TableName=table_name,
            Item={
                "pk": {"S": "BRANCH"},
                "sk": {"S": branch["id"]},
                "item_type": {"S": "branch"},
                "name": {"S": branch["name"]},
                "name_zh": {"S": branch["name_zh"]},
                "timezone": {"S": branch["timezone"]},
                "address": {"S": branch["address"]},
                "counters": {"N": str(branch["counters"])},
                "hours": {"S": json.dumps(branch["hours"])},
            },
        )
    return len(branches)
