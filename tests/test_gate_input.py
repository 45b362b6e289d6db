"""Bad input to `ormbench gate` and `history`: one line each, exit 4, nothing read forever."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.cli import subprocess_env
from ormbench.errors import EXIT_UNUSABLE, UnusableInputError
from ormbench.gate.runs import MAX_DEPTH, MAX_RUN_BYTES, load_run
from tests.test_gate import bench, run_doc


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Any], Path]:
    """Write a document (dict: JSON; str: raw text) under tmp_path."""

    def put(name: str, doc: Any) -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    return put


def _nan_head(doc: dict[str, Any]) -> None:
    for b in doc["benchmarks"]:
        b["extra_info"]["ratio_samples"] = [math.nan] * len(b["extra_info"]["ratio_samples"])


def _one_sample(value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["benchmarks"][0]["extra_info"]["ratio_samples"][3] = value

    return mutate


def _field(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["benchmarks"][0]["extra_info"][key] = value

    return mutate


def _floor_inf(doc: dict[str, Any]) -> None:
    doc["benchmarks"][0]["extra_info"]["floor_samples"][0] = math.inf


# Ways a head run of ormbench's own format can hold samples no test can rank.
BAD_SAMPLES = {
    "all-nan": (_nan_head, "ratio_samples[0] nan, not a finite number"),
    "one-nan": (_one_sample(math.nan), "ratio_samples[3] nan"),
    "string": (_one_sample("1.5"), "non-numeric ratio_samples[3]: '1.5'"),
    "null": (_one_sample(None), "non-numeric ratio_samples[3]: None"),
    "bool": (_one_sample(True), "non-numeric ratio_samples[3]: True"),
    "negative": (_one_sample(-1.5), "ratio_samples[3] = -1.5, not positive"),
    "floor-inf": (_floor_inf, "floor_samples[0] inf, not a finite number"),
    "samples-not-list": (_field("ratio_samples", "1.5,1.6"), "has no ratio samples"),
    "statements-text": (_field("statements", "one"), "non-numeric statements: 'one'"),
    "calls-nan": (_field("calls", math.nan), "calls nan, not a finite number"),
    "cpu-nan": (_field("cpu_ratio_samples", [math.nan] * 60), "cpu_ratio_samples[0] nan"),
    "cpu-short": (_field("cpu_ratio_samples", [1.5] * 3), "has 3 cpu_ratio_samples for 60"),
    "cpu-floor-missing": (
        _field("cpu_ratio_samples", [1.5] * 60),
        "has 0 cpu_floor_samples for 60",
    ),
}


def _runs(write: Callable[..., Path]) -> tuple[Path, dict[str, Any]]:
    names = ["canonical-p10-orm_scalars", "canonical-p10-dbapi_fetchall"]
    base = write("base.json", run_doc(*(bench(n, seed=i) for i, n in enumerate(names))))
    head = run_doc(*(bench(n, seed=10 + i) for i, n in enumerate(names)))
    return base, head


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_UNUSABLE, result.stdout + result.stderr
    assert result.stderr.startswith("ormbench: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    return result.stderr


@pytest.mark.parametrize("case", list(BAD_SAMPLES))
def test_bad_samples_are_unusable(write: Callable[..., Path], case: str) -> None:
    """NaN, infinite, negative, non-numeric samples and counters: refused, naming the value."""
    mutate, message = BAD_SAMPLES[case]
    base, head = _runs(write)
    mutate(head)
    with pytest.raises(UnusableInputError) as err:
        load_run(write("head.json", json.dumps(head)))  # json writes NaN and Infinity
    assert message in str(err.value) and "\n" not in str(err.value)
    assert load_run(base).benchmarks  # base itself is fine


def test_nan_head_exits_4_from_the_command(
    run_cli: Callable[..., Any], write: Callable[..., Path]
) -> None:
    """A head whose ratios are all NaN is unusable input, never a PASS."""
    base, head = _runs(write)
    _nan_head(head)
    err = _one_line(run_cli("gate", str(base), str(write("head.json", head))))
    assert "head.json" in err and "nan" in err


def test_same_file_twice_exits_4(run_cli: Callable[..., Any], write: Callable[..., Path]) -> None:
    """`ormbench gate X X` compares nothing: one line, exit 4."""
    base, _ = _runs(write)
    err = _one_line(run_cli("gate", str(base), str(base)))
    assert "given as both base and head" in err


def test_same_run_in_two_files_exits_4(
    run_cli: Callable[..., Any], write: Callable[..., Path], tmp_path: Path
) -> None:
    """A copy of the base run given as head (same samples): one line, exit 4, for the gate
    and for history."""
    base, _ = _runs(write)
    copy = tmp_path / "copy.json"
    copy.write_bytes(base.read_bytes())
    assert "hold the same run" in _one_line(run_cli("gate", str(base), str(copy)))
    assert "hold the same run" in _one_line(run_cli("history", str(base), str(copy)))


def test_the_same_run_twice_in_one_side_exits_4(
    run_cli: Callable[..., Any], write: Callable[..., Path], tmp_path: Path
) -> None:
    """A side's directory holding one run twice would pool its rounds twice: exit 4."""
    base, head = _runs(write)
    side = tmp_path / "head"
    side.mkdir()
    (side / "1.json").write_text(json.dumps(head))
    (side / "2.json").write_text(json.dumps(head))
    err = _one_line(run_cli("gate", str(base), str(side)))
    assert "runs of one side, hold the same run" in err


def _plain_pytest_benchmark(tmp_path: Path) -> Path:
    """A results file really written by pytest-benchmark, without ormbench's plugin."""
    (tmp_path / "test_other.py").write_text(
        "def test_sum(benchmark):\n    benchmark(sum, range(100))\n"
    )
    out = tmp_path / "other.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:ormbench",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_other.py"),
            "--benchmark-max-time=0.01",
            f"--benchmark-json={out}",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env=subprocess_env(),
        timeout=120,
    )
    return out


def _deep(tmp_path: Path, levels: int) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * levels + "]" * levels)
    return path


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:  # sparse: no disk used
        f.truncate(MAX_RUN_BYTES + 1)
    return path


# Files that are not a usable ormbench run, and the words of each one's message.
NOT_A_RUN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "pytest-benchmark-only": (_plain_pytest_benchmark, "not written with ormbench's pytest plugin"),
    "deep-for-the-parser": (lambda t: _deep(t, 100_000), "nests too deeply"),
    "deep-for-the-gate": (lambda t: _deep(t, MAX_DEPTH + 5), f"more than {MAX_DEPTH} levels"),
    "huge": (_huge, f"larger than {MAX_RUN_BYTES // 2**20} MiB"),
    "dev-zero": (lambda t: Path("/dev/zero"), f"larger than {MAX_RUN_BYTES // 2**20} MiB"),
    "random-json": (
        lambda t: _text(t, json.dumps({"name": "x", "values": [1, 2]})),
        "no 'benchmarks' list",
    ),
    "json-list": (lambda t: _text(t, "[1, 2, 3]"), "no 'benchmarks' list"),
    "not-json": (lambda t: _text(t, "name,median\nx,1.0\n"), "is not valid JSON"),
    "binary": (lambda t: _bytes(t, b"\x89PNG\r\n\x1a\n\xff\xfe"), "is not text"),
}


def _text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.json"
    path.write_text(text)
    return path


def _bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "file.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(NOT_A_RUN))
def test_files_that_are_not_runs_exit_4(
    run_cli: Callable[..., Any], write: Callable[..., Path], tmp_path: Path, case: str
) -> None:
    """Other tools' files, deep or huge files, /dev/zero: one line and exit 4 from `gate` (as
    head) and from `history` (named), in bounded time."""
    make, message = NOT_A_RUN[case]
    bad = make(tmp_path)
    base, _ = _runs(write)
    assert message in _one_line(run_cli("gate", str(base), str(bad), timeout=60))
    assert message in _one_line(run_cli("history", str(bad), timeout=60))
