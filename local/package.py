"""Build the deployable template: ``python -m local.package build/``.

Runs ``chalice package`` with infra/template.json merged in, then inlines every
state machine's ASL file (``DefinitionUri``, relative to infra/) as
``Definition``, so ``build/sam.json`` needs nothing beside ``deployment.zip``,
makes every authenticated operation require an API key whose source is the
authorizer (``usageIdentifierKey``), so the usage plans meter each client app,
and ships the bytecode of every module in ``deployment.zip`` (see
``add_bytecode``). Exits non-zero when any step fails.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import py_compile
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.resources import (
    DEFAULT_REGION,
    PROJECT_DIR,
    STATE_MACHINE_TYPES,
    TEMPLATE_PATH,
    TemplateTranslationError,
)

DEFAULT_STAGE = "prod"
SAM_TEMPLATE = "sam.json"
CHALICE_CONFIG = PROJECT_DIR / ".chalice" / "config.json"
_CHALICE_MAIN = "import sys; from chalice.cli import main; sys.exit(main())"
REST_API = "RestAPI"
API_KEY = "api_key"  # the scheme name Chalice and SAM give `api_key_required`
API_KEY_SCHEME = {"type": "apiKey", "name": "x-api-key", "in": "header"}
API_KEY_SOURCE = "x-amazon-apigateway-api-key-source"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
DEPLOYMENT_ZIP = "deployment.zip"
PYCACHE = "__pycache__"


def chalice_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``chalice package`` calls no AWS API, but botocore wants a region and credentials."""
    env = dict(environ)
    env.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)
    if not (env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE")):
        env["AWS_ACCESS_KEY_ID"] = "packaging-only"
        env["AWS_SECRET_ACCESS_KEY"] = "packaging-only"
    return env


def run_chalice_package(out_dir: Path, stage: str) -> int:
    command = [
        sys.executable,
        "-c",
        _CHALICE_MAIN,
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(TEMPLATE_PATH),
        str(out_dir),
    ]
    completed = subprocess.run(
        command, cwd=PROJECT_DIR, env=chalice_environment(os.environ), check=False
    )
    return completed.returncode


def inline_state_machines(template: dict[str, Any], source_dir: Path) -> list[str]:
    """Replace each state machine's ``DefinitionUri`` file by its parsed ``Definition``."""
    inlined = []
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        uri = properties.get("DefinitionUri")
        if resource.get("Type") not in STATE_MACHINE_TYPES or not isinstance(uri, str):
            continue
        path = source_dir / uri
        if not path.is_file():
            raise TemplateTranslationError(f"{logical_id}: no ASL file at {path}")
        properties["Definition"] = json.loads(path.read_text(encoding="utf-8"))
        del properties["DefinitionUri"]
        inlined.append(logical_id)
    return inlined


def require_usage_keys(template: dict[str, Any]) -> list[str]:
    """Make every operation behind a Lambda authorizer require an API key from the authorizer.

    API Gateway meters a usage plan only on methods that require a key; with the key source
    AUTHORIZER, clients send none: the authorizer's ``usageIdentifierKey`` names the plan.
    Public operations (survey, health, OpenAPI, preflight) stay keyless. Returns the
    operations marked, as ``METHOD /path``.
    """
    resource = template.get("Resources", {}).get(REST_API)
    body = (resource or {}).get("Properties", {}).get("DefinitionBody")
    if not isinstance(body, dict):
        raise TemplateTranslationError(f"{REST_API}: no swagger DefinitionBody to mark")
    schemes = body.setdefault("securityDefinitions", {})
    authorizers = {
        name for name, scheme in schemes.items() if "x-amazon-apigateway-authorizer" in scheme
    }
    marked = []
    for path, operations in body.get("paths", {}).items():
        for method, operation in operations.items():
            security = operation.get("security", []) if method in HTTP_METHODS else []
            if not any(authorizers & set(requirement) for requirement in security):
                continue
            if not any(API_KEY in requirement for requirement in security):
                security.append({API_KEY: []})
            marked.append(f"{method.upper()} {path}")
    schemes[API_KEY] = dict(API_KEY_SCHEME)
    body[API_KEY_SOURCE] = "AUTHORIZER"
    return marked


def is_bytecode(name: str) -> bool:
    """A zip entry that is compiled bytecode (a `.pyc`, or anything in a `__pycache__`)."""
    return name.endswith(".pyc") or PYCACHE in name.split("/")


def runtime_of(template: dict[str, Any]) -> str:
    """The one Python runtime every function of the template runs on (``python3.11``)."""
    runtimes = {
        resource["Properties"].get("Runtime")
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    if len(runtimes) != 1 or not isinstance(next(iter(runtimes)), str):
        raise TemplateTranslationError(f"the functions run on {sorted(map(str, runtimes))}")
    return str(runtimes.pop())


def add_bytecode(package: Path, runtime: str) -> int:
    """Ship every module's bytecode in the zip, made now for this runtime.

    Lambda's code directory is read-only, so a module without a usable .pyc is compiled
    again at every cold start (our code and every library: about half a second at
    512 MB, bench/deployed_cold_start.py). Chalice zips the libraries without bytecode and
    ``chalicelib`` with whatever ``__pycache__`` the build machine had (timestamp-checked
    files, which the zip's two-second clock can make stale). Those are dropped; every
    ``.py`` gets an unchecked-hash .pyc (PEP 552): valid whatever the files' times, read
    without looking at the source, as a deployed artefact never changes. Returns how many
    were written; a library file that does not compile (a template, old syntax) is left
    as it is, as Python would fail on it at import too.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != version:
        raise TemplateTranslationError(
            f"bytecode made by {version} would not load on {runtime}: package with {runtime}"
        )
    with tempfile.TemporaryDirectory(prefix="package-") as scratch:
        tree = Path(scratch)
        with zipfile.ZipFile(package) as archive:
            entries = [entry for entry in archive.infolist() if not is_bytecode(entry.filename)]
            for entry in entries:
                archive.extract(entry, tree)
        compileall.compile_dir(
            tree,
            quiet=2,
            workers=0,
            optimize=0,  # the plain .pyc Lambda loads, whatever PYTHONOPTIMIZE says here
            stripdir=scratch,  # no build path in the bytecode: the same zip from the same code
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        sources = {entry.filename: entry for entry in entries}
        written = []
        # Written beside the zip, then renamed over it: an interrupted build leaves the old
        # zip whole, never half of the new one.
        rebuilt = package.with_name(f".{package.name}.partial")
        with (
            zipfile.ZipFile(package) as source,
            zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for entry in entries:  # kept as Chalice wrote them (names, modes, times)
                target.writestr(entry, source.read(entry))
            for pyc in sorted(tree.rglob(f"{PYCACHE}/*.pyc")):
                name = pyc.relative_to(tree).as_posix()
                module = sources[importlib.util.source_from_cache(name)]
                # The module's own time and mode (readable by all, whatever the umask here).
                info = zipfile.ZipInfo(name, date_time=module.date_time)
                info.external_attr = module.external_attr
                target.writestr(info, pyc.read_bytes(), zipfile.ZIP_DEFLATED)
                written.append(name)
        os.replace(rebuilt, package)
    return len(written)


def check_stage(stage: str) -> None:
    """Chalice packages an unknown stage without complaint, minus that stage's settings."""
    stages = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8")).get("stages", {})
    if stage not in stages:
        raise ValueError(f"no stage {stage!r} in {CHALICE_CONFIG} (have {sorted(stages)})")


def build(out_dir: Path, stage: str = DEFAULT_STAGE) -> Path:
    """Package the app into ``out_dir``; return the path of the self-contained template."""
    check_stage(stage)
    returncode = run_chalice_package(out_dir, stage)
    if returncode != 0:
        raise RuntimeError(f"chalice package failed with exit code {returncode}")
    sam_path = out_dir / SAM_TEMPLATE
    template = json.loads(sam_path.read_text(encoding="utf-8"))
    inline_state_machines(template, TEMPLATE_PATH.parent)
    if not require_usage_keys(template):
        raise TemplateTranslationError("no operation behind the authorizer: nothing is metered")
    add_bytecode(out_dir / DEPLOYMENT_ZIP, runtime_of(template))
    sam_path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    return sam_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", nargs="?", default="build", type=Path)
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    args = parser.parse_args(argv)
    try:
        sam_path = build(args.out_dir.resolve(), args.stage)
    except (RuntimeError, TemplateTranslationError, OSError, ValueError) as error:
        print(f"package: {error}", file=sys.stderr)
        return 1
    print(f"package: wrote {sam_path} and {sam_path.with_name(DEPLOYMENT_ZIP)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
