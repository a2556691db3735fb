"""Settings from the environment: names, fallbacks, and errors that name the variable."""

from __future__ import annotations

import pytest

from fullon_cache_api import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.command_timeout < 1 and settings.pool_size == 50


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
