"""local/package.py ships an unchecked-hash .pyc for every module of deployment.zip."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

from local.package import add_bytecode, runtime_of
from local.resources import TemplateTranslationError

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
TAG = sys.implementation.cache_tag  # e.g. cpython-311


def _zip(path: Path, files: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 2, 3, 4, 4)), text)
    return path


def test_each_module_gets_an_unchecked_hash_pyc_and_stale_ones_go(tmp_path: Path):
    package = _zip(
        tmp_path / "deployment.zip",
        {
            "app.py": "VALUE = 1\n",
            "lib/mod.py": "def f():\n    return 2\n",
            "lib/data.json": "{}",
            # A timestamp-checked file from the build machine, and another version's.
            f"lib/__pycache__/mod.{TAG}.pyc": "stale",
            "lib/__pycache__/mod.cpython-39.pyc": "other",
            "broken.py": "def (:\n",  # a library file that does not compile stays as it is
        },
    )

    written = add_bytecode(package, RUNTIME)

    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        flags = int.from_bytes(archive.read(f"lib/__pycache__/mod.{TAG}.pyc")[4:8], "little")
    assert written == 2
    assert names == {
        "app.py",
        "lib/mod.py",
        "lib/data.json",
        "broken.py",
        f"__pycache__/app.{TAG}.pyc",
        f"lib/__pycache__/mod.{TAG}.pyc",
    }
    assert flags == 0b01  # PEP 552: hash-based, source not checked


def test_the_same_code_gives_the_same_zip_readable_by_all(tmp_path: Path):
    """No build path or build time in what is added: an unchanged app is an unchanged
    artefact. Each .pyc takes its module's time and mode, whatever the umask here."""
    files = {"app.py": "VALUE = 1\n", "lib/mod.py": "def f():\n    return 2\n"}
    first = _zip(tmp_path / "one" / "deployment.zip", files)
    second = _zip(tmp_path / "two" / "deployment.zip", files)
    with zipfile.ZipFile(first, "a") as archive:  # a module only its owner could read
        info = zipfile.ZipInfo("lib/private.py", date_time=(2026, 1, 2, 3, 4, 6))
        info.external_attr = 0o100600 << 16
        archive.writestr(info, "X = 3\n")
    with zipfile.ZipFile(second, "a") as archive:
        archive.writestr(info, "X = 3\n")

    add_bytecode(first, RUNTIME)
    add_bytecode(second, RUNTIME)

    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        pyc = archive.getinfo(f"lib/__pycache__/private.{TAG}.pyc")
        module = archive.getinfo("lib/mod.py")
        module_pyc = archive.getinfo(f"lib/__pycache__/mod.{TAG}.pyc")
    assert pyc.date_time == (2026, 1, 2, 3, 4, 6) and pyc.external_attr == 0o100600 << 16
    assert module_pyc.date_time == module.date_time
    assert module_pyc.external_attr == module.external_attr


def test_bytecode_for_another_runtime_is_refused(tmp_path: Path):
    package = _zip(tmp_path / "deployment.zip", {"app.py": "VALUE = 1\n"})
    with pytest.raises(TemplateTranslationError, match="would not load on python2.7"):
        add_bytecode(package, "python2.7")


def test_the_functions_runtime_is_one():
    def function(runtime: str) -> dict[str, object]:
        return {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": runtime}}

    same = {"Resources": {"A": function("python3.11"), "B": function("python3.11")}}
    mixed = {"Resources": {"A": function("python3.11"), "B": function("python3.12")}}
    assert runtime_of(same) == "python3.11"
    with pytest.raises(TemplateTranslationError):
        runtime_of(mixed)
