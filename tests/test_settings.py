"""Settings from the environment: names, fallbacks, and errors that name the variable; the
README's configuration tables against the declaration, and a setting declared once seen by
every reader of the declaration."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fullon_cache_api
from fullon_cache_api import Settings, SettingsError
from fullon_cache_api.settings import ServerSettings, Setting, declared


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.command_timeout < 1 and settings.pool_size == 50
    assert Settings() == settings  # each declared default passes its own check
    assert ServerSettings() == ServerSettings.from_env({})


def test_redis_names_then_master_api_cache_names() -> None:
    env = {"CACHE_HOST": "cache", "CACHE_PORT": "6380", "CACHE_DB": "2", "CACHE_PASSWORD": "p@ss"}
    assert Settings.from_env(env).redis_url == "redis://:p%40ss@cache:6380/2"
    env |= {"REDIS_HOST": "redis", "REDIS_DB": "1", "REDIS_USERNAME": "cache_api"}
    assert Settings.from_env(env).redis_url == "redis://cache_api:p%40ss@redis:6380/1"
    assert Settings.from_env(env).redis_db == 1
    env |= {"REDIS_URL": "rediss://r.example:7000/3"}
    assert Settings.from_env(env).redis_url == "rediss://r.example:7000/3"
    assert Settings.from_env(env).redis_db == 3


def test_api_settings() -> None:
    env = {
        "FULLON_CACHE_API_CONNECT_TIMEOUT": "0.25",
        "FULLON_CACHE_API_COMMAND_TIMEOUT": "0.1",
        "FULLON_CACHE_API_POOL_SIZE": "8",
        "FULLON_CACHE_API_POOL_TIMEOUT": "3",
        "FULLON_CACHE_API_TICKER_MAX_AGE": "90",
    }
    settings = Settings.from_env(env)
    assert (settings.connect_timeout, settings.command_timeout) == (0.25, 0.1)
    assert (settings.pool_size, settings.pool_timeout, settings.ticker_max_age) == (8, 3.0, 90.0)


def test_websocket_settings() -> None:
    defaults = Settings()
    assert (defaults.ws_max_sockets, defaults.ws_max_streams, defaults.ws_queue) == (1000, 50, 1000)
    assert (defaults.ws_max_frame, defaults.ws_idle_timeout) == (65536, 600.0)
    assert defaults.ws_poll_interval == 0.5
    env = {
        "FULLON_CACHE_API_WS_MAX_SOCKETS": "5000",
        "FULLON_CACHE_API_WS_MAX_STREAMS": "3",
        "FULLON_CACHE_API_WS_QUEUE": "100",
        "FULLON_CACHE_API_WS_MAX_FRAME": "4096",
        "FULLON_CACHE_API_WS_IDLE_TIMEOUT": "30",
        "FULLON_CACHE_API_WS_POLL_INTERVAL": "0.25",
    }
    settings = Settings.from_env(env)
    assert (settings.ws_max_sockets, settings.ws_max_streams, settings.ws_queue) == (5000, 3, 100)
    assert (settings.ws_max_frame, settings.ws_idle_timeout) == (4096, 30.0)
    assert settings.ws_poll_interval == 0.25


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REDIS_PORT": "abc"}, "REDIS_PORT"),
        ({"REDIS_PORT": "70000"}, "REDIS_PORT"),
        ({"CACHE_DB": "-1"}, "REDIS_DB"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"FULLON_CACHE_API_COMMAND_TIMEOUT": "soon"}, "FULLON_CACHE_API_COMMAND_TIMEOUT"),
        ({"FULLON_CACHE_API_CONNECT_TIMEOUT": "0"}, "FULLON_CACHE_API_CONNECT_TIMEOUT"),
        ({"FULLON_CACHE_API_POOL_SIZE": "0"}, "FULLON_CACHE_API_POOL_SIZE"),
        ({"FULLON_CACHE_API_POOL_SIZE": "2.5"}, "FULLON_CACHE_API_POOL_SIZE"),
        ({"FULLON_CACHE_API_TICKER_MAX_AGE": "inf"}, "FULLON_CACHE_API_TICKER_MAX_AGE"),
        ({"FULLON_CACHE_API_WS_MAX_SOCKETS": "0"}, "FULLON_CACHE_API_WS_MAX_SOCKETS"),
        ({"FULLON_CACHE_API_WS_QUEUE": "many"}, "FULLON_CACHE_API_WS_QUEUE"),
        ({"FULLON_CACHE_API_WS_POLL_INTERVAL": "-1"}, "FULLON_CACHE_API_WS_POLL_INTERVAL"),
    ],
)
def test_invalid_values_fail_naming_the_variable(env, variable) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_repr_hides_the_url_and_its_password() -> None:
    settings = Settings(redis_url="redis://:secret@h:1/0")
    assert "secret" not in repr(settings)


ONE, TWO = "one-token-0123456789", "two-token-0123456789"


def test_auth_settings() -> None:
    env = {
        "FULLON_CACHE_API_TOKENS": f" {ONE}, {TWO} ,",
        "FULLON_CACHE_API_PUBLIC_HEALTH": "false",
        "FULLON_CACHE_API_PUBLIC_DOCS": "0",
    }
    settings = Settings.from_env(env)
    assert settings.tokens == (ONE, TWO)
    assert settings.public_health is False and settings.public_docs is False
    assert ONE not in repr(settings)
    assert Settings.from_env({}).tokens == ()
    with pytest.raises(SettingsError, match="FULLON_CACHE_API_PUBLIC_HEALTH"):
        Settings.from_env({"FULLON_CACHE_API_PUBLIC_HEALTH": "maybe"})


def test_sentinel_settings() -> None:
    defaults = Settings.from_env({})
    assert defaults.sentinels == () and defaults.sentinel_service == "mymaster"
    assert defaults.read_from == "replica" and defaults.sentinel_password is None
    env = {
        "FULLON_CACHE_API_SENTINELS": " s1:26379, 10.0.0.2:26380 ,[::1]:26381,",
        "FULLON_CACHE_API_SENTINEL_SERVICE": " cache ",
        "FULLON_CACHE_API_READ_FROM": "Master",
        "FULLON_CACHE_API_SENTINEL_PASSWORD": "sentinel-secret",
    }
    settings = Settings.from_env(env)
    assert settings.sentinels == (("s1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert settings.sentinel_service == "cache" and settings.read_from == "master"
    assert settings.sentinel_password == "sentinel-secret"
    assert "sentinel-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FULLON_CACHE_API_SENTINELS": "s1"}, "FULLON_CACHE_API_SENTINELS"),
        ({"FULLON_CACHE_API_SENTINELS": "s1:26379,s2:"}, "FULLON_CACHE_API_SENTINELS"),
        ({"FULLON_CACHE_API_SENTINELS": ":26379"}, "FULLON_CACHE_API_SENTINELS"),
        ({"FULLON_CACHE_API_SENTINELS": "s1:0"}, "FULLON_CACHE_API_SENTINELS"),
        ({"FULLON_CACHE_API_SENTINELS": "s1:70000"}, "FULLON_CACHE_API_SENTINELS"),
        ({"FULLON_CACHE_API_SENTINELS": "s1:port"}, "FULLON_CACHE_API_SENTINELS"),
        ({"FULLON_CACHE_API_SENTINELS": "::1:26379"}, "FULLON_CACHE_API_SENTINELS"),
        (
            {"FULLON_CACHE_API_SENTINELS": "s1:26379", "REDIS_URL": "unix:///tmp/redis.sock"},
            "FULLON_CACHE_API_SENTINELS",
        ),
        ({"FULLON_CACHE_API_READ_FROM": "primary"}, "FULLON_CACHE_API_READ_FROM"),
    ],
)
def test_invalid_sentinel_values_fail_naming_the_variable(env, variable) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_sentinel_fields_are_checked_when_built_directly() -> None:
    with pytest.raises(SettingsError, match="read_from"):
        Settings(read_from="primary")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="sentinels"):
        Settings(sentinels=(("s1", 0),))
    with pytest.raises(SettingsError, match="sentinel_service"):
        Settings(sentinels=(("s1", 26379),), sentinel_service=" ")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "is set but holds no token"),
        (",", "is set but holds no token"),
        ("   ", "is set but holds no token"),
        ("short-token", "token 1 has 11 characters; at least 16"),
        (f"{ONE},tiny", "token 2 has 4 characters"),
        ("tökén-with-accents-0123", "printable ASCII"),
        ("token\twith-a-tab-0123456", "printable ASCII"),
    ],
)
def test_tokens_fail_closed(raw: str, message: str) -> None:
    """A token variable that is set must yield usable tokens: never auth off by accident."""
    with pytest.raises(SettingsError, match=message) as error:
        Settings.from_env({"FULLON_CACHE_API_TOKENS": raw})
    assert "FULLON_CACHE_API_TOKENS" in str(error.value)
    assert raw.strip(" ,") == "" or raw not in str(error.value)  # never echoes a token


def test_tokens_given_directly_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="token 1 has 5 characters"):
        Settings(tokens=("short",))
    with pytest.raises(SettingsError, match="printable ASCII"):
        Settings(tokens=("tökén-with-accents-0123",))


@pytest.mark.parametrize(
    "url", ["redis://host:port/0", "redis://host:99999999999/0", "redis://h:6379/notadb"]
)
def test_a_malformed_url_is_a_settings_error(url: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": url})


def test_bounds_settings() -> None:
    env = {
        "FULLON_CACHE_API_REQUEST_TIMEOUT": "2.5",
        "FULLON_CACHE_API_MAX_VALUE_BYTES": "65536",
        "FULLON_CACHE_API_HEAVY_CONCURRENCY": "2",
    }
    settings = Settings.from_env(env)
    assert (settings.request_timeout, settings.max_value_bytes) == (2.5, 65536)
    assert settings.heavy_concurrency == 2
    with pytest.raises(SettingsError, match="FULLON_CACHE_API_MAX_VALUE_BYTES"):
        Settings.from_env({"FULLON_CACHE_API_MAX_VALUE_BYTES": "10"})


# The README's configuration tables, against the declaration ---------------------------------------

README = Path(__file__).parents[1] / "README.md"
NOT_DECLARED = {
    # prometheus_client's own variable: the server sets it for its workers when it is unset
    ("PROMETHEUS_MULTIPROC_DIR",),
}


def configuration_tables(text: str) -> dict[tuple[str, ...], list[dict[str, str]]]:
    """The tables of the README's Configuration section, by their header: rows of cells."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[tuple[str, ...], list[dict[str, str]]] = {}
    header: tuple[str, ...] = ()
    for line in section.splitlines():
        if not line.startswith("|"):
            header = ()
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if not header:
            header = tuple(cells)
            tables[header] = []
        elif not set("".join(cells)) <= set("-: "):
            tables[header].append(dict(zip(header, cells, strict=True)))
    return tables


def code(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([^`]*)`", cell))


def written_default(cell: str) -> str:
    """A default cell's default: its first word, or what its first code span holds."""
    found = re.match(r"`([^`]*)`|[a-z]+", cell)
    return "" if found is None else found[0].strip("`")


def default_problem(setting: Setting, written: str, row: str) -> list[str]:
    """What is wrong with ``written``, the README's default of ``setting`` in ``row``."""
    if not written:
        same = not setting.shown_default
    else:
        try:
            same = setting.kind.parse(written) == setting.default
        except ValueError:
            same = False
    if same:
        return []
    return [f"row {row} says default {written or 'unset'!r}, declared {setting.shown_default!r}"]


def readme_problems(text: str) -> list[str]:
    """What the README's Configuration tables miss or say otherwise than the declaration: a
    row per app setting (``Settings``, and the variables that make the Redis URL) with its
    variables and default, a row per server flag (``ServerSettings``) with its variable and
    default; and no row for anything undeclared."""
    tables = configuration_tables(text)
    problems: list[str] = []
    rows = {code(row["variable"]): row for row in tables[("variable", "default", "meaning")]}
    for setting in declared(Settings):
        for each in (setting, *setting.parts):
            row = rows.pop(each.variables, None)
            shown = " ".join(each.variables)
            if row is None:
                default = each.shown_default or "unset"
                problems.append(f"no row for {shown} (default {default}): {each.help}")
            else:
                problems += default_problem(each, written_default(row["default"]), shown)
    problems += [
        f"row {' '.join(names)} is no declared setting"
        for names in rows
        if names not in NOT_DECLARED
    ]
    flags = {code(row["flag"])[0]: row for row in tables[("flag", "variable", "default")]}
    for setting in declared(ServerSettings):
        row = flags.pop(setting.option, None)
        if row is None:
            problems.append(f"no row for {setting.option} (env {setting.label}): {setting.help}")
        elif code(row["variable"]) != setting.variables:
            problems.append(f"row {setting.option} names {row['variable'] or 'no variable'}")
        else:
            problems += default_problem(setting, written_default(row["default"]), setting.option)
    problems += [f"row {flag} is no declared server setting" for flag in flags]
    return problems


def test_the_readme_configuration_tables_are_the_declared_settings() -> None:
    problems = readme_problems(README.read_text())
    assert not problems, "README.md, Configuration:\n  " + "\n  ".join(problems)


def test_the_readme_check_sees_a_missing_row_and_a_wrong_default() -> None:
    text = README.read_text()
    assert not readme_problems(text)
    row = next(
        line for line in text.splitlines() if line.startswith("| `FULLON_CACHE_API_WS_QUEUE`")
    )
    [missing] = readme_problems(text.replace(row + "\n", ""))
    assert missing.startswith("no row for FULLON_CACHE_API_WS_QUEUE (default 1000): Messages")
    wrong = text.replace(row, row.replace("`1000`", "`999`"))
    assert readme_problems(wrong) == [
        "row FULLON_CACHE_API_WS_QUEUE says default '999', declared '1000'"
    ]


# A setting declared once, seen by every reader of the declaration ---------------------------------

FAKE = {
    "Settings": '    fake_knob: int = setting(7, IntRange(1, 9), "A test\'s knob.")\n',
    "ServerSettings": '    fake_flag: bool = setting(False, Switch(), "a test\'s flag")\n',
}


def package_with_fake_settings(root: Path) -> Path:
    """A copy of the package under ``root`` whose declaration has one more field in
    ``Settings`` and in ``ServerSettings`` (after their last one), and nothing else changed."""
    copy = root / "fullon_cache_api"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(fullon_cache_api.__file__).parent, copy, ignore=ignore)
    source = (copy / "settings.py").read_text()
    lines = source.splitlines(keepends=True)
    after: dict[int, str] = {}  # a class's last field's last line -> the fake field
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name in FAKE:
            fields = [field for field in node.body if isinstance(field, ast.AnnAssign)]
            after[max(field.end_lineno or 0 for field in fields)] = FAKE[node.name]
    for line in sorted(after, reverse=True):
        lines.insert(line, after[line])
    (copy / "settings.py").write_text("".join(lines))
    return copy


@pytest.mark.slow
def test_a_setting_declared_once_is_in_help_in_settings_and_asked_of_the_readme(tmp_path) -> None:
    """One field added to the declaration, in a copy of the package run in its own processes,
    and nothing else: ``--help`` lists it (the app's as a variable, the server's as a flag),
    ``Settings`` and ``ServerSettings`` read and check it from its variable, the flag sets it,
    and the README check fails naming its missing row."""
    copy = package_with_fake_settings(tmp_path)

    def python(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        # Not measured by `nox -s coverage`: the copy is not the package's source.
        inherited = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_START"}
        env = {**inherited, "PYTHONPATH": str(tmp_path), **env}
        command = [sys.executable, *args]
        return subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    shown = python("-m", "fullon_cache_api", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "FULLON_CACHE_API_FAKE_KNOB, default 7\n      A test's knob." in shown.stdout
    flag = re.search(r"--fake-flag, --no-fake-flag\s+a test's flag \(env\s+(\w+)", shown.stdout)
    assert flag is not None and flag[1] == "FULLON_CACHE_API_FAKE_FLAG", shown.stdout

    read = python(
        "-c",
        "import fullon_cache_api as api\n"
        "from fullon_cache_api.__main__ import parse_args\n"
        "print(api.__file__, api.Settings.from_env().fake_knob, parse_args([]).fake_flag,"
        " parse_args(['--no-fake-flag']).fake_flag)",
        FULLON_CACHE_API_FAKE_KNOB="3",
        FULLON_CACHE_API_FAKE_FLAG="on",
    )
    assert read.stdout.split() == [str(copy / "__init__.py"), "3", "True", "False"], read.stderr
    refused = python("-m", "fullon_cache_api", FULLON_CACHE_API_FAKE_KNOB="10")
    assert refused.returncode == 2
    assert refused.stderr == (
        "fullon_cache_api: invalid setting: FULLON_CACHE_API_FAKE_KNOB must be an integer from 1 "
        "to 9, got 10\n"
    )

    check = f"{__file__}::test_the_readme_configuration_tables_are_the_declared_settings"
    checked = python("-m", "pytest", check, "-p", "no:cacheprovider", "-q")
    assert checked.returncode == 1, checked.stdout
    assert "no row for FULLON_CACHE_API_FAKE_KNOB (default 7): A test's knob." in checked.stdout
    assert (
        "no row for --fake-flag (env FULLON_CACHE_API_FAKE_FLAG): a test's flag" in checked.stdout
    )
