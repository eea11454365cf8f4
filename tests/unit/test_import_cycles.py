"""spin's modules import each other without cycles: the graph of module-level imports
(what runs when a module is first imported) is acyclic."""

from __future__ import annotations

import ast
from pathlib import Path

SPIN = Path(__file__).resolve().parents[2] / "spin"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SPIN.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str], everywhere: bool = False) -> set[str]:
    """The spin modules `path` imports at module level (with everywhere: in functions too)."""
    found = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree) if everywhere else tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)  # `from spin import x` may also name submodule x
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m in modules}


def import_graph(everywhere: bool = False) -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in SPIN.rglob("*.py")}
    graph = {m: _imports(p, set(paths), everywhere) - {m} for m, p in paths.items()}
    if everywhere:  # a submodule may call into its package's __init__ from a function
        graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return path[path.index(d) :] + [d]
            if d not in state and (cycle := visit(d)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_spin_has_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_cycles_through_imports_inside_functions_either():
    """A lazy import only hides a cycle (pipeline/command.py <-> plan_command.py was one)."""
    cycle = find_cycle(import_graph(everywhere=True))
    assert cycle is None, " -> ".join(cycle)


def test_the_detector_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "spin.pipeline.plan" in graph["spin.pipeline.plan_command"]  # it reads real imports
