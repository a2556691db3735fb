"""nox sessions: tests on Python 3.11 and 3.13, lint (ruff), types (mypy), the demo server,
the benchmarks; the suite on a loaded machine, on the lowest and on the newest declared
dependencies; the lock (constraints.txt), coverage, mutation testing and the Python client's
typing stub.

Every session but ``tests-lowest`` and ``tests-latest`` installs the versions pinned in
``constraints.txt`` (``nox -s lock`` writes it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

HERE = Path(__file__).parent
CONSTRAINTS = str(HERE / "constraints.txt")
UNPINNED = {"PIP_CONSTRAINT": ""}  # pip reads an empty list: no constraints file at all


def install(session: nox.Session, *args: str) -> None:
    """``pip install`` with the pinned versions of constraints.txt."""
    session.install("-c", CONSTRAINTS, *args, env=UNPINNED)


@nox.session(python=["3.11", "3.13"])
def tests(session: nox.Session) -> None:
    """The whole suite (slow tests included) against real redis-server processes."""
    install(session, "-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, then on code that uses the Python client (its stub's
    types: tests/test_client_types.py, skipped where mypy is not installed)."""
    install(session, "-e", ".[test]", "mypy")
    session.run("mypy")
    session.run("pytest", "-q", "-p", "no:randomly", "tests/test_client_types.py")


@nox.session(python="3.11")
def stubs(session: nox.Session) -> None:
    """Write the Python client's typing stub, fullon_cache_api/_client_api.pyi, from the route
    table (after a route is added or changed; tests/test_client_types.py fails until then)."""
    install(session, "-e", ".[client]")
    stub = HERE / "fullon_cache_api" / "_client_api.pyi"
    written = Path(session.create_tmp()) / stub.name
    with written.open("w") as out:  # the stub is replaced only once it is written whole
        session.run("python", "-m", "fullon_cache_api.client", "--stub", stdout=out)
    written.replace(stub)


BUSY_LOOP = "while True: pass"


@nox.session(name="tests-loaded", python="3.11")
def tests_loaded(session: nox.Session) -> None:
    """The README's test command on a busy machine: two busy-loop processes (normal priority,
    one per core of a 2-core machine) run for as long as the suite does. Nothing in the suite
    asserts a wall-clock threshold that this load can break."""
    install(session, "-e", ".[test]")
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(2)]
    try:
        session.run("python", "-m", "pytest", *session.posargs)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _lowest_constraints(session: nox.Session) -> str:
    """A constraints file of ``name==lower bound`` for every runtime dependency of
    pyproject.toml (markers kept), written into the session's directory."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]
    lines = []
    for text in project["dependencies"]:
        requirement = Requirement(text)
        lowest = [s.version for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        assert lowest, f"no lower bound: {text}"
        marker = f"; {requirement.marker}" if requirement.marker else ""
        lines.append(f"{requirement.name}=={lowest[0]}{marker}")
    path = Path(session.create_tmp()) / "lowest.txt"
    path.write_text("\n".join(lines) + "\n")
    session.log("lowest: " + ", ".join(line.split(";")[0] for line in lines))
    return str(path)


@nox.session(name="tests-lowest", python="3.11")
def tests_lowest(session: nox.Session) -> None:
    """The suite and mypy on the lowest version of every runtime dependency pyproject.toml
    declares (its test tools as pinned in constraints.txt where they allow it)."""
    session.install("packaging", env=UNPINNED)
    lowest = _lowest_constraints(session)
    session.install("-c", lowest, "-e", ".[test]", "mypy", env=UNPINNED)
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("mypy")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(name="tests-latest", python="3.13")
def tests_latest(session: nox.Session) -> None:
    """The suite and mypy on the newest release of everything (no constraints): what a fresh
    install gets today."""
    session.install("--upgrade", "-e", ".[test]", "mypy", env=UNPINNED)
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("mypy")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11", venv_backend="none")
def lock(session: nox.Session) -> None:
    """Write constraints.txt: ``pip freeze`` of a fresh venv with ``.[dev]`` (the test extra,
    ruff, mypy, nox) installed unconstrained on Python 3.11."""
    scratch = Path(session.create_tmp()) / "lock-venv"
    session.run("python3.11", "-m", "venv", "--clear", str(scratch), external=True)
    pip = str(scratch / "bin" / "pip")
    session.run(pip, "install", "-q", "-e", f"{HERE}[dev]", env=UNPINNED, external=True)
    frozen = session.run(
        pip, "freeze", "--exclude-editable", env=UNPINNED, external=True, silent=True
    )
    assert isinstance(frozen, str)
    pins = sorted(
        (line for line in frozen.splitlines() if "==" in line),
        key=lambda line: line.split("==")[0].lower(),
    )
    header = (
        "# The pinned versions CI and the nox sessions install (PIP_CONSTRAINT, pip -c).\n"
        "# Generated by `nox -s lock` (pip freeze of a fresh Python 3.11 venv with .[dev]);\n"
        "# do not edit by hand.\n"
    )
    Path(CONSTRAINTS).write_text(header + "\n".join(pins) + "\n")
    session.log(f"{len(pins)} pins written to constraints.txt")


@nox.session(python="3.13")
def coverage(session: nox.Session) -> None:
    """The suite under coverage (line and branch, subprocesses included: the served API),
    reported per file with the missing lines. On Python 3.13: 3.11's tracer loses the rest of
    an async frame resumed by a thrown exception (python/cpython#106749)."""
    install(session, "-e", ".[test]", "coverage")
    env = {"COVERAGE_PROCESS_START": str(HERE / "pyproject.toml")}
    site = session.run(
        "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", silent=True
    )
    assert isinstance(site, str)
    Path(site.strip(), "fullon_cache_api_coverage.pth").write_text(
        "import coverage; coverage.process_startup()\n"
    )
    (HERE / ".nox" / "coverage-data").mkdir(parents=True, exist_ok=True)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs, env=env)
    session.run("coverage", "combine")
    session.run("coverage", "report", "--show-missing")


@nox.session(python="3.11")
def mutants(session: nox.Session) -> None:
    """Mutation testing: mutmut mutates the pure modules (keys, params, times, ids) and runs
    their tests that need no redis-server against each mutant ([tool.mutmut] in pyproject.toml;
    under a minute on 2 cores). Prints the killed share per module and fails when a mutant
    survives that docs/MUTANTS.md does not list (with why it is equivalent or acceptable)."""
    install(session, "-e", ".[test]", "mutmut")
    shutil.rmtree(HERE / "mutants", ignore_errors=True)  # no result of an earlier run is reused
    session.run("mutmut", "run", *session.posargs)
    results = session.run("mutmut", "results", "--all", "true", silent=True)
    assert isinstance(results, str)
    # "    fullon_cache_api.times.x_to_epoch__mutmut_16: survived"
    found = re.findall(r"^\s*fullon_cache_api\.(\w+)\.(\S+): (.+)$", results, re.MULTILINE)
    session.log("module   killed / mutants")
    for module in sorted({module for module, _, _ in found}):
        statuses = [status for name, _, status in found if name == module]
        killed = statuses.count("killed")
        share = f"{killed / len(statuses):.1%}"
        session.log(f"{module:8} {killed:4} / {len(statuses):<4} {share:>6}")
    listed = (HERE / "docs" / "MUTANTS.md").read_text()
    unlisted = [
        f"{module}.{name}: {status}"
        for module, name, status in found
        if status != "killed" and f"{module}.{name}" not in listed
    ]
    if unlisted:
        session.error(
            "not killed and not in docs/MUTANTS.md (mutmut show NAME): " + ", ".join(unlisted)
        )


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Serve the API on a private Redis with live sample data (Ctrl-C stops both)."""
    install(session, "-e", ".[demo]")
    session.run("python", "-m", "fullon_cache_api", "--demo", *session.posargs)


@nox.session(python="3.11")
def screenshots(session: nox.Session) -> None:
    """docs/live-desktop.png, live-phone.png and live-dark.png: the live page on the demo in
    headless Chromium (``chromium`` on PATH), as the README shows it."""
    install(session, "-e", ".[demo]", "httpx")
    session.run("python", "docs/screenshots.py", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmarks: python benchmarks/run.py (about 5 minutes on 2 cores; wrk if installed).
    ``nox -s bench -- --quick`` for a smoke run, ``-- --only server,commands`` for some steps."""
    install(session, "-e", ".[bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python="3.11")
def latency(session: nox.Session) -> None:
    """The latency targets the tests do not assert: python benchmarks/latency.py (about a
    minute; ``-- --quick`` for a smoke run). Reported, never asserted."""
    install(session, "-e", ".[test]")
    session.run("python", "benchmarks/latency.py", *session.posargs)


if os.environ.get("CI"):  # CI reuses nothing from an earlier run
    nox.options.reuse_existing_virtualenvs = False
