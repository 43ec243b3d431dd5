"""The package's shape: no import cycles, stages that do not import each other, generated code's runtime apart
from the worker that trains it. Read from the import statements (code_hash's graph), not from a list."""

from __future__ import annotations

from paper_autotrain import code_hash

GRAPH = code_hash.module_graph()
PACKAGE = "paper_autotrain"


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_cycle_finder_finds_a_cycle_and_passes_a_chain():
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}) == [
        ["a", "b", "c"]]
    assert cycles({"a": frozenset({"b"}), "b": frozenset(), "c": frozenset({"a", "b"})}) == []


def test_no_import_cycles_in_the_package():
    """Imports inside functions count too: a lazy import still makes two modules depend on each other."""
    assert cycles({name: module.imports for name, module in GRAPH.items()}) == []


def test_stages_do_not_import_each_other():
    stages = {name.split(".")[2] for name in GRAPH if name.startswith(f"{PACKAGE}.stages.") }
    for name, module in GRAPH.items():
        if not name.startswith(f"{PACKAGE}.stages."):
            continue
        own = name.split(".")[2]
        others = {dep.split(".")[2] for dep in module.imports if dep.startswith(f"{PACKAGE}.stages.")} - {own}
        assert not others & stages, f"{name} imports the stage(s) {sorted(others)}"


def test_generated_code_runtime_never_reaches_the_worker_sandbox_or_stages():
    """The runtime is what generated model.py imports; the worker that trains it, the sandbox and the stages
    stay out of its closure (the gates forbid generated code to import them)."""
    runtime = code_hash.module_closure(("runtime",))
    assert runtime, "the runtime package has modules"
    assert not [m for m in runtime if m.startswith(("worker", "sandbox", "stages", "records", "commands"))]


def test_commands_are_in_one_folder_and_records_below_them():
    """Entry points live in commands/; the records (ledger, leaderboard) never import a command."""
    for name, module in GRAPH.items():
        if name.startswith(f"{PACKAGE}.records"):
            assert not [d for d in module.imports if d.startswith(f"{PACKAGE}.commands")], name
    assert {f"{PACKAGE}.commands.{leaf}" for leaf in ("run", "batch", "config", "paper_list", "ledger",
                                                      "leaderboard")} <= set(GRAPH)
