"""The package as PyPI and the MCP Registry see it (issue 18, "Packaging").

- Every third-party module that ``letswork/`` imports, wherever the import is written (module
  level, inside a function, under ``if TYPE_CHECKING:``), is a declared dependency: the module
  is mapped to the distributions that install it, and one of them must be in ``pyproject.toml``.
- The wheel, built here by the real build front end (``python -m build --no-isolation``: about
  a second, with hatchling from the test extra), carries the version, license file, project
  URLs and classifiers; ``letswork --version`` prints the same version.
- ``server.json`` validates against the MCP Registry's schema 2025-12-11, vendored under
  ``tests/support/mcp_registry`` (its source is noted there), and names the same server as the
  README's ``mcp-name:`` marker and the same version as the package.
- The README's install lines name the wheel this version builds, and its state folder and
  completion lines work as written.
"""

from __future__ import annotations

import ast
import email
import email.message
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import letswork
from letswork.local import statedir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML through the backport (test extra)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "letswork"
PYPROJECT = ROOT / "pyproject.toml"
README = ROOT / "README.md"
SERVER_JSON = ROOT / "server.json"
SCHEMA_DIR = Path(__file__).resolve().parent / "support" / "mcp_registry"
SCHEMA = SCHEMA_DIR / "2025-12-11" / "server.schema.json"
#: sha256 of the vendored schema as published (tests/support/mcp_registry/README.md).
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
#: The newest release of the line this project continues on PyPI.
PREVIOUS_RELEASE = Version("3.0.0")


def pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def declared_dependencies() -> set[str]:
    """Canonical names of ``[project].dependencies`` (markers ignored)."""
    return {canonicalize_name(Requirement(r).name) for r in pyproject()["project"]["dependencies"]}


# --- every direct import is declared ----------------------------------------------------------


def top_level_imports(package: Path) -> dict[str, set[str]]:
    """Top-level module names imported anywhere under ``package``, each with the files that do.

    Relative imports are left out (they are the package's own); ``importlib.import_module``
    with a literal name counts, as in tests/test_imports.py.
    """
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        where = str(path.relative_to(package.parent))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=where)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = [node.args[0].value]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(where)
    return found


def undeclared_imports(
    imports: Mapping[str, Iterable[str]],
    declared: set[str],
    providers: Mapping[str, list[str]],
    own: str,
) -> list[str]:
    """One line per third-party module in ``imports`` that no declared distribution provides.

    ``providers`` maps a top-level module to the distributions installing it
    (:func:`importlib.metadata.packages_distributions`); standard-library modules and ``own``
    are skipped.
    """
    problems = []
    for module in sorted(imports):
        if module == own or module in sys.stdlib_module_names:
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        # a backport declared for older Pythons only (tomli before 3.11) is not installed
        # here; its distribution has the module's name
        if not dists and canonicalize_name(module) in declared:
            continue
        if not dists & declared:
            files = ", ".join(sorted(imports[module])[:3])
            got = ", ".join(sorted(dists)) or "no installed distribution"
            problems.append(f"{module} (imported in {files}; installed by {got})")
    return problems


def test_every_third_party_module_the_package_imports_is_a_declared_dependency() -> None:
    imports = top_level_imports(PACKAGE)
    providers = importlib.metadata.packages_distributions()
    problems = undeclared_imports(imports, declared_dependencies(), providers, "letswork")
    assert not problems, "imported but not declared in pyproject.toml: " + "; ".join(problems)
    # The walk sees what it must: the modules issue 18 found undeclared are among those read.
    assert {"mcp_types", "anyio", "pydantic_core", "re2", "pathspec"} <= set(imports)


def test_an_import_that_no_declared_dependency_provides_is_reported() -> None:
    imports = {"yaml": {"letswork/x.py"}, "json": {"letswork/y.py"}, "letswork": {"a.py"}}
    providers = {"yaml": ["PyYAML"], "re2": ["google-re2"]}
    assert undeclared_imports(imports, {"google-re2"}, providers, "letswork") == [
        "yaml (imported in letswork/x.py; installed by pyyaml)"
    ]
    assert undeclared_imports(imports, {"pyyaml"}, providers, "letswork") == []
    # A module installed by nothing at all is reported too, not skipped.
    assert undeclared_imports({"nothing_here": {"z.py"}}, set(), {}, "letswork") == [
        "nothing_here (imported in z.py; installed by no installed distribution)"
    ]


def test_the_imports_walk_finds_imports_inside_functions_and_type_checking_blocks(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from typed_only.sub import X\n"
        "def f():\n    import lazy_one\n"
        "import importlib\nimportlib.import_module('dynamic_one.part')\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert set(top_level_imports(package)) == {
        "typing",
        "typed_only",
        "lazy_one",
        "importlib",
        "dynamic_one",
    }


def test_pathspec_is_held_below_2_because_its_pattern_internals_are_read() -> None:
    # hub/workspace/sharing.py reads `pattern.regex` and `pattern.include`.
    (spec,) = (r for r in pyproject()["project"]["dependencies"] if r.startswith("pathspec"))
    allowed = Requirement(spec).specifier
    assert "1.1.1" in allowed
    assert "2.0" not in allowed
    assert "0.12.1" not in allowed  # `backend=` arrived in 1.0


# --- version, wheel metadata ------------------------------------------------------------------


def test_the_version_is_read_from_the_package_and_continues_the_line_on_pypi() -> None:
    project = pyproject()
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "letswork/__init__.py"
    assert Version(letswork.__version__) > PREVIOUS_RELEASE
    assert letswork.__version__ == "4.0.0"


def test_letswork_version_prints_the_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "letswork", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"letswork, version {letswork.__version__}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``python -m build`` makes of this tree (no isolation: hatchling is installed)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("*.whl")
    return built


def wheel_metadata(wheel: Path) -> email.message.Message:
    name = f"letswork-{letswork.__version__}.dist-info/METADATA"
    with zipfile.ZipFile(wheel) as zf:
        return email.message_from_bytes(zf.read(name))


def test_the_wheel_is_named_and_versioned_as_the_package(wheel: Path) -> None:
    assert wheel.name == f"letswork-{letswork.__version__}-py3-none-any.whl"
    meta = wheel_metadata(wheel)
    assert meta["Name"] == "letswork"
    assert meta["Version"] == letswork.__version__
    assert meta["Requires-Python"] == ">=3.10"


def test_the_wheel_carries_the_mit_license_file(wheel: Path) -> None:
    meta = wheel_metadata(wheel)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(f"letswork-{letswork.__version__}.dist-info/licenses/LICENSE").decode()
    assert text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")


def test_the_wheel_names_the_project_urls(wheel: Path) -> None:
    urls = dict(u.split(", ", 1) for u in wheel_metadata(wheel).get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Repository", "Issues"}
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    assert urls["Repository"] == server["repository"]["url"]
    assert all(u.startswith("https://") for u in urls.values())


def test_the_wheel_states_python_versions_systems_typing_and_status(wheel: Path) -> None:
    classifiers = set(wheel_metadata(wheel).get_all("Classifier") or [])
    pythons = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)}
    assert pythons == {"3.10", "3.11", "3.12", "3.13", "3.14"}
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in pythons
    assert {
        "Operating System :: POSIX :: Linux",
        "Operating System :: MacOS",
        "Operating System :: Microsoft :: Windows",  # the guest side
        "Typing :: Typed",
    } <= classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    with zipfile.ZipFile(wheel) as zf:
        assert "letswork/py.typed" in zf.namelist()


def test_the_wheel_declares_mcp_types_and_its_description_carries_the_mcp_name(
    wheel: Path,
) -> None:
    meta = wheel_metadata(wheel)
    requires = {canonicalize_name(Requirement(r).name) for r in meta.get_all("Requires-Dist")}
    assert {"mcp", "mcp-types"} <= requires
    # The registry finds the marker in the description PyPI shows, which is the README.
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    assert f"mcp-name: {server['name']}" in meta.get_payload()


# --- server.json and the MCP Registry ---------------------------------------------------------


def registry_validator() -> jsonschema.Draft7Validator:
    raw = SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema was edited"
    schema = json.loads(raw)
    assert schema["$id"] == SCHEMA_URL
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def test_server_json_validates_against_the_registry_schema_2025_12_11() -> None:
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    assert server["$schema"] == SCHEMA_URL
    errors = [e.message for e in registry_validator().iter_errors(server)]
    assert errors == []


def test_the_registry_schema_refuses_a_server_json_it_should() -> None:
    validator = registry_validator()
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    too_long = {**server, "description": "x" * 101}
    no_slash = {**server, "name": "letswork"}
    latest = {**server, "packages": [{**server["packages"][0], "version": "latest"}]}
    for broken in (too_long, no_slash, latest):
        assert not validator.is_valid(broken)


def test_server_json_names_this_package_at_this_version_over_stdio() -> None:
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    assert server["version"] == letswork.__version__
    (package,) = server["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == pyproject()["project"]["name"]
    assert package["version"] == letswork.__version__
    assert package["transport"] == {"type": "stdio"}
    # The command it describes is the channel, started with a stored session.
    assert package["packageArguments"][0] == {**package["packageArguments"][0], "value": "channel"}
    assert package["packageArguments"][1]["name"] == "--session"
    envs = {e["name"]: e for e in package["environmentVariables"]}
    assert envs["LETSWORK_INVITE"]["isSecret"] is True
    assert statedir.STATE_DIR_ENV in envs


def test_the_readme_carries_the_mcp_name_of_server_json() -> None:
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    markers = re.findall(r"mcp-name: (\S+)", README.read_text(encoding="utf-8"))
    assert markers == [server["name"]]


# --- the README -------------------------------------------------------------------------------

#: The console script the install made: click names the completion variable after the program
#: it runs as, and `python -m letswork` runs as "python -m letswork".
SCRIPT = Path(sys.executable).with_name("letswork")


def test_the_readme_installs_the_wheel_this_version_builds() -> None:
    text = README.read_text(encoding="utf-8")
    wheel_name = f"dist/letswork-{letswork.__version__}-py3-none-any.whl"
    assert f"pipx install {wheel_name}" in text
    assert f"uvx --from {wheel_name} letswork" in text
    named = set(re.findall(r"letswork-(\d[^-\s]*)-py3-none-any\.whl", text))
    assert named == {letswork.__version__}


def test_the_readme_keeps_its_two_set_up_lines() -> None:
    text = README.read_text(encoding="utf-8")
    assert (
        "python3 -m venv .venv && .venv/bin/pip install -q . && "
        ".venv/bin/letswork start ~/my-project"
    ) in text
    assert "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/pytest" in (
        text
    )


def test_the_readme_documents_the_state_folder_variable_the_code_reads() -> None:
    text = README.read_text(encoding="utf-8")
    assert f"{statedir.STATE_DIR_ENV}=" in text


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_readme_completion_line_prints_a_completion_script(shell: str) -> None:
    text = README.read_text(encoding="utf-8")
    assert f"_LETSWORK_COMPLETE={shell}_source letswork" in text
    env = {**os.environ, "_LETSWORK_COMPLETE": f"{shell}_source"}
    out = subprocess.run(
        [str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "_letswork_completion" in out.stdout
    assert "_LETSWORK_COMPLETE" in out.stdout


def test_completion_offers_the_commands() -> None:
    env = {
        **os.environ,
        "_LETSWORK_COMPLETE": "bash_complete",
        "COMP_WORDS": "letswork jo",
        "COMP_CWORD": "1",
    }
    out = subprocess.run(
        [str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["plain,join"]
