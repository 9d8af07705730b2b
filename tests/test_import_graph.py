"""No import cycles between the modules of stepstone.

The graph is grimp's (the library import-linter builds on): every ``import`` and ``from ...
import`` in ``stepstone``, at module level or inside a function, so a cycle cannot hide in an
import moved into a function.

Imports under ``if TYPE_CHECKING:`` count too. A type-only import is still a dependency (the
module means nothing without the other one's types, and mypy reads both), and a cycle cut by
moving one side under ``TYPE_CHECKING`` is not cut: ``store/lab.py`` <-> ``store/team.py`` and
``api/_api.py`` <-> ``api/_run.py`` were cycles of exactly that kind.

A package's ``__init__`` is a module like any other: it may import its submodules (a facade,
as ``stepstone/__init__.py`` and ``stepstone/api/__init__.py`` are), and a submodule may import
its package's ``__init__`` when that ``__init__`` imports nothing of it; both at once is a
cycle, even when the back edge is a ``TYPE_CHECKING`` import, since a submodule can always
import the name from the submodule that defines it. The edge Python adds by running a package's
``__init__`` before any submodule is not counted: with it every facade would be a cycle.
"""

from __future__ import annotations

import grimp
import pytest


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    members = set(component)
    lines = [f"{len(component)} modules: {', '.join(component)}"]
    for module in component:
        for imported in sorted(graph.find_modules_directly_imported_by(module) & members):
            where = graph.get_import_details(importer=module, imported=imported)
            line = where[0]["line_number"] if where else "?"
            lines.append(f"    {module} -> {imported} (line {line})")
    return "\n".join(lines)


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph("stepstone", exclude_type_checking_imports=False)
    cycles = _cycles(graph)
    if cycles:
        pytest.fail("import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles))


def test_the_cycle_finder_finds_a_cycle_through_an_init_and_ignores_a_facade() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "other"):
        graph.add_module(module)
    graph.add_import(importer="pkg", imported="pkg.c")  # a facade: no cycle
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg")  # pkg.b uses the facade ...
    graph.add_import(importer="pkg.c", imported="pkg.a")  # ... that reaches pkg.b again
    graph.add_import(importer="other", imported="pkg.a")
    assert _cycles(graph) == [["pkg", "pkg.a", "pkg.b", "pkg.c"]]
    graph.remove_import(importer="pkg.b", imported="pkg")
    assert _cycles(graph) == []
