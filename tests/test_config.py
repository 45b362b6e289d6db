"""Settings resolve option > env > ini > default, in the pytest plugin and in code."""

from __future__ import annotations

import pytest

from ormbench.config import parse_overrides, resolve
from ormbench.errors import ConfigError

PROBE = """
from ormbench.plugin import session_state

def test_probe(pytestconfig):
    s = session_state(pytestconfig).settings
    print(f"VALUE={s.pg_schema} SOURCE={s.source('pg_schema')}")
"""


@pytest.mark.parametrize(
    ("option", "env", "ini", "expected"),
    [
        ("from_opt", "from_env", "from_ini", "from_opt option"),
        (None, "from_env", "from_ini", "from_env env"),
        (None, None, "from_ini", "from_ini ini"),
        (None, None, None, "ormbench default"),
    ],
)
def test_layering_through_pytest(pg_pytester, monkeypatch, option, env, ini, expected):
    """A command-line option beats the env var, which beats the ini key, which beats the default."""
    pg_pytester.makepyfile(test_probe=PROBE)
    if ini:
        pg_pytester.makeini(f"[pytest]\npg_schema = {ini}\n")
    if env:
        monkeypatch.setenv("ORMBENCH_PG_SCHEMA", env)
    args = ["-s", "-p", "no:cacheprovider"] + ([f"--pg-schema={option}"] if option else [])
    result = pg_pytester.runpytest_subprocess(*args)
    value, source = expected.split()
    result.stdout.fnmatch_lines([f"*VALUE={value} SOURCE={source}*"])
    assert result.ret == 0


def test_argument_beats_everything():
    """A value passed by code (a fixture argument) wins over option, env and ini."""
    s = resolve(
        arguments={"dataset": "tiny"},
        options={"dataset": "ci"},
        env={"ORMBENCH_DATASET": "canonical"},
        ini={"dataset": "production"},
    )
    assert (s.dataset, s.source("dataset")) == ("tiny", "argument")


def test_every_layer_validates():
    """A bad value is rejected naming the layer it came from."""
    with pytest.raises(ConfigError, match=r"unknown value 'nope' for ORMBENCH_PG_BACKEND"):
        resolve(env={"ORMBENCH_PG_BACKEND": "nope"})
    with pytest.raises(ConfigError, match=r"ini pg_connect_timeout"):
        resolve(env={}, ini={"pg_connect_timeout": "soon"})
    with pytest.raises(ConfigError, match=r"--pg-schema='Bad;Schema' is not a plain"):
        resolve(env={}, options={"pg_schema": "Bad;Schema"})
    with pytest.raises(ConfigError, match=r"ORMBENCH_SETTLE_MS must be between 0 and 1000 ms"):
        resolve(env={"ORMBENCH_SETTLE_MS": "-1"})
    with pytest.raises(ConfigError, match=r"could not parse 'soon' for --settle-ms"):
        resolve(env={}, options={"settle_ms": "soon"})
    assert resolve(env={"ORMBENCH_SETTLE_MS": "0"}).settle_ms == 0.0


def test_overrides_parse():
    """KEY=VALUE lists parse, and a malformed pair is named."""
    assert parse_overrides("items=10, seed=7") == {"items": "10", "seed": "7"}
    with pytest.raises(ConfigError, match="could not parse 'items'"):
        parse_overrides("items")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORMBENCH_PG_CONNECT_TIMEOUT": "nan"}, "must be a finite number of seconds"),
        ({"ORMBENCH_PG_CONNECT_TIMEOUT": "inf"}, "must be a finite number of seconds"),
        ({"ORMBENCH_ROUND_BUDGET": "-inf"}, "must be a finite number of seconds"),
        ({"ORMBENCH_SETTLE_MS": "nan"}, "must be a finite number of milliseconds"),
        ({"ORMBENCH_PG_SCHEMA": "pg_foo"}, "reserved by PostgreSQL"),
        ({"ORMBENCH_PG_SCHEMA": "Bench"}, "not a plain lower-case SQL identifier"),
        ({"ORMBENCH_PG_SCHEMA": "s" * 43}, "at most 42"),
    ],
)
def test_unusable_values_are_refused(env: dict[str, str], message: str) -> None:
    """nan and inf, a pg_ schema and one too long to derive names from are refused in one line."""
    with pytest.raises(ConfigError, match=message) as info:
        resolve(env=env)
    assert "\n" not in str(info.value)
