"""Write the public copies for client teams: schemas/*.json and schemas/openapi.json.

`make schemas` runs this; a test fails when the copies drift from what ships.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHIPPED = PROJECT_DIR / "chalicelib" / "schemas"
PUBLIC = PROJECT_DIR / "schemas"


def openapi_text() -> str:
    import app  # noqa: F401 - registers every route
    from chalicelib.api.openapi import openapi_document

    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    PUBLIC.mkdir(exist_ok=True)
    for stale in PUBLIC.glob("*.json"):
        stale.unlink()
    for schema in sorted(SHIPPED.glob("*.json")):
        shutil.copyfile(schema, PUBLIC / schema.name)
    (PUBLIC / "openapi.json").write_text(openapi_text(), encoding="utf-8")


if __name__ == "__main__":
    main()
