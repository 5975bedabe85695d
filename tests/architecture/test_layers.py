"""The layers import in one direction: no package of silkcharge imports, directly or through
others, a package that imports it back, and the inner layers never reach for the edges.

Every import counts, also those inside functions and under TYPE_CHECKING: a circle hidden in a
function is still a circle a reader has to untangle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import silkcharge

ROOT = Path(silkcharge.__file__).parent


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "silkcharge":
        return None
    return parts[1] if len(parts) > 1 else "silkcharge"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def package_imports() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the modules whose imports make that edge."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in ROOT.rglob("*.py"):
        module = _module_name(path)
        source = _package_of(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                target = _package_of(name)
                if target is not None and target != source:
                    graph[source][target].add(module)
    return graph


def _cycle_through(graph: dict[str, dict[str, set[str]]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for target in graph.get(node, {}):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_no_package_imports_one_that_imports_it_back():
    graph = package_imports()
    circles = {}
    for package in graph:
        cycle = _cycle_through(graph, package)
        if cycle:
            circles[package] = " -> ".join(
                f"{a} ({', '.join(sorted(graph[a][b]))})" for a, b in zip(cycle, cycle[1:], strict=False)
            )
    assert circles == {}


def test_services_know_no_protocol_web_or_process_code():
    graph = package_imports()
    assert set(graph["services"]) & {"ocpp", "api", "app", "server", "roaming", "web"} == set()


def test_roaming_is_an_adapter_that_knows_no_web_composition_or_process_code():
    """OCPI (roaming/) sits beside ocpp/: app.py wires it, api/app.py mounts it."""
    assert set(package_imports()["roaming"]) & {"api", "app", "server", "ocpp", "web"} == set()


def test_the_bus_and_the_store_depend_only_on_the_domain():
    graph = package_imports()
    assert set(graph["bus"]) <= {"domain"}
    assert set(graph["store"]) <= {"domain"}


def test_the_domain_imports_nothing_of_the_platform():
    assert set(package_imports()["domain"]) == set()


def test_the_check_sees_a_circle_when_there_is_one():
    graph = {"a": {"b": {"silkcharge.a.x"}}, "b": {"a": {"silkcharge.b.y"}}}
    assert _cycle_through(graph, "a") == ["a", "b", "a"]
