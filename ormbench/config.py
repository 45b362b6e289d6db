"""Every ormbench setting, written down once.

Configuration flows one way: fixture argument > command-line option > environment variable >
ini key > default. The pytest plugin and the ``ormbench`` command both read this table, so an
option has one name, one help text and one parser wherever it is used.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ormbench.errors import ConfigError

BACKENDS = ("auto", "url", "docker", "local")
# A current major of the official image; the docker backend's default.
DEFAULT_PG_IMAGE = "postgres:17"
# Seconds to wait for a TCP connect before calling a server unreachable.
DEFAULT_CONNECT_TIMEOUT = 5.0
# PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
MAX_IDENTIFIER = 63
# Longest suffix ormbench appends to --pg-schema for schemas of its own (``_production`` of a
# test dataset plus ``_unindexed`` of a pathology's copy): a longer base would be truncated by
# PostgreSQL onto another schema's name.
DERIVED_SUFFIX_RESERVE = len("_production_unindexed")
MAX_SCHEMA = MAX_IDENTIFIER - DERIVED_SUFFIX_RESERVE
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Choices of --response (ormbench.response.paths.RESPONSE_KINDS, plus "app").
RESPONSES = ("pydantic", "pydantic_jsonresponse", "orjson", "server", "app")


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(value: str, source: str) -> str:
        if value not in choices:
            raise ConfigError(
                f"unknown value {value!r} for {source}; choose one of: {', '.join(choices)}"
            )
        return value

    return parse


def _choice_list(choices: tuple[str, ...]) -> Callable[[str, str], tuple[str, ...]]:
    one = _choice(choices)

    def parse(value: str, source: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
        if not items:
            raise ConfigError(f"{source} is empty; choose from: {', '.join(choices)}")
        return tuple(one(v, source) for v in items)

    return parse


def _float(value: str, source: str, unit: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"could not parse {value!r} for {source}: expected {unit}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{source} must be a finite number of {unit}, got {value!r}")
    return number


def _positive_float(value: str, source: str) -> float:
    number = _float(value, source, "seconds")
    if number <= 0:
        raise ConfigError(f"{source} must be a positive number of seconds, got {value!r}")
    return number


def _milliseconds(value: str, source: str) -> float:
    number = _float(value, source, "milliseconds")
    if not 0 <= number <= 1000:
        raise ConfigError(f"{source} must be between 0 and 1000 ms, got {value!r}")
    return number


def _identifier(value: str, source: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ConfigError(
            f"{source}={value!r} is not a plain lower-case SQL identifier "
            "(letters, digits, underscore, not starting with a digit); choose another"
        )
    if value.startswith("pg_"):
        raise ConfigError(
            f"{source}={value!r}: names starting with pg_ are reserved by PostgreSQL; "
            "choose another"
        )
    if len(value) > MAX_SCHEMA:
        raise ConfigError(
            f"{source}={value!r} is {len(value)} characters; at most {MAX_SCHEMA}, so that the "
            f"schemas ormbench derives from it (<schema>_<dataset>...) stay within PostgreSQL's "
            f"{MAX_IDENTIFIER} and are never truncated onto another; choose a shorter one"
        )
    return value


def derived_schema(base: str, suffix: str) -> str:
    """``<base>_<suffix>``, refused when PostgreSQL would truncate it (onto another name)."""
    name = f"{base}_{suffix}"
    if len(name.encode()) > MAX_IDENTIFIER:
        raise ConfigError(
            f"schema name {name!r} is longer than {MAX_IDENTIFIER} bytes and PostgreSQL would "
            "truncate it; choose a shorter --pg-schema"
        )
    return name


def _text(value: str, source: str) -> str:
    return value


def _positive_int(value: str, source: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"could not parse {value!r} for {source}: expected an integer") from None
    if number <= 0:
        raise ConfigError(f"{source} must be a positive integer, got {value!r}")
    return number


@dataclass(frozen=True)
class Setting:
    """One setting: its names in every layer, its default and its parser."""

    name: str
    help: str
    default: Any
    parse: Callable[[str, str], Any] = _text

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "ORMBENCH_" + self.name.upper()

    @property
    def ini(self) -> str:
        return self.name


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "pg_backend",
        "where PostgreSQL comes from: auto (url if given, else docker if an engine answers, "
        "else local binaries), url, docker or local",
        "auto",
        _choice(BACKENDS),
    ),
    Setting("pg_url", "URL of a running PostgreSQL server to use (backend 'url')", None),
    Setting("pg_image", "image for the docker backend", DEFAULT_PG_IMAGE),
    Setting(
        "pg_bindir",
        "directory holding initdb and postgres for the local backend "
        "(default: pg_config --bindir, then PATH, then the newest /usr/lib/postgresql/*/bin)",
        None,
    ),
    Setting(
        "pg_schema",
        "schema ormbench creates and works in; it never touches anything outside it",
        "ormbench",
        _identifier,
    ),
    Setting(
        "pg_connect_timeout",
        "seconds to wait when connecting before calling a server unreachable",
        DEFAULT_CONNECT_TIMEOUT,
        _positive_float,
    ),
    Setting(
        "dataset", "dataset profile to seed and benchmark (tiny, ci, canonical, production)", "ci"
    ),
    Setting(
        "dataset_set",
        "override dataset knobs, comma-separated KEY=VALUE (e.g. items=5000,seed=7)",
        "",
    ),
    Setting(
        "json_loader",
        "JSON decoder(s) psycopg uses for jsonb, comma-separated: json, orjson "
        "(each one is an axis of the benchmark matrix)",
        ("json",),
        _choice_list(("json", "orjson")),
    ),
    Setting(
        "response",
        "response renderings benchmarked by benchmarks/test_responses.py, comma-separated: "
        "pydantic, pydantic_jsonresponse, orjson, server, and app (the same through the "
        "FastAPI app); each one is an axis of the response matrix",
        RESPONSES,
        _choice_list(RESPONSES),
    ),
    Setting(
        "round_budget",
        "seconds of timed plus paired execution each benchmark aims for (more rounds: more "
        "statistical power, longer runs)",
        0.5,
        _positive_float,
    ),
    Setting(
        "settle_ms",
        "milliseconds of idle before every timed execution, so each starts from the same cold "
        "cache state whatever ran before it (0: back to back, as on a dedicated machine)",
        10.0,
        _milliseconds,
    ),
    Setting(
        "min_rounds",
        "fewest timed rounds of a benchmark, however slow it is",
        15,
        _positive_int,
    ),
    Setting(
        "strategies_from",
        "comma-separated importable modules that register extra strategies",
        "",
    ),
)


@dataclass(frozen=True)
class Resolved:
    """A setting's value and the layer it came from (for headers and error messages)."""

    value: Any
    source: str


@dataclass(frozen=True)
class Settings:
    """All settings of one run, each with the layer it came from."""

    values: Mapping[str, Resolved] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name].value
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.values[name].source


def resolve(
    *,
    arguments: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    ini: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting: argument > option > env > ini > default.

    ``options`` and ``ini`` hold raw values as pytest or argparse return them (None or ""
    when unset); ``arguments`` hold already-typed values passed by code, e.g. a fixture factory.
    """
    arguments = arguments or {}
    options = options or {}
    env = os.environ if env is None else env
    ini = ini or {}
    values: dict[str, Resolved] = {}
    for s in SETTINGS:
        if arguments.get(s.name) is not None:
            values[s.name] = Resolved(arguments[s.name], "argument")
        elif options.get(s.name) not in (None, ""):
            values[s.name] = Resolved(s.parse(str(options[s.name]), s.option), "option")
        elif env.get(s.env, "") != "":
            values[s.name] = Resolved(s.parse(env[s.env], s.env), "env")
        elif ini.get(s.name) not in (None, "", []):
            values[s.name] = Resolved(s.parse(str(ini[s.name]), f"ini {s.ini}"), "ini")
        else:
            values[s.name] = Resolved(s.default, "default")
    return Settings(values)


def parse_overrides(text: str, source: str = "--dataset-set") -> dict[str, str]:
    """Parse ``KEY=VALUE,KEY=VALUE`` into a dict, naming the bad pair if there is one."""
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"could not parse {pair!r} in {source}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


__all__ = [
    "BACKENDS",
    "SETTINGS",
    "Setting",
    "Settings",
    "derived_schema",
    "parse_overrides",
    "resolve",
]
