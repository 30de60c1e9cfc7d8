"""The package's import graph is acyclic: no module inside steerlab/ imports, directly or indirectly, a module that
imports it back. Every import counts (module level and inside functions), except those under `if TYPE_CHECKING:`,
which never run; importing `a.b.c` also imports the packages `a` and `a.b`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1] / "steerlab"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.AST, type_checking: bool = False):
    """Every node, skipping the bodies of `if TYPE_CHECKING:` unless `type_checking`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not type_checking and isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported(path: Path, modules: set[str], type_checking: bool = False) -> set[str]:
    """steerlab modules that `path` imports (with the packages on the way)."""
    me, is_pkg = module_name(path), path.name == "__init__.py"
    targets = set()
    for node in runtime_nodes(ast.parse(path.read_text()), type_checking):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = me.split(".") if is_pkg else me.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    out = set()
    for t in targets:
        parts = t.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules
    return out - {me}


def import_graph(type_checking: bool = False) -> nx.DiGraph:
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(paths)
    for name, path in paths.items():
        graph.add_edges_from((name, target) for target in imported(path, set(paths), type_checking))
    return graph


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert graph.number_of_edges() > 100  # the graph was read (every module imports something of steerlab)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_no_cycle_even_through_type_checking_imports_or_between_subpackages():
    """Annotations-only imports count too, and a subpackage (methods/, tasks/, analysis/, report/) seen as one module
    must still not be imported back by what it imports: every module stands above all it imports."""
    graph = import_graph(type_checking=True)
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, f"import cycles through TYPE_CHECKING imports: {cycles}"
    packages = {n for n in graph if (ROOT.parent / n.replace(".", "/") / "__init__.py").is_file() and n != "steerlab"}

    def room(n: str) -> str:
        return next((p for p in packages if n == p or n.startswith(p + ".")), n)

    rooms = nx.DiGraph((room(a), room(b)) for a, b in graph.edges if room(a) != room(b))
    cycles = [sorted(c) for c in nx.strongly_connected_components(rooms) if len(c) > 1]
    assert not cycles, f"subpackages that import each other back: {cycles}"


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path, monkeypatch):
    pkg = tmp_path / "steerlab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from steerlab.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from steerlab import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from steerlab import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    graph = import_graph()
    assert {"steerlab.a", "steerlab.sub.b"} <= set(nx.find_cycle(graph, "steerlab.a")[0]) | set(nx.find_cycle(graph, "steerlab.a")[1])
    assert ("steerlab.c", "steerlab.a") not in graph.edges


def test_config_checks_do_not_import_peft():
    """launch.py composes and checks the config before any model work; peft (seconds to import) waits for an adapter,
    so a bad value is refused in about half the time (tests/test_bad_values.py runs 51 of them)."""
    import subprocess

    code = "import sys, steerlab.config_store, steerlab.cli; print('peft' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT.parent)
    assert out.stdout.strip() == "False"
