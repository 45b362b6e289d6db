"""The perf workflow rehearsed: perf.yml's gate, history and production jobs run step by step on
real commits of a scratch repository with a local bare origin (tests/workflow_runner.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ormbench.pg import PgServer
from ormbench.pg.connect import connect
from ormbench.pg.schema import drop_owned_schema
from tests.workflow_runner import REPO, JobResult, Runner, StandInFailure, check_custom_benchmark

pytestmark = pytest.mark.workflow

# The rehearsal's gate policy, committed in the scratch repository's ormbench-gate.toml (both
# sides): the tiny dataset, short rounds, two looks at most. perf.yml itself is unchanged.
POLICY = {
    'dataset = "ci"': 'dataset = "tiny"',
    "round_budget = 0.6 ": "round_budget = 0.3 ",
    "min_rounds = 30 ": "min_rounds = 15 ",
    "max_looks = 3": "max_looks = 2",
    "time_cap_s = 180": "time_cap_s = 120",
}
# A budget the tiny dataset meets (the production job checks budgets of its dataset).
TINY_BUDGET = '\n[[budget]]\nmatch = "canonical-p*-*"\ndataset = "tiny"\nmedian_ms = 5000\n'
# What every side runs beyond the policy (the workflow's PERF_PYTEST_ARGS variable).
SUBSET = "-k canonical-p10-orm_scalars"
# The planted regression: orm_scalars burns CPU before its query.
BURN = (
    '    """\n'
    "    import time as _planted_time  # planted by tests/test_workflow.py: a CPU burn\n"
    "\n"
    "    _until = _planted_time.perf_counter() + 0.004\n"
    "    while _planted_time.perf_counter() < _until:\n"
    "        pass\n"
)
# Schemas the rehearsal's jobs create on the test server (dropped afterwards).
SCHEMAS = ("ormbench_wf", "ormbench_base", "ormbench_head")


@dataclass
class Rehearsal:
    runner: Runner
    origin: Path
    commits: dict[str, str]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found (the rehearsal's edit is out of date)"
    path.write_text(text.replace(old, new, 1))


def make_repository(root: Path) -> tuple[Path, dict[str, str]]:
    """The scratch repository: this checkout's files as ``base`` on main, a later commit on
    main, and two pull-request branches from ``base``: unchanged and with a planted regression."""
    src = root / "src"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    git("init", "-q", "-b", "main", cwd=src)
    policy = src / "ormbench-gate.toml"
    for old, new in POLICY.items():
        edit(policy, old, new)
    policy.write_text(policy.read_text() + TINY_BUDGET)
    git("add", "-A", cwd=src)
    git("commit", "-qm", "base", cwd=src)
    commits = {"base": git("rev-parse", "HEAD", cwd=src)}
    git("checkout", "-qb", "pr-unchanged", cwd=src)
    (src / "README.md").write_text((src / "README.md").read_text() + "\nA typo fixed.\n")
    git("commit", "-qam", "docs only", cwd=src)
    commits["unchanged"] = git("rev-parse", "HEAD", cwd=src)
    git("checkout", "-q", "-b", "pr-slow", commits["base"], cwd=src)
    edit(
        src / "ormbench" / "strategies" / "builtin.py",
        "    With the username joined, rows are (ContentItem, username): .all() instead of "
        '.scalars().\n    """\n',
        "    With the username joined, rows are (ContentItem, username): .all() instead of "
        ".scalars().\n" + BURN,
    )
    git("commit", "-qam", "orm_scalars: slower", cwd=src)
    commits["slow"] = git("rev-parse", "HEAD", cwd=src)
    git("checkout", "-q", "main", cwd=src)
    (src / "docs" / "later.md").write_text("Main moved on after the PRs branched.\n")
    git("add", "-A", cwd=src)
    git("commit", "-qm", "main later", cwd=src)
    commits["main"] = git("rev-parse", "HEAD", cwd=src)
    origin = root / "origin.git"
    git("clone", "-q", "--bare", str(src), str(origin), cwd=root)
    return origin, commits


@pytest.fixture(scope="module")
def rehearsal(pg_server: PgServer) -> Iterator[Rehearsal]:
    """A scratch repository, its bare origin and a runner whose jobs use the test server."""
    root = Path(tempfile.mkdtemp(prefix="ormbench-rehearsal-"))
    try:
        origin, commits = make_repository(root)
        venv_bin = str(Path(sys.prefix) / "bin")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ORMBENCH_", "PYTEST_", "GITHUB_", "RUNNER_"))
            and k not in ("PYTHONPATH", "VIRTUAL_ENV", "FORCE_COLOR")
        }
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
        # As a self-hosted runner's environment would: its own schema and state directory.
        env["ORMBENCH_PG_SCHEMA"] = "ormbench_wf"
        env["ORMBENCH_STATE_DIR"] = str(root / "state")
        runner = Runner(
            root, origin, env, {"PERF_PYTEST_ARGS": SUBSET}, secrets={"PERF_PG_URL": pg_server.url}
        )
        yield Rehearsal(runner, origin, commits)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        with connect(pg_server, 10, autocommit=True) as conn:
            for schema in SCHEMAS:
                drop_owned_schema(conn, schema)


def pull_request(r: Rehearsal, head: str, number: int, labels: tuple[str, ...] = ()) -> dict:
    """The ``github`` context of a pull_request event from ``head`` into main."""
    return {
        "event_name": "pull_request",
        "sha": r.commits[head],
        "ref_name": f"{number}/merge",
        "repository": "ormbench/ormbench",
        "run_id": number,
        "event": {
            "action": "synchronize",
            "pull_request": {
                "number": number,
                "base": {"sha": r.commits["main"]},
                "head": {"sha": r.commits[head]},
                "labels": [{"name": name} for name in labels],
            },
        },
    }


def on_origin(r: Rehearsal, *args: str) -> str:
    return git(*args, cwd=r.origin)


def failing(job: JobResult) -> set[str]:
    """The benchmarks the gate's JSON report says fail."""
    doc = json.loads((job.workspace / "results" / "verdicts.json").read_text())
    assert doc["verdicts"], job.log
    return {v["name"] for v in doc["verdicts"] if v["fails"]}


def test_job_conditions(rehearsal: Rehearsal) -> None:
    """Which events run which job: the gate on PR events and on the perf-env-change label only."""
    r = rehearsal.runner
    pr = pull_request(rehearsal, "unchanged", 1)
    assert r.job_condition("gate", pr, {})
    assert not r.job_condition("history", pr, {})
    for label, runs in (("perf-env-change", True), ("documentation", False)):
        labeled = {**pr, "event": {**pr["event"], "action": "labeled", "label": {"name": label}}}
        assert r.job_condition("gate", labeled, {}) is runs
    push = {"event_name": "push", "sha": rehearsal.commits["main"], "ref_name": "main"}
    assert r.job_condition("history", push, {}) and not r.job_condition("gate", push, {})
    assert r.job_condition("production", {**push, "event_name": "schedule"}, {})


def test_history_job_creates_gh_pages_and_appends(rehearsal: Rehearsal) -> None:
    """Two pushes to main: the first creates perf-history and gh-pages; each appends its run,
    pushed to origin, and github-action-benchmark's input has the format it reads."""
    r = rehearsal.runner
    for n, commit in enumerate((rehearsal.commits["base"], rehearsal.commits["main"]), 1):
        push = {"event_name": "push", "sha": commit, "ref_name": "main", "run_id": 100 + n}
        job = r.run_job("history", push)
        assert not job.failed, job.log
        stored = on_origin(rehearsal, "ls-tree", "-r", "--name-only", "perf-history", "ci")
        assert len(stored.split()) == n, stored
        pages = on_origin(rehearsal, "ls-tree", "-r", "--name-only", "gh-pages")
        assert pages.split() == [".nojekyll", "dev/bench/data.js"], job.log
        # Both runs placed on main's first-parent history, one series (one dataset and env).
        assert f"ormbench history: {n} runs in 1 series" in job.summary, job.log
    charts = on_origin(rehearsal, "ls-tree", "-r", "--name-only", "perf-history", "charts")
    assert [c.rsplit("/", 1)[1] for c in charts.split()] == ["canonical.png"]
    data = on_origin(rehearsal, "show", "gh-pages:dev/bench/data.js")
    entries = json.loads(data.split("=", 1)[1])["entries"]
    (series,) = entries.values()
    assert [e["commit"]["id"] for e in series] == [
        rehearsal.commits["base"],
        rehearsal.commits["main"],
    ]
    assert "canonical-p10-orm_scalars" in {b["name"] for b in series[-1]["benches"]}


def test_gate_job_unchanged_head_never_fails(rehearsal: Rehearsal) -> None:
    """A PR that changes no code: the gate measures against the PR's merge base and no
    benchmark is a regression (PASS, or INCONCLUSIVE with exit 5, never FAIL)."""
    job = rehearsal.runner.run_job("gate", pull_request(rehearsal, "unchanged", 7))
    assert f"merge base {rehearsal.commits['base']}" in job.step("Check out base").output
    gate = job.step("Measure base and head")
    assert gate.returncode in (0, 5), job.log
    assert failing(job) == set(), job.log
    artifact = rehearsal.runner.artifacts / "perf-gate"
    assert (artifact / "pr-number").read_text().strip() == "7"
    assert "canonical-p10-orm_scalars" in (artifact / "report.md").read_text()


@pytest.fixture(scope="module")
def slow_gate_job(rehearsal: Rehearsal) -> JobResult:
    """The gate job on the pull request whose orm_scalars burns CPU."""
    return rehearsal.runner.run_job("gate", pull_request(rehearsal, "slow", 8))


def test_gate_job_planted_regression_fails(slow_gate_job: JobResult) -> None:
    """orm_scalars made slower by a CPU burn: the gate step exits 1 naming the benchmark, and
    the step log carries the tail of each side's log."""
    job = slow_gate_job
    gate = job.step("Measure base and head")
    assert gate.returncode == 1, job.log
    assert "canonical-p10-orm_scalars" in failing(job), job.log
    assert "canonical-p10-orm_scalars" in job.summary
    tails = job.step("The tail of each side's log")
    assert tails.outcome == "success" and "base-look-1.log" in tails.output, job.log
    assert job.step("Stop PostgreSQL").outcome == "success"


# A stand-in for the GitHub CLI's `gh api` on the issue-comment endpoints perf-comment.yml
# calls: comments kept in a JSON file, `--jq` applied with jq as gh applies its own.
GH = """#!PYTHON
import json, os, re, subprocess, sys
args, state_path = sys.argv[1:], os.environ["GH_STANDIN_STATE"]
state = json.load(open(state_path))
method, jq, fields, path, i = "GET", None, {}, None, 1
while i < len(args):
    a = args[i]
    if a == "-X":
        method, i = args[i + 1], i + 2
    elif a == "--jq":
        jq, i = args[i + 1], i + 2
    elif a in ("-F", "--field"):
        key, value = args[i + 1].split("=", 1)
        fields[key] = open(value[1:]).read() if value.startswith("@") else value
        i += 2
    elif a == "--paginate":
        i += 1
    else:
        path, i = a, i + 1
listing = re.fullmatch(r"repos/[^/]+/[^/]+/issues/([0-9]+)/comments", path)
one = re.fullmatch(r"repos/[^/]+/[^/]+/issues/comments/([0-9]+)", path)
state["calls"].append([method, path])
if method == "GET" and listing:
    out = [c for c in state["comments"] if c["issue"] == int(listing[1])]
elif method == "POST" and listing:
    out = {"id": 1000 + len(state["comments"]), "issue": int(listing[1]), "body": fields["body"]}
    state["comments"].append(out)
elif method == "PATCH" and one:
    (out,) = [c for c in state["comments"] if c["id"] == int(one[1])]
    out["body"] = fields["body"]
else:
    sys.exit(f"gh stand-in: no such call {method} {path}")
json.dump(state, open(state_path, "w"))
text = json.dumps(out)
if jq:
    jq_run = subprocess.run(["jq", "-r", jq], input=text, capture_output=True, text=True)
    text = jq_run.stdout
sys.stdout.write(text)
"""


def test_comment_workflow_posts_then_updates_one_comment(
    rehearsal: Rehearsal, slow_gate_job: JobResult
) -> None:
    """perf-comment.yml from the gate's artifact alone: one comment on the PR, found again by
    its marker and updated in place; another comment on the PR is left alone."""
    if shutil.which("jq") is None:
        pytest.skip("jq not installed: the gh stand-in applies --jq with it")
    r = rehearsal.runner
    bin_dir = r.root / "gh-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(GH.replace("PYTHON", sys.executable, 1))
    (bin_dir / "gh").chmod(0o755)
    state = r.root / "gh-state.json"
    other = {"id": 1, "issue": 8, "body": "LGTM"}
    state.write_text(json.dumps({"comments": [other], "calls": []}))
    env = {**r.env, "PATH": f"{bin_dir}{os.pathsep}{r.env['PATH']}", "GH_STANDIN_STATE": str(state)}
    comment = Runner(r.root, r.origin, env, {}, REPO / ".github" / "workflows" / "perf-comment.yml")
    run = {
        "event_name": "workflow_run",
        "sha": rehearsal.commits["main"],
        "repository": "ormbench/ormbench",
        "event": {
            "workflow_run": {
                "id": 8,
                "event": "pull_request",
                "conclusion": "failure",
                "head_sha": rehearsal.commits["slow"],
                "html_url": "https://example.invalid/run/8",
            }
        },
    }
    assert comment.job_condition("comment", run, {})
    for _ in range(2):
        job = comment.run_job("comment", run)
        assert not job.failed, job.log
    doc = json.loads(state.read_text())
    assert [c["id"] for c in doc["comments"]] == [1, 1001]
    assert doc["comments"][0] == other
    body = doc["comments"][1]["body"]
    assert body.startswith("<!-- ormbench-perf-gate -->\n**ormbench perf gate: failure**")
    assert "canonical-p10-orm_scalars" in body and slow_gate_job.step("Measure").returncode == 1
    methods = [m for m, _path in doc["calls"]]
    assert methods == ["GET", "POST", "GET", "PATCH"]


def test_production_job(rehearsal: Rehearsal) -> None:
    """workflow_dispatch with the tiny dataset: seeded, measured, budgets checked, the run
    appended to the store's tiny history and pushed."""
    dispatch = {
        "event_name": "workflow_dispatch",
        "sha": rehearsal.commits["main"],
        "ref_name": "main",
        "run_id": 300,
    }
    job = rehearsal.runner.run_job("production", dispatch, {"dataset": "tiny"})
    assert not job.failed, job.log
    stored = on_origin(rehearsal, "ls-tree", "-r", "--name-only", "perf-history", "tiny")
    assert len(stored.split()) == 1


def test_benchmark_format_check_refuses_what_the_action_would() -> None:
    """The stand-in for github-action-benchmark refuses entries the action cannot read."""
    check_custom_benchmark([{"name": "a", "unit": "x", "value": 1.5, "range": "1-2"}])
    for bad in ([], [{"name": "a", "unit": "x", "value": "1.5"}], [{"name": "a", "value": 1}]):
        with pytest.raises(StandInFailure):
            check_custom_benchmark(bad)
