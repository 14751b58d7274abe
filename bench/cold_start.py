"""Cold-start import cost: `import app` next to a bare import of the third-party
modules it pulls in, each in a fresh interpreter, alternating, median of N runs.

Prints figures and the ratio; it is a measurement, not a pass/fail test.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNS = 15

_DEPENDENCIES = """
import json, sys, sysconfig
import app  # noqa: F401
stdlib = set(sys.stdlib_module_names)
ours = {"app", "chalicelib"}
def third_party(name):
    top = name.split(".")[0]
    return not (top in stdlib or top in ours or top.startswith("_") or top == "__main__"
                or top in sys.builtin_module_names)
# Every third-party module app loads, submodules included, in load order.
print(json.dumps([name for name in sys.modules if third_party(name)]))
"""


def _timed_import(statement: str) -> float:
    code = (
        f"import time\nstart = time.perf_counter()\n{statement}\nprint(time.perf_counter() - start)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
    )
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    modules = json.loads(
        subprocess.run(
            [sys.executable, "-c", _DEPENDENCIES],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(PROJECT_DIR)},
        ).stdout
    )
    bare = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)"
    app_times, dep_times = [], []
    _timed_import("import app")  # warm the bytecode cache once
    for _ in range(RUNS):
        app_times.append(_timed_import("import app"))
        dep_times.append(_timed_import(bare))
    app_ms = statistics.median(app_times) * 1000
    dep_ms = statistics.median(dep_times) * 1000
    tops = sorted({name.split(".")[0] for name in modules})
    print(f"third-party modules imported by app: {len(modules)} from {', '.join(tops)}")
    print(f"import app (median of {RUNS}):            {app_ms:7.1f} ms")
    print(f"bare import of its dependencies (median): {dep_ms:7.1f} ms")
    print(f"ratio app / dependencies:                 {app_ms / dep_ms:7.2f}x  (target <= 1.15x)")


if __name__ == "__main__":
    main()
