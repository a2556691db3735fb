"""The shape of the code, checked: no import cycle in the package, and every route takes exactly
the parameters it declares (the handler never sees the request)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import fullon_cache_api
from fullon_cache_api.routes import ENDPOINTS

PACKAGE = Path(fullon_cache_api.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The package modules ``name`` imports at run time (``if TYPE_CHECKING:`` blocks aside).
    ``from .pkg import sub`` is an edge to the submodule, not to the package."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def test_the_package_has_no_import_cycle() -> None:
    graph = {name: imports(name) for name in MODULES}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    assert "fullon_cache_api.routes" in graph["fullon_cache_api.app"]  # the instrument works


def test_the_version_is_a_leaf() -> None:
    assert imports("fullon_cache_api.version") == set()
    importers = {name for name in MODULES if "fullon_cache_api.version" in imports(name)}
    assert "fullon_cache_api" in importers


def test_every_handler_takes_exactly_its_declared_parameters() -> None:
    """A handler gets the context and the route's parsed parameters as keywords: it cannot read
    an undeclared one (there is no request to read it from)."""
    for endpoint in ENDPOINTS:
        signature = inspect.signature(endpoint.handler)
        names = list(signature.parameters)
        assert names[0] == "ctx", endpoint.path
        assert sorted(names[1:]) == sorted(p.name for p in endpoint.params), endpoint.path
