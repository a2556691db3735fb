"""The tokens file (``tokens.py``): each malformed file refused with its own message naming
the entry and the field (never a token), and a file that goes away or comes back while the
API runs (``TokenFile``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from fullon_cache_api.tokens import CHECK_S, TokenFile, TokensError, digest, load, parse

TOKEN = "a-token-of-the-tests-0000001"
OTHER = "another-token-of-the-tests-1"
SHA = digest(TOKEN)


def entry(body: str, name: str = "screen", sha: str = SHA) -> str:
    return f'[[tokens]]\nname = "{name}"\nsha256 = "{sha}"\n{body}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.toml: no [[tokens]] table"),
        ("tokens = []\n", "f.toml: no [[tokens]] table"),
        ('tokens = "screen"\n', "f.toml: no [[tokens]] table"),
        (
            entry('scopes = ["market"]') + "[other]\n",
            "f.toml: unknown top-level key 'other' (only [[tokens]])",
        ),
        ('tokens = ["screen"]\n', "f.toml: tokens[0]: not a table"),
        (
            entry('scopes = ["market"]\nexpires = 3'),
            "f.toml: tokens[0]: unknown key 'expires'",
        ),
        (
            '[[tokens]]\nname = "a b"\n',
            "f.toml: tokens[0]: name must be 1 to 64 of A-Z a-z 0-9 _ . : -",
        ),
        (
            "[[tokens]]\nname = 7\n",
            "f.toml: tokens[0]: name must be 1 to 64 of A-Z a-z 0-9 _ . : -",
        ),
        (
            entry("scopes = []"),
            "f.toml: tokens[0] (screen): scopes must be a non-empty list",
        ),
        (
            entry('scopes = "market"'),
            "f.toml: tokens[0] (screen): scopes must be a non-empty list",
        ),
        (
            entry('scopes = ["market"]\nex_ids = "1"'),
            "f.toml: tokens[0] (screen): ex_ids must be a list of strings",
        ),
        (
            entry('scopes = ["market"]\nuids = [1, 2]'),
            "f.toml: tokens[0] (screen): uids must be a list of strings",
        ),
        (
            entry('scopes = ["market"]\nburst = 1.5'),
            "f.toml: tokens[0] (screen): burst must be a positive int",
        ),
        (
            entry('scopes = ["market"]\nrate = true'),
            "f.toml: tokens[0] (screen): rate must be a positive float",
        ),
        (
            entry('scopes = ["market"]\nrate = inf'),
            "f.toml: tokens[0] (screen): rate must be a positive float",
        ),
        (
            entry('scopes = ["market"]\nstreams = 0'),
            "f.toml: tokens[0] (screen): streams must be a positive int",
        ),
        (
            entry('scopes = ["market"]') + entry('scopes = ["*"]', name="ops"),
            "f.toml: a sha256 is used twice",
        ),
    ],
)
def test_each_malformed_file_has_its_own_message(text: str, message: str) -> None:
    with pytest.raises(TokensError) as refused:
        parse(text, "f.toml")
    assert str(refused.value) == message


def test_a_good_entry_keeps_its_lists_and_limits_typed() -> None:
    body = 'scopes = ["accounts", "accounts"]\nex_ids = ["1", "2"]\nrate = 2\nburst = 4.0'
    (token,) = parse(entry(body))
    assert (token.name, token.sha256.hex(), token.scopes) == ("screen", SHA, {"accounts"})
    assert (token.ex_ids, token.uids, token.bot_ids) == ({"1", "2"}, None, None)
    assert (token.rate, token.burst, token.streams) == (2.0, 4, None)
    assert type(token.rate) is float and type(token.burst) is int


def test_a_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_bytes(b'[[tokens]]\nname = "caf\xe9"\n')
    with pytest.raises(TokensError) as refused:
        load(str(path))
    assert str(refused.value).startswith(f"{path}: cannot read: 'utf-8' codec can't decode")


def test_a_file_gone_keeps_the_last_good_tokens_until_one_is_back(tmp_path: Path, caplog) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(entry('scopes = ["market"]'))
    tokens = TokenFile(str(path))
    assert tokens.current().find(TOKEN) is not None
    path.unlink()
    with caplog.at_level(logging.INFO, "fullon.cache_api.auth"):
        time.sleep(CHECK_S)  # looked at no more than once every CHECK_S
        table = tokens.current()  # the file is gone
        assert table.find(TOKEN) is not None and table.find(OTHER) is None
        assert tokens.current() is table  # still gone: no new error
        path.write_text(entry('scopes = ["*"]', name="ops", sha=digest(OTHER)))
        time.sleep(CHECK_S)
        table = tokens.current()
    assert table.find(OTHER) is not None and table.find(TOKEN) is None
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages[0][0] == "ERROR"
    assert messages[0][1].startswith(
        f"tokens file not reloaded, the last good one stays: {path}: cannot read: "
    )
    assert messages[1:] == [("INFO", "tokens file reloaded: 1 tokens")]
    assert TOKEN not in caplog.text and OTHER not in caplog.text
