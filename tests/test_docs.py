"""docs/API.md, the HTTP contract, against the route table: it lists exactly the table's HTTP
routes, and names every query parameter each of them declares.

The HTTP routes are the ``Endpoint`` declarations of ``routes.ROUTES``, selected by type: the
table may also hold routes of other kinds (WebSocket routes), which these tables do not list.
In the page, a route is a row of a table whose header's first cell is ``path``: its first cell
is the route template in backticks (``| `/tickers/{exchange}` | ?symbols ... | ... |``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from starlette.routing import compile_path

from fullon_cache_api.routes import ROUTES
from fullon_cache_api.routing import Endpoint

API_MD = Path(__file__).parents[1] / "docs" / "API.md"
ROUTE_ROW = re.compile(r"^\|\s*`(/[^`]*)`\s*\|")


class Row(NamedTuple):
    path: str
    text: str
    """The row's line."""
    prose: str
    """The text of the row's section (from its heading to the next) outside its tables."""


def route_rows(page: str) -> list[Row]:
    """The rows of the page's route tables, in page order."""
    rows: list[Row] = []
    for section in re.split(r"(?m)^(?=#)", page):
        lines = section.splitlines()
        prose = "\n".join(line for line in lines if not line.startswith("|"))
        header: str | None = None
        for line in lines:
            if not line.startswith("|"):
                header = None
            elif header is None:
                header = line.strip("|").split("|")[0].strip()
            elif header == "path" and (found := ROUTE_ROW.match(line)):
                rows.append(Row(found[1], line, prose))
    return rows


def http_routes() -> list[Endpoint]:
    return [route for route in ROUTES if isinstance(route, Endpoint)]


def test_only_rows_of_path_tables_are_read() -> None:
    page = (
        "# A\n\nSee `/x`.\n\n| path | query parameters | answer |\n|---|---|---|\n"
        "| `/a/{b}` | `?q` | x |\n| `/c` | | y |\n\n"
        "| socket | answer |\n|---|---|\n| `/ws` | z |\n\n## B\n\n?r\n\n"
        "| path | answer |\n|---|---|\n| `/d` | w |\n"
    )
    rows = route_rows(page)
    assert [row.path for row in rows] == ["/a/{b}", "/c", "/d"]
    assert "?q" in rows[0].text and "?r" not in rows[0].prose and "?r" in rows[2].prose


def test_api_md_lists_exactly_the_http_routes_of_the_route_table() -> None:
    documented = [row.path for row in route_rows(API_MD.read_text(encoding="utf-8"))]
    declared = {route.template for route in http_routes()}
    missing = sorted(declared - set(documented))
    unknown = sorted(set(documented) - declared)
    twice = sorted({path for path in documented if documented.count(path) > 1})
    assert not (missing or unknown or twice), (
        "docs/API.md and the route table (routes.ROUTES, its Endpoints) differ:\n"
        f"  routes that docs/API.md does not list: {missing}\n"
        f"  paths docs/API.md lists that are no HTTP route: {unknown}\n"
        f"  paths docs/API.md lists more than once: {twice}"
    )


def test_api_md_names_every_query_parameter_in_its_row_or_section() -> None:
    rows = {row.path: row for row in route_rows(API_MD.read_text(encoding="utf-8"))}
    unnamed = [
        f"{route.template}: ?{param.name}"
        for route in http_routes()
        if route.template in rows  # a route missing from the page fails the test above
        for param in route.params
        if param.where == "query"
        and not any(
            re.search(rf"\?{param.name}\b", text)
            for text in (rows[route.template].text, rows[route.template].prose)
        )
    ]
    assert not unnamed, (
        "docs/API.md does not name these query parameters (as ?name) in their route's row "
        f"or in its section's text: {unnamed}"
    )


SHADOW_ROW = re.compile(r"^\|\s*`(/[^`]*)`\s*\|\s*`(/[^`]*)`\s*\|", re.M)


def shadows() -> set[tuple[str, str]]:
    """(route with a path parameter, earlier route with a fixed word there): a path of both is
    answered by the earlier (routes are tried in table order), so that word is not a value the
    later route's parameter can take. Found by filling the earlier route's own parameters with
    a digit (which every parameter's pattern admits) and matching the later route's pattern."""
    routes = http_routes()
    found = set()
    for index, later in enumerate(routes):
        pattern = compile_path(later.path)[0]
        for earlier in routes[:index]:
            if earlier.path != later.path and pattern.match(re.sub(r"{[^}]*}", "1", earlier.path)):
                found.add((later.path, earlier.path))
    return found


def test_fixed_words_that_a_path_parameter_cannot_take_are_listed() -> None:
    """docs/API.md's table of reserved words is the route table's: a symbol or an exchange
    literally named like a fixed word (``active``, ``health``, ``queues``) is answered by the
    fixed route, and the page says so."""
    documented = set(SHADOW_ROW.findall(API_MD.read_text()))
    assert documented == shadows()


def test_no_route_is_shadowed_whole() -> None:
    """A fixed route placed after a parameter route that takes all its paths would never be
    reached: each fixed route comes first."""
    routes = http_routes()
    for index, earlier in enumerate(routes):
        pattern = compile_path(earlier.path)[0]
        for later in routes[index + 1 :]:
            filled = re.sub(r"{[^}]*}", "1", later.path)
            assert not (pattern.match(filled) and "{" not in later.path), (earlier, later)
