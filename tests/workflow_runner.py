"""A local runner for .github/workflows/perf.yml: its ``run:`` steps for real, its ``uses:`` steps
stood in for (tests/test_workflow.py).

Every ``run:`` step is executed as GitHub's runner does (``bash --noprofile --norc -eo pipefail``,
in the workspace, with the workflow's, job's and step's ``env``, ``GITHUB_ENV``,
``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY`` files); ``if:`` and ``${{ }}`` are evaluated by
``evaluate`` (the subset of GitHub's expression language perf.yml uses: an unknown function
fails loudly). The ``uses:`` steps are stood in for:

* ``actions/checkout``: a clone of the local bare ``origin`` at the ref (so pushes reach it);
* ``actions/setup-python``: this interpreter; each checkout gets a ``.venv`` whose packages are
  this test run's (stamped as installed, so ``run.py``'s own install is a no-op) and whose
  ``ormbench`` is that checkout's;
* ``actions/upload-artifact`` / ``download-artifact``: a copy into ``artifacts/NAME``;
* ``benchmark-action/github-action-benchmark``: its input checked against the
  ``customSmallerIsBetter`` format it reads, then what ``auto-push`` does: fetch ``gh-pages``
  (failing, as the action does, when there is none) and push ``dev/bench/data.js``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "perf.yml"


class Missing:
    """A context property that does not exist: falsy, equal to '' and None, any attribute."""

    def __getattr__(self, name: str) -> Missing:
        return self

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other in ("", None) or isinstance(other, Missing)

    def __hash__(self) -> int:
        return 0

    def __str__(self) -> str:
        return ""


class Ns:
    """A context object: attribute access on a dict, missing keys ``Missing``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        value = self._data.get(name, Missing())
        return Ns(value) if isinstance(value, dict) else value


def _star(items: Any, key: str) -> list[Any]:
    """``list.*.key`` of GitHub's expressions."""
    return [item.get(key) for item in (items if isinstance(items, list) else [])]


def _translate(expr: str) -> str:
    """GitHub's expression syntax as Python (the subset perf.yml uses); 'literals' untouched."""
    parts = re.split(r"('(?:[^']|'')*')", expr)
    for i in range(0, len(parts), 2):  # the even parts are outside string literals
        code = re.sub(r"([\w.]+)\.\*\.(\w+)", r"_star(\1, '\2')", parts[i])
        code = code.replace("&&", " and ").replace("||", " or ")
        code = re.sub(r"!(?!=)", " not ", code)
        code = re.sub(r"\btrue\b", "True", code)
        parts[i] = re.sub(r"\bfalse\b", "False", code)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


@dataclass
class StepResult:
    name: str
    outcome: str  # success, failure, skipped
    output: str = ""
    returncode: int | None = None


@dataclass
class JobResult:
    name: str
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    workspace: Path = Path()

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    def step(self, prefix: str) -> StepResult:
        (found,) = [s for s in self.steps if s.name.startswith(prefix)]
        return found

    @property
    def log(self) -> str:
        return "\n".join(f"== {s.name}: {s.outcome}\n{s.output}" for s in self.steps)


class Runner:
    """Runs jobs of perf.yml in ``root`` against the bare repository ``origin``."""

    def __init__(
        self,
        root: Path,
        origin: Path,
        env: dict[str, str],
        variables: dict[str, str],
        workflow: Path = WORKFLOW,
        secrets: dict[str, str] | None = None,
    ) -> None:
        self.root, self.origin, self.env, self.vars = root, origin, env, variables
        self.secrets = {"GITHUB_TOKEN": "rehearsal-token-not-used", **(secrets or {})}
        self.workflow = yaml.safe_load(workflow.read_text())
        self.artifacts = root / "artifacts"

    # -- expressions ---------------------------------------------------------------------------

    def evaluate(self, expr: str, ctx: dict[str, Any]) -> Any:
        functions = {
            "always": lambda: True,
            "failure": lambda: ctx["_failed"],
            "success": lambda: not ctx["_failed"],
            "cancelled": lambda: False,
            "contains": lambda seq, item: item in (seq if isinstance(seq, list) else str(seq)),
            "hashFiles": lambda *pats: self._hash_files(ctx["_workspace"], pats),
            "_star": _star,
        }
        names = {k: Ns(v) if isinstance(v, dict) else v for k, v in ctx.items()}
        return eval(_translate(expr), {"__builtins__": {}}, {**names, **functions})

    def substitute(self, value: Any, ctx: dict[str, Any]) -> str:
        text = _text(value)  # YAML's true is "true" to an action, as on GitHub
        return re.sub(
            r"\$\{\{(.*?)\}\}", lambda m: _text(self.evaluate(m.group(1), ctx)), text, flags=re.S
        )

    def condition(self, expr: Any, ctx: dict[str, Any]) -> bool:
        if expr is None:
            return not ctx["_failed"]
        text = str(expr).strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        return bool(self.evaluate(text, ctx))

    @staticmethod
    def _hash_files(workspace: Path, patterns: tuple[str, ...]) -> str:
        files = sorted(f for p in patterns for f in glob.glob(str(workspace / p)))
        digest = hashlib.sha256()
        for f in files:
            digest.update(Path(f).read_bytes())
        return digest.hexdigest() if files else ""

    # -- a job -------------------------------------------------------------------------------

    def job_condition(self, job: str, github: dict[str, Any], inputs: dict[str, str]) -> bool:
        ctx = self._context(github, inputs)
        return self.condition(self.workflow["jobs"][job].get("if"), ctx)

    def _context(self, github: dict[str, Any], inputs: dict[str, str]) -> dict[str, Any]:
        return {
            "github": github,
            "inputs": inputs,
            "vars": self.vars,
            "secrets": self.secrets,
            "env": {},
            "steps": {},
            "runner": {"temp": ""},
            "_failed": False,
            "_workspace": self.root,
        }

    def run_job(
        self, job: str, github: dict[str, Any], inputs: dict[str, str] | None = None
    ) -> JobResult:
        """Run ``job`` as GitHub would for the event in ``github``; return every step's outcome."""
        spec = self.workflow["jobs"][job]
        ctx = self._context(github, inputs or {})
        workspace = self.root / f"ws-{job}-{github['sha'][:7]}-{github.get('run_id', 0)}"
        temp = workspace.with_name(workspace.name + "-temp")
        if workspace.exists():
            shutil.rmtree(workspace)
        shutil.rmtree(temp, ignore_errors=True)
        workspace.mkdir(parents=True)
        temp.mkdir()
        ctx["_workspace"] = workspace
        ctx["runner"] = {"temp": str(temp)}
        env: dict[str, str] = {}
        for scope in (self.workflow.get("env") or {}, spec.get("env") or {}):
            for key, value in scope.items():
                ctx["env"] = env
                env[key] = self.substitute(value, ctx)
        ctx["env"] = env
        result = JobResult(job, workspace=workspace)
        timeout = 60 * float(spec.get("timeout-minutes", 30))
        for n, step in enumerate(spec["steps"]):
            name = step.get("name") or step.get("uses") or f"step {n}"
            if not self.condition(step.get("if"), ctx):
                result.steps.append(StepResult(name, "skipped"))
                continue
            step_env = dict(env)
            for key, value in (step.get("env") or {}).items():
                step_env[key] = self.substitute(value, ctx)
            files = {k: temp / f"{k.lower()}-{n}" for k in ("GITHUB_ENV", "GITHUB_OUTPUT")}
            summary = temp / f"summary-{n}"
            for f in [*files.values(), summary]:
                f.write_text("")
            process_env = {
                **self.env,
                **step_env,
                **{k: str(v) for k, v in files.items()},
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_WORKSPACE": str(workspace),
                "RUNNER_TEMP": str(temp),
                "GITHUB_SHA": github["sha"],
                "GITHUB_REF_NAME": github.get("ref_name", ""),
                "GITHUB_EVENT_NAME": github["event_name"],
                "GITHUB_ACTIONS": "true",
                "CI": "true",
            }
            if "run" in step:
                outcome = self._run(step, ctx, workspace, process_env, timeout)
            else:
                outcome = self._uses(step, ctx, workspace, github)
            outcome.name = name
            result.steps.append(outcome)
            result.summary += summary.read_text()
            env.update(_read_env_file(files["GITHUB_ENV"]))
            if step.get("id"):
                ctx["steps"][step["id"]] = {
                    "outputs": _read_env_file(files["GITHUB_OUTPUT"]),
                    "outcome": outcome.outcome,
                }
            if outcome.outcome == "failure" and not step.get("continue-on-error"):
                ctx["_failed"] = True
        shutil.rmtree(temp, ignore_errors=True)  # GITHUB_ENV holds the server's URL
        return result

    def _run(
        self,
        step: dict[str, Any],
        ctx: dict[str, Any],
        workspace: Path,
        env: dict[str, str],
        timeout: float,
    ) -> StepResult:
        script = workspace.parent / f"{workspace.name}-step.sh"
        script.write_text(self.substitute(step["run"], ctx))
        cwd = workspace / step.get("working-directory", ".")
        try:
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            return StepResult("", "failure", f"timed out after {timeout:.0f} s: {exc.output}")
        finally:
            script.unlink(missing_ok=True)
        return StepResult(
            "",
            "success" if proc.returncode == 0 else "failure",
            proc.stdout + proc.stderr,
            proc.returncode,
        )

    # -- the uses: steps, stood in for -------------------------------------------------------------

    def _uses(
        self, step: dict[str, Any], ctx: dict[str, Any], workspace: Path, github: dict[str, Any]
    ) -> StepResult:
        action = step["uses"].split("@")[0]
        inputs = {k: self.substitute(v, ctx) for k, v in (step.get("with") or {}).items()}
        try:
            if action == "actions/checkout":
                output = self._checkout(workspace / inputs.get("path", "."), inputs, github)
            elif action == "actions/setup-python":
                output = self._setup_python(workspace)
            elif action == "actions/upload-artifact":
                output = self._upload(workspace, inputs)
            elif action == "actions/download-artifact":
                output = self._download(workspace, inputs)
            elif action == "benchmark-action/github-action-benchmark":
                output = self._github_action_benchmark(workspace, inputs, github)
            else:
                raise AssertionError(
                    f"no stand-in for {action}: add one to tests/workflow_runner.py"
                )
        except subprocess.CalledProcessError as exc:
            return StepResult("", "failure", f"{exc}\n{exc.stdout}{exc.stderr}", exc.returncode)
        except StandInFailure as exc:
            return StepResult("", "failure", str(exc), 1)
        return StepResult("", "success", output, 0)

    def _git(self, *args: str, cwd: Path) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=self.env
        ).stdout

    def _checkout(self, path: Path, inputs: dict[str, str], github: dict[str, Any]) -> str:
        ref = inputs.get("ref") or github["sha"]
        path.mkdir(parents=True, exist_ok=True)
        self._git("clone", "-q", f"file://{self.origin}", str(path), cwd=self.root)
        self._git("checkout", "-q", "--detach", ref, cwd=path)
        return f"checked out {ref} into {path}"

    def _setup_python(self, workspace: Path) -> str:
        trees = [p.parent for p in sorted(workspace.glob("*/run.py"))]
        if (workspace / "run.py").exists():
            trees.append(workspace)
        for tree in trees:
            make_venv(tree)
        return f"venvs for {', '.join(map(str, trees))}"

    def _upload(self, workspace: Path, inputs: dict[str, str]) -> str:
        """As upload-artifact: paths relative to the least common ancestor of what matched."""
        target = self.artifacts / inputs["name"]
        shutil.rmtree(target, ignore_errors=True)
        found = [
            Path(f)
            for pattern in inputs["path"].split("\n")
            if pattern.strip()
            for f in glob.glob(str(workspace / pattern.strip()))
        ]
        if not found:
            if inputs.get("if-no-files-found", "warn") == "error":
                raise StandInFailure(f"no files for artifact {inputs['name']}")
            return f"artifact {inputs['name']}: no files"
        root = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in found]))
        for src in found:
            dst = target / src.relative_to(root)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        return f"artifact {inputs['name']}: {[str(p.relative_to(root)) for p in found]}"

    def _download(self, workspace: Path, inputs: dict[str, str]) -> str:
        source = self.artifacts / inputs["name"]
        if not source.is_dir():
            raise StandInFailure(f"Artifact not found for name: {inputs['name']}")
        shutil.copytree(source, workspace / inputs.get("path", "."), dirs_exist_ok=True)
        return f"downloaded {inputs['name']}"

    def _github_action_benchmark(
        self, workspace: Path, inputs: dict[str, str], github: dict[str, Any]
    ) -> str:
        assert inputs["tool"] == "customSmallerIsBetter", inputs["tool"]
        entries = json.loads((workspace / inputs["output-file-path"]).read_text())
        check_custom_benchmark(entries)
        if inputs.get("auto-push") != "true":
            return "checked, no push"
        branch = inputs.get("gh-pages-branch", "gh-pages")
        pages = workspace.parent / f"{workspace.name}-pages"
        shutil.rmtree(pages, ignore_errors=True)
        try:
            # As the action: fetch the branch, fail when there is none.
            self._git("fetch", "origin", f"{branch}:{branch}", cwd=workspace)
        except subprocess.CalledProcessError as exc:
            raise StandInFailure(
                f"github-action-benchmark: cannot fetch {branch}: {exc.stderr.strip()}"
            ) from None
        self._git("worktree", "add", "-q", str(pages), branch, cwd=workspace)
        data_js = pages / inputs["benchmark-data-dir-path"] / "data.js"
        prefix = "window.BENCHMARK_DATA = "
        data = (
            json.loads(data_js.read_text()[len(prefix) :])
            if data_js.exists()
            else {"lastUpdate": 0, "repoUrl": "", "entries": {}}
        )
        data["entries"].setdefault(inputs["name"], []).append(
            {
                "commit": {"id": github["sha"]},
                "date": 0,
                "tool": inputs["tool"],
                "benches": entries,
            }
        )
        data_js.parent.mkdir(parents=True, exist_ok=True)
        data_js.write_text(prefix + json.dumps(data, indent=2))
        self._git("add", "-A", cwd=pages)
        self._git(
            "-c",
            "user.name=bench",
            "-c",
            "user.email=b@example.com",
            "commit",
            "-qm",
            "add benchmark result",
            cwd=pages,
        )
        self._git("push", "-q", "origin", branch, cwd=pages)
        self._git("worktree", "remove", "--force", str(pages), cwd=workspace)
        return f"pushed {len(entries)} entries to {branch}"


class StandInFailure(Exception):
    """A stood-in action failed as the real one would."""


def check_custom_benchmark(entries: Any) -> None:
    """github-action-benchmark's ``customSmallerIsBetter`` input: a list of objects with a
    string ``name`` and ``unit``, a number ``value``, optional string ``range`` and ``extra``."""
    if not isinstance(entries, list) or not entries:
        raise StandInFailure("customSmallerIsBetter: expected a non-empty JSON array")
    for entry in entries:
        if not isinstance(entry, dict):
            raise StandInFailure(f"customSmallerIsBetter: {entry!r} is not an object")
        for key in ("name", "unit"):
            if not isinstance(entry.get(key), str):
                raise StandInFailure(f"customSmallerIsBetter: {key} of {entry!r} not a string")
        value = entry.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise StandInFailure(f"customSmallerIsBetter: value of {entry!r} not a number")
        for key in ("range", "extra"):
            if key in entry and not isinstance(entry[key], str):
                raise StandInFailure(f"customSmallerIsBetter: {key} of {entry!r} not a string")
        unknown = set(entry) - {"name", "unit", "value", "range", "extra"}
        if unknown:
            raise StandInFailure(f"customSmallerIsBetter: unknown keys {sorted(unknown)}")


def make_venv(tree: Path) -> None:
    """``tree/.venv``: this interpreter and this test run's packages, ``tree``'s own ormbench,
    stamped as installed for ``run.py`` (the stand-in for setup-python and pip)."""
    venv_dir = tree / ".venv"
    if venv_dir.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv_dir / "lib" / version / "site-packages"
    shared = Path(sys.prefix) / "lib" / version / "site-packages"
    # The checkout first (its ormbench, conftest and fixtures), then the shared packages.
    (site / "_rehearsal.pth").write_text(f"{tree}\nimport site; site.addsitedir({str(shared)!r})\n")
    for script in ("pytest", "ormbench"):
        text = (Path(sys.prefix) / "bin" / script).read_text().split("\n", 1)[1]
        (venv_dir / "bin" / script).write_text(f"#!{venv_dir}/bin/python\n{text}")
        (venv_dir / "bin" / script).chmod(0o755)
    digest = hashlib.sha256(
        (tree / "pyproject.toml").read_bytes() + (tree / "constraints.txt").read_bytes()
    ).hexdigest()
    (venv_dir / ".ormbench-installed").write_text(digest)


def _read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines and ``KEY<<DELIM`` blocks, as GitHub reads GITHUB_ENV/OUTPUT."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None or isinstance(value, Missing) else str(value)
