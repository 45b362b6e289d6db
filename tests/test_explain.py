"""``ormbench explain``: the --json document keeps its documented schema, --vs says plainly
whether two strategies sent the same SQL and got the same plan, and the text ends with a
verdict."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import jsonschema
import pytest

from ormbench.explain import SCHEMA_VERSION, Comparison, explain_schema
from ormbench.measure.phases import PHASES

DOC = Path(__file__).resolve().parent.parent / "docs" / "explain-json.md"
# Repeats per phase table in these runs: the tests check structure and verdicts, not timings.
REPEATS = "3"

RunCli = Callable[..., CompletedProcess[str]]


EXPLAIN_SCHEMA = explain_schema()


def validate(document: object, schema: dict = EXPLAIN_SCHEMA) -> list[str]:
    """Where ``document`` breaks ``schema``, as ``path: message`` lines (empty if valid)."""
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(document))


def _schema_block(text: str) -> dict:
    """The JSON block under the doc's '## Schema' heading."""
    section = text.split("\n## Schema", 1)[1]
    match = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert match, "docs/explain-json.md has no ```json block under '## Schema'"
    return json.loads(match.group(1))


def test_schema_is_valid_json_schema() -> None:
    """schema.json is itself a valid JSON Schema 2020-12 document, at the current version."""
    jsonschema.Draft202012Validator.check_schema(EXPLAIN_SCHEMA)
    assert EXPLAIN_SCHEMA["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_doc_mirrors_the_schema_file() -> None:
    """docs/explain-json.md carries exactly ormbench/explain/schema.json and documents every
    field."""
    text = DOC.read_text()
    assert _schema_block(text) == EXPLAIN_SCHEMA
    for key in [*EXPLAIN_SCHEMA["properties"], *PHASES]:
        assert f"`{key}`" in text, f"docs/explain-json.md does not describe {key!r}"
    for name, definition in EXPLAIN_SCHEMA["$defs"].items():
        assert f"`{name}`" in text
        for key in definition.get("properties", {}):
            assert f"`{key}`" in text, f"docs/explain-json.md does not describe {name}.{key}"


def test_schema_catches_a_broken_document() -> None:
    """The schema rejects a missing key, a wrong type, an extra key and a bad enum."""
    node = {
        "node_type": "Limit",
        "relation": None,
        "index": None,
        "join_type": None,
        "direction": None,
        "parent": None,
        "subplan": None,
        "children": [],
    }
    schema = {"$ref": "#/$defs/plan_node", "$defs": EXPLAIN_SCHEMA["$defs"]}
    assert validate(node, schema) == []
    broken = copy.deepcopy(node)
    del broken["index"]
    broken["relation"] = 3
    broken["cost"] = 1.0
    broken["children"] = [{"node_type": True}]
    problems = validate(broken, schema)
    assert "$: 'index' is a required property" in problems
    assert "$.relation: 3 is not of type 'string', 'null'" in problems
    assert any(p.startswith("$: Additional properties") and "'cost'" in p for p in problems)
    assert any(p.startswith("$.children[0]") for p in problems)
    mode = {"plan": "sometimes", "prepared": False, "evidence": ""}
    mode_schema = {"$ref": "#/$defs/plan_mode", "$defs": EXPLAIN_SCHEMA["$defs"]}
    assert validate(mode, mode_schema) == [
        "$.plan: 'sometimes' is not one of ['custom', 'generic', 'unknown']"
    ]


@pytest.fixture(scope="module")
def cli_args(tiny_cli_args: list[str]) -> list[str]:
    return [*tiny_cli_args, f"--repeats={REPEATS}"]


def _explain(run_cli: RunCli, cli_args: list[str], *args: str) -> CompletedProcess[str]:
    result = run_cli("explain", *cli_args, *args, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_explain_json_has_the_documented_schema(run_cli: RunCli, cli_args: list[str]) -> None:
    """--json prints one document valid against EXPLAIN_SCHEMA, with warm and cold tables."""
    result = _explain(run_cli, cli_args, "--strategy", "orm_scalars", "--json", "--cold")
    doc = json.loads(result.stdout)
    assert validate(doc) == []
    assert doc["schema_version"] == SCHEMA_VERSION
    (report,) = doc["strategies"]
    assert report["counters"]["statements"] == len(report["statements"]) == 1
    assert report["phases"]["warm"]["cache"] == ["hit"]
    assert report["phases"]["cold"]["cache"] == ["miss"]
    assert report["phases"]["warm"]["repeats"] == int(REPEATS)
    assert report["statements"][0]["plan_mode"]["plan"] == "custom"
    assert doc["comparison"] is None


def test_explain_text_ends_with_the_verdict(run_cli: RunCli, cli_args: list[str]) -> None:
    """The text shows SQL, plan, counters and phases, and ends with the dominant layer."""
    out = _explain(run_cli, cli_args, "--strategy", "dbapi_fetchall").stdout
    for section in ("SQL sent: 1 statement", "Plan [1]:", "Counters: statements 1"):
        assert section in out
    assert "wire and driver" in out and "measured total" in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"-?\d+% \S.*", last), last


def test_explain_vs_same_sql_same_plan(run_cli: RunCli, cli_args: list[str]) -> None:
    """orm_scalars and core_select send byte-identical SQL: 'same SQL, same plan'."""
    out = _explain(run_cli, cli_args, "--strategy", "orm_scalars", "--vs", "core_select").stdout
    assert out.strip().splitlines()[-1] == "orm_scalars vs core_select: same SQL, same plan"


def test_explain_vs_different_sql(run_cli: RunCli, cli_args: list[str]) -> None:
    """orm_query_all labels every column (AS ...): different SQL, and the diff says why."""
    out = _explain(run_cli, cli_args, "--strategy", "orm_scalars", "--vs", "orm_query_all").stdout
    last = out.strip().splitlines()[-1]
    assert last.startswith("orm_scalars vs orm_query_all: different SQL, "), last
    assert "the same statement but for column labels" in out


def test_explain_vs_json_comparison(run_cli: RunCli, cli_args: list[str]) -> None:
    """--vs --json fills the comparison: load_only selects fewer columns, same page ids."""
    result = _explain(
        run_cli, cli_args, "--strategy", "orm_scalars", "--vs", "orm_load_only", "--json"
    )
    doc = json.loads(result.stdout)
    assert validate(doc) == []
    comparison = doc["comparison"]
    assert comparison["strategies"] == ["orm_scalars", "orm_load_only"]
    assert comparison["same_sql"] is False and comparison["sql_diff"]
    assert comparison["same_page"] is True
    assert comparison["verdict"].startswith("different SQL, ")


def test_explain_unknown_strategy_is_one_line(run_cli: RunCli, cli_args: list[str]) -> None:
    """A mistyped strategy is one error line naming the known ones, before any server work."""
    result = run_cli("explain", *cli_args, "--strategy", "orm_nope")
    assert result.returncode == 2
    assert result.stderr.startswith("ormbench: unknown strategy 'orm_nope'; known: ")
    assert "Traceback" not in result.stderr


def test_explain_response_paths_have_the_response_phases(
    run_cli: RunCli, cli_args: list[str]
) -> None:
    """A response path (STRATEGY-RESPONSE) is explained like a strategy, its rendering split
    into Pydantic validation and serialization; a path without validation has 0 there."""
    result = _explain(
        run_cli,
        cli_args,
        "--strategy",
        "orm_scalars-pydantic",
        "--vs",
        "dbapi_fetchall-orjson",
        "--json",
    )
    doc = json.loads(result.stdout)
    assert validate(doc) == []
    production, floor = doc["strategies"]
    assert (production["strategy"], production["response"]) == ("orm_scalars-pydantic", "pydantic")
    assert (floor["strategy"], floor["response"]) == ("dbapi_fetchall-orjson", "orjson")
    assert floor["phases"]["warm"]["phases"]["validate"] == 0
    assert list(production["phases"]["warm"]["phases"]) == list(PHASES)
    for report in (production, floor):
        assert report["counters"]["statements"] == 1
        assert report["counters"]["rows_returned"] == doc["page_size"]
    assert doc["comparison"]["same_sql"] is True
    assert doc["comparison"]["same_page"] is True


def test_explain_response_path_text(run_cli: RunCli, cli_args: list[str]) -> None:
    """The text report of a response path names its validation and serialization phases."""
    out = _explain(run_cli, cli_args, "--strategy", "orm_columns_reused-pydantic").stdout
    assert "== orm_columns_reused-pydantic: ORM Rows of a reused statement" in out
    assert "Pydantic validation" in out and "serialize JSON body" in out


def test_explain_unknown_response_path_is_one_line(run_cli: RunCli, cli_args: list[str]) -> None:
    """A mistyped response path is one error line naming the known paths."""
    result = run_cli("explain", *cli_args, "--strategy", "orm_scalars-xml")
    assert result.returncode == 2
    assert result.stderr.startswith("ormbench: unknown response path 'orm_scalars-xml'; known: ")
    assert "orm_scalars-pydantic" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("strategy", ["orm_columns_autocommit", "dbapi_fetchall"])
def test_explain_counts_no_transaction_in_autocommit(
    run_cli: RunCli, cli_args: list[str], strategy: str
) -> None:
    """Round trips: the autocommit path's one statement is one; the floor's three (BEGIN,
    the page, ROLLBACK)."""
    doc = json.loads(_explain(run_cli, cli_args, "--strategy", strategy, "--json").stdout)
    counters = doc["strategies"][0]["counters"]
    expected = (1, 0) if strategy == "orm_columns_autocommit" else (3, 1)
    assert (counters["round_trips"], counters["transactions"]) == expected


def test_comparison_verdicts_are_plain() -> None:
    """The comparison says same/different SQL and same/different plan, naming the node."""
    scan = "Index Scan using ix on content_items_auto -> Seq Scan on content_items_auto"

    def verdict(same_sql: bool, plan_diff: tuple[str, ...]) -> str:
        return Comparison(("a", "b"), same_sql, not plan_diff, True, (), plan_diff).verdict

    assert verdict(True, ()) == "same SQL, same plan"
    assert verdict(False, ()) == "different SQL, same plan"
    assert verdict(False, (scan,)) == f"different SQL, different plan: {scan}"
    assert verdict(True, (scan,)) == f"same SQL, different plan: {scan}"
