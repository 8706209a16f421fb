"""Arrows point down: no import cycle between the project's packages or between its
modules, and each package imports only the layers below it (STYLE.md, DESIGN.md).

The graph comes from the source, parsed with ``ast`` (nothing is imported), and takes
every import statement of a module, those inside functions too: an import deferred into
a function is still a dependency, it only hides the cycle from the interpreter. Imports
under ``if TYPE_CHECKING:`` are left out, since they never run. Only the project's own
packages are nodes; the tests and third-party libraries are not.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each package and what it may import, lowest first. Nothing may import ``bench``.
_BELOW_SERVICE = {"domain", "crypto", "sqlstore", "storage", "projections"}
LAYERS: dict[str, set[str]] = {
    "domain": set(),
    "sqlstore": set(),
    "crypto": {"domain", "sqlstore"},
    "storage": {"domain", "crypto", "sqlstore"},
    "projections": {"domain", "crypto", "sqlstore", "storage"},
    "service": _BELOW_SERVICE,
    "api": {*_BELOW_SERVICE, "service"},
    "bench": {*_BELOW_SERVICE, "service", "api"},
}

Graph = dict[str, set[str]]


def module_files(packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` (a package is its
    ``__init__``)."""
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node`` except those guarded by ``TYPE_CHECKING``
    (their ``else`` branch does run)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for statement in child.orelse:
                yield from _runtime_imports(ast.Module(body=[statement], type_ignores=[]))
        elif isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        else:
            yield from _runtime_imports(child)


def _imported(
    statement: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: Container[str]
) -> list[str]:
    """What one statement names: ``from a import b`` names the module ``a.b`` when there is
    one, else something defined in ``a``."""
    if isinstance(statement, ast.Import):
        return [alias.name for alias in statement.names]
    base = statement.module or ""
    if statement.level:  # relative: resolve against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - statement.level + 1]
        base = ".".join([*package, base] if base else package)
    names = [f"{base}.{alias.name}" for alias in statement.names]
    return [name if name in known else base for name in names]


def imports_of(
    source: str, module: str, known: Container[str], is_package: bool = False
) -> set[str]:
    """The project modules that ``source`` (the text of ``module``) imports at run time."""
    targets = set()
    for statement in _runtime_imports(ast.parse(source)):
        for name in _imported(statement, module, is_package, known):
            while name and name not in known:  # ``import a.b.c``, a name defined in a.b
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def module_graph(packages: Iterable[str] = LAYERS) -> Graph:
    files = module_files(packages)
    return {
        module: imports_of(path.read_text(), module, files, path.name == "__init__.py")
        for module, path in files.items()
    }


def package_graph(modules: Graph) -> Graph:
    packages: Graph = {name.partition(".")[0]: set() for name in modules}
    for module, targets in modules.items():
        for target in targets:
            if target.partition(".")[0] != module.partition(".")[0]:
                packages[module.partition(".")[0]].add(target.partition(".")[0])
    return packages


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted:
    every cycle of the graph lies within one of them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_covers_every_package_and_sees_real_imports() -> None:
    modules = module_graph()

    assert {name.partition(".")[0] for name in modules} == set(LAYERS)
    assert "projections.runner" in modules["service.bootstrap"]
    assert "sqlstore.sql" in modules["crypto.sql_keystore"]
    assert "service.bootstrap" in modules["api.cli"]  # a module-level ``from ... import``


def test_type_checking_imports_are_left_out_and_deferred_ones_kept() -> None:
    known = {"a", "a.b", "a.c", "a.d", "a.e"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "import a.b\n"
        "if TYPE_CHECKING:\n"
        "    from a import c\n"
        "else:\n"
        "    from a.e import thing\n"
        "def later() -> None:\n"
        "    from a import d\n"
    )

    assert imports_of(source, "a.x", known) == {"a.b", "a.d", "a.e"}


def test_no_cycle_between_packages() -> None:
    assert cycles(package_graph(module_graph())) == []


def test_each_package_imports_only_the_layers_below_it() -> None:
    modules = module_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in modules.items()
        for target in targets
        if (package := module.partition(".")[0]) != (other := target.partition(".")[0])
        and other not in LAYERS[package]
    )

    assert wrong == []


def test_no_cycle_between_modules() -> None:
    assert cycles(module_graph()) == []
