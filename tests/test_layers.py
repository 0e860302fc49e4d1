"""The house layout, checked: imports point down only, modules stay small, privates stay home.

Every module under ``pipeline/`` is parsed with ``ast`` (nothing is imported,
so optional extras such as Ray need not be installed) and its imports of
other ``pipeline`` modules become edges of a graph:

- relative (``from .x import y``, ``from .. import z``) and absolute
  (``import pipeline.x``, ``from pipeline.x import y``) imports;
- imports anywhere in the file, inside functions too: a lazy import is still a
  dependency, it only runs later;
- imports under ``if TYPE_CHECKING:`` count as well.  They do not run, but
  they say the module is written against a layer above it, and they are the
  usual way a runtime cycle gets hidden rather than removed.
- ``from package import name`` is an edge to ``package.name`` when that is a
  module, else to the package's ``__init__``.  Importing a submodule is not
  counted as importing its parent package's ``__init__`` (Python runs it
  first, but a package re-exporting its own submodules is layering, not a
  cycle).

The checks: no cycle in that graph, no module over ``MAX_LINES`` lines, and no
private name (one leading underscore, not a dunder) imported from, or read as
an attribute of, another ``pipeline`` module.

``CE_LAYERS_ROOT=/path/to/other/pipeline pytest tests/test_layers.py`` runs the
same checks on another tree (e.g. an older checkout, to see them fail).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("CE_LAYERS_ROOT") or Path(__file__).parents[1] / "pipeline")
MAX_LINES = 600


@dataclass
class Import:
    target: str  # the pipeline module depended on
    names: list[str]  # the names taken from it ("" for a plain ``import``)
    line: int
    type_checking: bool


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    imports: list[Import] = field(default_factory=list)
    private_attributes: list[tuple[str, str, int]] = field(default_factory=list)  # module, attr, line


def _module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    inside.update(id(n) for n in ast.walk(child))
    return inside


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def scan(root: Path) -> dict[str, Module]:
    """Every module of the package at ``root`` with its imports of that package's modules."""
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    modules = {_module_name(root, p): p for p in files}
    top = root.name
    result: dict[str, Module] = {}
    for name, path in modules.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, str(path))
        mod = Module(name, path, len(text.splitlines()))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        guarded = _type_checking_nodes(tree)
        bound: dict[str, str] = {}  # local name -> pipeline module it stands for
        for node in ast.walk(tree):
            tc = id(node) in guarded
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == top or alias.name.startswith(top + "."):
                        target = alias.name
                        while target not in modules and "." in target:
                            target = target.rpartition(".")[0]
                        mod.imports.append(Import(target, [""], node.lineno, tc))
                        bound[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else top)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                if not (base == top or base.startswith(top + ".")):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in modules:
                        mod.imports.append(Import(sub, [""], node.lineno, tc))
                        bound[alias.asname or alias.name] = sub
                    else:
                        mod.imports.append(Import(base, [alias.name], node.lineno, tc))
        for node in ast.walk(tree):  # ``flow._trace`` after ``from pipeline import flow``
            chain = _dotted(node) if isinstance(node, ast.Attribute) else None
            if chain and chain[0] in bound:
                parts = bound[chain[0]].split(".") + chain[1:]
                for cut in range(len(parts) - 1, 0, -1):
                    owner = ".".join(parts[:cut])
                    if owner in modules:
                        if _is_private(parts[cut]):
                            mod.private_attributes.append((owner, parts[cut], node.lineno))
                        break
        result[name] = mod
    return result


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself)."""
    graph = {n: sorted({i.target for i in m.imports if i.target in modules}) for n, m in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # Tarjan; the package is small enough for recursion
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe_cycle(modules: dict[str, Module], group: list[str]) -> str:
    edges = [f"{m} -> {i.target} (line {i.line}{', TYPE_CHECKING' if i.type_checking else ''})"
             for m in group for i in modules[m].imports
             if i.target in group and (i.target != m or len(group) == 1)]
    return "; ".join(sorted(set(edges)))


def too_long(modules: dict[str, Module]) -> list[str]:
    return [f"{m.name}: {m.lines} lines" for m in modules.values() if m.lines > MAX_LINES]


def private_imports(modules: dict[str, Module]) -> list[str]:
    bad = [f"{m.name} line {i.line}: {n} from {i.target}"
           for m in modules.values() for i in m.imports for n in i.names
           if _is_private(n) and i.target != m.name]
    bad += [f"{m.name} line {line}: {target}.{attr}"
            for m in modules.values() for target, attr, line in m.private_attributes
            if target != m.name]
    return sorted(bad)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    assert ROOT.is_dir(), ROOT
    return scan(ROOT)


def test_the_scan_sees_the_whole_package(modules):
    """A scan that found nothing would pass every check below."""
    assert {"pipeline.flow", "pipeline.scale", "pipeline.scale.worker", "pipeline.detect"} <= set(modules)
    assert any(i.target == "pipeline.scale" for i in modules["pipeline.flow"].imports)


def test_no_import_cycles(modules):
    found = cycles(modules)
    assert not found, "import cycles:\n" + "\n".join(describe_cycle(modules, g) for g in found)


def test_no_module_over_the_limit(modules):
    assert not too_long(modules), f"modules over {MAX_LINES} lines: {too_long(modules)}"


def test_no_private_name_crosses_a_module(modules):
    assert not private_imports(modules), "private names used across modules:\n" + "\n".join(
        private_imports(modules))


def test_detection_imports_neither_engines_nor_storage(modules):
    """detect/ is text in, findings out (the developers' guide)."""
    banned = ("pipeline.engines", "pipeline.store", "pipeline.calls.callstore", "pipeline.flow")
    bad = [f"{m.name} -> {i.target}" for m in modules.values() if m.name.startswith("pipeline.detect")
           for i in m.imports if i.target.startswith(banned)]
    assert not bad


# ------------------------------------------------------------------ the checks themselves
def _package(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    root = tmp_path / "pipeline"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return scan(root)


def test_the_checks_catch_what_they_are_for(tmp_path):
    mods = _package(tmp_path, {
        "__init__.py": "__version__ = '1'\n",
        "flow.py": "from . import __version__\nfrom .scale import make\n",
        "filework.py": "def _helper():\n    pass\n",
        "scale/__init__.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from ..flow import Pipeline\n"
                              "def make():\n    from .ray import go\n"),
        "scale/ray.py": ("import pipeline.filework\nfrom pipeline.filework import _helper\n"
                         "def go():\n    return pipeline.filework._helper\n"),
        "big.py": "x = 1\n" * (MAX_LINES + 1),
        "lazy.py": "def f():\n    from pipeline import lazy2\n",
        "lazy2.py": "from .lazy import f\n",
    })
    assert cycles(mods) == [["pipeline.flow", "pipeline.scale"], ["pipeline.lazy", "pipeline.lazy2"]]
    assert "TYPE_CHECKING" in describe_cycle(mods, ["pipeline.flow", "pipeline.scale"])
    assert too_long(mods) == [f"pipeline.big: {MAX_LINES + 1} lines"]
    assert private_imports(mods) == ["pipeline.scale.ray line 2: _helper from pipeline.filework",
                                     "pipeline.scale.ray line 4: pipeline.filework._helper"]
    # a package importing its own submodule, and the submodule its package's constants: no cycle
    ok = _package(tmp_path / "ok", {
        "__init__.py": "",
        "scale/__init__.py": "from .options import RayOptions\nLIMIT = 1\n",
        "scale/options.py": "class RayOptions:\n    pass\n",
        "scale/worker.py": "from . import LIMIT\nfrom .options import RayOptions\n",
    })
    assert cycles(ok) == [] and private_imports(ok) == []
