"""nox sessions: tests on Python 3.11 and 3.13, lint (ruff), types (mypy), the demo server,
the benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


@nox.session(python=["3.11", "3.13"])
def tests(session: nox.Session) -> None:
    """The whole suite (slow tests included) against real redis-server processes."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy>=1.11")
    session.run("mypy")


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Serve the API on a private Redis with live sample data (Ctrl-C stops both)."""
    session.install("-e", ".[demo]")
    session.run("python", "-m", "fullon_cache_api", "--demo", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmarks: python benchmarks/run.py (about 5 minutes on 2 cores; wrk if installed).
    ``nox -s bench -- --quick`` for a smoke run, ``-- --only server,commands`` for some steps."""
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)
