"""The import rules of docs/architecture.md, "The cut" (issue 14), held by parsing the source.

1. **Imports only run downwards**: ``cli`` -> ``ui``, ``hub``, ``channel`` -> ``client``,
   ``local`` -> ``shared``. ``ui``, ``hub`` and ``channel`` sit side by side and never import
   each other (``hub`` and ``channel`` above all); ``client`` and ``local`` import only
   ``shared``; ``shared`` imports nothing else of letswork. Any part may read the root
   package (``letswork.__version__``), which imports nothing; ``letswork.__main__`` only
   enters the CLI.
2. **No import circles anywhere**, counted on the graph of modules in which every import is an
   arrow, wherever it is written: at module level, inside a function (a lazy import is still a
   dependency, and a circle through one is a circle the day someone hoists it), and under
   ``if TYPE_CHECKING:`` (a circle of types is still a circle of modules). Two kinds of edge
   are left out, because Python handles them and they say nothing about the design: a module's
   own parent packages (``import letswork.hub.core`` runs ``letswork/hub/__init__.py`` first),
   and a module importing itself.

An import names a module: ``from letswork.cli import admin`` is an arrow to
``letswork.cli.admin`` when that is a module, and ``from letswork.hub.app import hub_info`` an
arrow to ``letswork.hub.app``. A literal ``importlib.import_module("letswork....")`` counts too.

:data:`ALLOWED_CYCLES` named the circles that existed when this test was written (the hub's
core and its collab mixin, the channel's two tool modules); issue 14 removed both, and the list
is empty. It can only shrink: a circle that is gone fails the test until its entry is deleted,
and any other circle fails it too.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "letswork"

#: What each part may import besides itself and the root package ``letswork``.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "__main__": frozenset({"cli"}),
    "cli": frozenset({"ui", "hub", "channel", "client", "local", "shared"}),
    "ui": frozenset({"client", "local", "shared"}),
    "hub": frozenset({"client", "local", "shared"}),
    "channel": frozenset({"client", "local", "shared"}),
    # Each other too, if one ever needs the other: in one direction only, written here.
    "client": frozenset({"shared"}),
    "local": frozenset({"shared"}),
    "shared": frozenset(),
}

#: Import circles allowed, by name: none since issue 14. Never add one.
ALLOWED_CYCLES: dict[str, frozenset[str]] = {}


def module_files(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = [package.name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The module that ``name`` (a module, or a name inside one) lives in, or None when it is
    not part of the package."""
    known = set(modules)
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def imports_of(module: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its source (see the module
    docstring for what counts)."""
    tree = ast.parse(modules[module].read_text(encoding="utf-8"), str(modules[module]))
    here = module if _is_package(module, modules) else module.rpartition(".")[0]
    named: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                named.append(submodule if submodule in modules else base)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")
        ):
            named.append(node.args[0].value)
    found = {_resolve(name, modules) for name in named}
    return {target for target in found if target is not None and target != module}


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = module_files(package)
    return {module: imports_of(module, modules) for module in modules}


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The import circles: each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative (no recursion limit)
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.add(frozenset(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def part_of(module: str) -> str | None:
    """The part (``cli``, ``hub``, ...) a module belongs to; None for the root package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import against :data:`MAY_IMPORT`, as ``a -> b`` lines, and every module in no
    known part."""
    wrong = []
    for module, targets in sorted(graph.items()):
        part = part_of(module)
        if part is None:  # the root package: imports nothing of letswork
            wrong.extend(f"{module} -> {target}" for target in sorted(targets))
            continue
        if part not in MAY_IMPORT:
            wrong.append(f"{module}: in no part of MAY_IMPORT; give its part a place there")
            continue
        for target in sorted(targets):
            target_part = part_of(target)
            if target_part is None or target_part == part or target_part in MAY_IMPORT[part]:
                continue
            wrong.append(f"{module} -> {target}")
    return wrong


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    arrows = [f"{a} -> {b}" for a in sorted(component) for b in sorted(graph[a]) if b in component]
    return "{" + ", ".join(arrows) + "}"


# ---------------------------------------------------------------------------- the rules


def test_imports_only_run_downwards_and_hub_and_channel_never_meet() -> None:
    assert upward_imports(import_graph(PACKAGE)) == []


def test_no_import_circles_but_the_named_ones_left_for_later_steps() -> None:
    graph = import_graph(PACKAGE)
    found = cycles(graph)
    allowed = set(ALLOWED_CYCLES.values())
    new = [_describe(c, graph) for c in sorted(found - allowed, key=sorted)]
    gone = [name for name, c in ALLOWED_CYCLES.items() if c not in found]
    assert not new, f"import circles: {new}"
    assert not gone, f"these circles are gone (or changed): delete them from ALLOWED_CYCLES: {gone}"


def test_the_parse_sees_the_package() -> None:
    graph = import_graph(PACKAGE)
    assert {"letswork.cli", "letswork.client.connection", "letswork.local.hubinfo"} <= set(graph)
    assert "letswork.client.connection" in graph["letswork.channel.server"]
    assert any(
        t.startswith("letswork.shared.protocol") for t in graph["letswork.client.connection"]
    )
    # imports inside functions are arrows too (TYPE_CHECKING: the checker's own tests below)
    assert "letswork.hub.app" in graph["letswork.cli.start"]  # inside start()


# ---------------------------------------------------------------------------- the checker


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "letswork"
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    for folder in {p.parent for p in package.rglob("*.py")}:
        (folder / "__init__.py").touch()
    return package


def test_the_checker_sees_a_hub_to_channel_import_inside_a_function(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "hub/app.py": """
                def f():
                    from letswork.channel.server import run
                    from .. import __version__
                    from letswork.shared import limits
            """,
            "channel/server.py": "from ..shared.limits import X\n",
            "shared/limits.py": "X = 1\n",
        },
    )
    graph = import_graph(package)
    assert graph["letswork.hub.app"] == {
        "letswork",
        "letswork.channel.server",
        "letswork.shared.limits",
    }
    assert graph["letswork.channel.server"] == {"letswork.shared.limits"}
    assert upward_imports(graph) == ["letswork.hub.app -> letswork.channel.server"]


def test_the_checker_sees_a_circle_under_type_checking(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "shared/a.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from letswork.shared.b import B
            """,
            "shared/b.py": "import letswork.shared.c\n",
            "shared/c.py": "from letswork.shared import a\n",
            "shared/d.py": "from letswork.shared import a, b\n",
        },
    )
    graph = import_graph(package)
    assert cycles(graph) == {
        frozenset({"letswork.shared.a", "letswork.shared.b", "letswork.shared.c"})
    }
    assert upward_imports(graph) == []


@pytest.mark.parametrize(
    ("module", "source", "wrong"),
    [
        ("shared/x.py", "from letswork.hub import app\n", "letswork.shared.x -> letswork.hub.app"),
        ("client/x.py", "import letswork.local.y\n", "letswork.client.x -> letswork.local.y"),
        ("ui/x.py", "from letswork.hub.app import R\n", "letswork.ui.x -> letswork.hub.app"),
        ("channel/x.py", "import letswork.cli\n", "letswork.channel.x -> letswork.cli"),
        ("tools/x.py", "", "letswork.tools: in no part of MAY_IMPORT; give its part a place there"),
    ],
    ids=["shared-to-hub", "client-to-local", "ui-to-hub", "channel-to-cli", "unknown-part"],
)
def test_the_checker_refuses_an_import_upwards_or_sideways(
    tmp_path: Path, module: str, source: str, wrong: str
) -> None:
    package = _package(
        tmp_path,
        {
            module: source,
            "hub/app.py": "",
            "local/y.py": "",
            "cli/__init__.py": "",
        },
    )
    assert wrong in upward_imports(import_graph(package))
