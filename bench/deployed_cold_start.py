"""Cold start as the deployed package pays it: the first authenticated read run from
the unzipped `deployment.zip`, whose code directory Lambda mounts read-only.

A module without usable bytecode in the package is compiled at every cold start (Python
cannot write its cache there). `local/package.py` now ships an unchecked-hash .pyc for
every module; this compares the package as built with the same package less its
bytecode (before, Chalice's zip held none for the libraries, and for our own modules
whatever timestamp-checked files the build machine had, which the zip's two-second clock
can make stale), and the package's floor (the same third-party modules from
the package, plus one GetItem). Each sample is a fresh `python -S` (no site-packages:
only the package is importable) with bytecode writing off. Alternating runs, medians.
Prints figures and ratios; it is a measurement, not a pass/fail test.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.cold_start import REGION, _median_ms, _run, stack  # noqa: E402
from local.package import DEPLOYMENT_ZIP, build, is_bytecode  # noqa: E402

RUNS = int(os.environ.get("COLD_START_RUNS", "9"))
SAMPLE = ("-S",)  # the package alone, as on Lambda
WHERE = (
    "import json, app, chalicelib, pynamodb, botocore\n"
    "print(json.dumps({m.__name__: m.__file__ for m in (app, chalicelib, pynamodb, botocore)}))"
)


def _unzip(package: Path, target: Path, *, bytecode: bool) -> Path:
    with zipfile.ZipFile(package) as archive:
        for entry in archive.infolist():
            if bytecode or not is_bytecode(entry.filename):
                archive.extract(entry, target)
    return target


def _size_mb(tree: Path) -> float:
    return sum(f.stat().st_size for f in tree.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="deployed-cold-start-"))
    try:
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        build(scratch / "build")
        package = scratch / "build" / DEPLOYMENT_ZIP
        shipped = _unzip(package, scratch / "shipped", bytecode=True)
        bare = _unzip(package, scratch / "bare", bytecode=False)
        with stack() as local:
            env = {**local.env, "PYTHONDONTWRITEBYTECODE": "1"}
            with_pyc = {**env, "PYTHONPATH": str(shipped)}
            without = {**env, "PYTHONPATH": str(bare)}
            # Run in the package's folder too: `python -c` puts its folder first on the path.
            for tree, sample_env in ((shipped, with_pyc), (bare, without)):
                where = _run(WHERE, sample_env, SAMPLE, tree)
                assert all(path.startswith(str(tree)) for path in where.values()), where
            modules = _run(local.first_read(list_modules=True), with_pyc, SAMPLE, shipped)[
                "modules"
            ]
            floor = local.floor(modules)
            runs: dict[str, list[dict[str, float]]] = {"shipped": [], "bare": [], "floor": []}
            for _ in range(RUNS):
                runs["shipped"].append(_run(local.first_read(), with_pyc, SAMPLE, shipped))
                runs["bare"].append(_run(local.first_read(), without, SAMPLE, bare))
                runs["floor"].append(_run(floor, with_pyc, SAMPLE, shipped))
        shipped_ms, bare_ms, floor_ms = (
            _median_ms(runs[name], "seconds") for name in ("shipped", "bare", "floor")
        )
        pycs = sum(1 for _ in shipped.rglob("*.pyc"))
        print(
            f"deployment.zip: {package.stat().st_size / 1e6:.1f} MB, unzipped "
            f"{_size_mb(shipped):.1f} MB with {pycs} .pyc files ({_size_mb(bare):.1f} MB without)"
        )
        print(f"first read from the package without bytecode (median of {RUNS}): {bare_ms:.0f} ms")
        print(f"first read from the package as built (median of {RUNS}): {shipped_ms:.0f} ms")
        print(f"floor from the package: the same modules + one GetItem: {floor_ms:.0f} ms")
        print(f"deployed cold start + first read vs floor: ratio {shipped_ms / floor_ms:.2f}")
        print(
            f"deployed cold start + first read: {shipped_ms:.0f} ms with bytecode vs "
            f"{bare_ms:.0f} ms without: {bare_ms / shipped_ms:.2f}x faster"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
