"""The layers of docs/ARCHITECTURE.md hold: every module of the package is in one layer, and no
module imports one of a layer above it (nor one protocol the other)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fullon_cache_api"
PROTOCOLS = ("handlers", "ws")


def layers() -> dict[str, int]:
    """Module (or ``package/``) -> its layer, from the numbered list under ``## Layers``."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    found: dict[str, int] = {}
    for number, line in re.findall(r"^(\d)\. (.*)$", section, re.M):
        for name in re.findall(r"`([\w/]+)`", re.sub(r"\([^)]*\)", "", line)):
            if name != "__init__":
                found.setdefault(name, int(number))
    found["__init__"] = 6
    return found


def modules() -> dict[str, Path]:
    """Dotted name inside the package (``readers.source``, ``__init__``) -> file."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer_of(module: str, table: dict[str, int]) -> int:
    if module in table:
        return table[module]
    package = module.split(".", 1)[0] + "/"
    if package in table:
        return table[package]
    raise LookupError(module)


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``module`` imports at run time (not under ``TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if module == "__init__":
        here = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom | ast.Import):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("fullon_cache_api.")]
            found.update(name.removeprefix("fullon_cache_api.") for name in names)
            continue
        if node.level:
            base = here[: len(here) - (node.level - 1)]
        elif node.module and node.module.split(".")[0] == "fullon_cache_api":
            base, node.module = [], node.module.removeprefix("fullon_cache_api").lstrip(".")
        else:
            continue
        target = ".".join([*base, *([node.module] if node.module else [])])
        for alias in node.names:
            full = f"{target}.{alias.name}" if target else alias.name
            found.add(full if full in known else target)
    return {name for name in found if name in known and name != module}


def test_every_module_has_a_layer() -> None:
    table = layers()
    missing = []
    for module in modules():
        try:
            layer_of(module, table)
        except LookupError:
            missing.append(module)
    assert not missing, f"not in docs/ARCHITECTURE.md's layers: {missing}"


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_imports_a_layer_above_it(module: str) -> None:
    table, known = layers(), modules()
    own = layer_of(module, table)
    above = {
        name: layer_of(name, table)
        for name in imports(module, known[module], set(known))
        if layer_of(name, table) > own
    }
    assert not above, f"{module} (layer {own}) imports from above: {above}"
    side = module.split(".")[0]
    if side in PROTOCOLS:
        other = {name for name in imports(module, known[module], set(known))}
        crossing = {n for n in other if n.split(".")[0] in PROTOCOLS and n.split(".")[0] != side}
        assert not crossing, f"{module} imports the other protocol: {crossing}"


def test_routing_imports_no_runtime_module() -> None:
    """``routing`` declares: it imports only leaves and other declarations."""
    table, known = layers(), modules()
    found = {
        name: layer_of(name, table) for name in imports("routing", known["routing"], set(known))
    }
    assert found and all(layer in (1, 4) for layer in found.values()), found


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk finds a relative import of a module above (so the test above can fail)."""
    known = modules()
    path = tmp_path / "keys.py"
    path.write_text("from .routes import ROUTES\nif TYPE_CHECKING:\n    from .app import x\n")
    assert imports("keys", path, set(known)) == {"routes"}


SAME_MEANING = {"stream_tickers": 2, "stream_ohlcv": 2}
"""Names given twice on purpose: the same thing in each protocol (the SSE stream's handler and
the v0.2.6 WebSocket action of that name)."""


def test_one_meaning_per_name() -> None:
    """No public class or function name is defined in two modules of the package (a reader
    would take one for the other), but those in ``SAME_MEANING``."""
    defined: dict[str, list[str]] = {}
    for name, path in modules().items():
        for node in ast.parse(path.read_text()).body:
            named = isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            if named and not node.name.startswith("_"):
                defined.setdefault(node.name, []).append(name)
    twice = {name: where for name, where in defined.items() if len(where) > 1}
    assert {name: len(where) for name, where in twice.items()} == SAME_MEANING, twice
