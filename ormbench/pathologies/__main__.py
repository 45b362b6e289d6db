"""``python -m ormbench.pathologies``: explain each pathology's bad and fixed variants.

For each named pathology (default: all, in catalogue order) it prints ``ormbench explain``'s
text report of both variants side by side, ending with explain's verdicts and the diagnosis
line; ``--json`` prints one document per pathology instead. ``--bench FILE`` (a
``--benchmark-json`` of ``benchmarks/test_pathologies.py``) adds the README table with that
run's figures at the end.

Server and dataset options are the ``ormbench`` command's. Unless ``--dataset`` or
``--dataset-set`` is given, the pathologies run on the canonical profile in schema
``<pg-schema>_canonical``, the schema the pathology benchmarks use.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ormbench.cli import read_ini
from ormbench.commands.explain import render
from ormbench.config import SETTINGS, Resolved, Settings, parse_overrides, resolve
from ormbench.data.profiles import get_profile
from ormbench.data.seed import ensure_dataset
from ormbench.db import make_engine, prepare_schema
from ormbench.errors import ConfigError, OrmbenchError
from ormbench.pathologies import PATHOLOGIES, PROFILE, get_pathology
from ormbench.pathologies.diagnose import diagnose
from ormbench.pathologies.report import load_benchmark_json, markdown_table
from ormbench.workspace import open_server


def pathology_settings(settings: Settings) -> tuple[Settings, str]:
    """The settings and schema the pathologies run on (module docstring)."""
    if settings.source("dataset") != "default" or settings.dataset_set:
        return settings, settings.pg_schema
    canonical = Settings({**settings.values, "dataset": Resolved(PROFILE, "pathologies")})
    return canonical, f"{settings.pg_schema}_{PROFILE}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ormbench.pathologies",
        description="ormbench explain on the bad and fixed variants of each pathology",
    )
    parser.add_argument(
        "names",
        nargs="*",
        help=f"pathologies by name or number (default all: {', '.join(PATHOLOGIES)})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document per pathology")
    parser.add_argument(
        "--repeats", type=int, default=None, help="executions per phase table (default: by time)"
    )
    parser.add_argument("--bench", type=Path, help="a --benchmark-json file: add the README table")
    group = parser.add_argument_group("server and dataset")
    for s in SETTINGS:
        group.add_argument(s.option, dest=s.name, default=None, help=f"{s.help} [env {s.env}]")
    return parser


def _sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwind through open_server, which stops and removes a server ormbench started.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit code is the ``ormbench`` command's (2 usage, 3 no server)."""
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        # Every user mistake fails here, before a server is started or a dataset seeded.
        pathologies = [get_pathology(n) for n in args.names] or list(PATHOLOGIES.values())
        if args.repeats is not None and args.repeats < 1:
            raise ConfigError(f"--repeats must be a positive integer, got {args.repeats}")
        settings, schema = pathology_settings(
            resolve(
                options={s.name: getattr(args, s.name) for s in SETTINGS},
                env=os.environ,
                ini=read_ini(),
            )
        )
        found = load_benchmark_json(args.bench) if args.bench else {}
        profile = get_profile(settings.dataset, parse_overrides(settings.dataset_set))
        verdicts: dict[str, str] = {}
        with open_server(settings) as server:
            prepare_schema(server, schema, settings.pg_connect_timeout)
            engine = make_engine(server, schema)
            try:
                ensure_dataset(engine, profile, progress=sys.stderr.isatty())
            finally:
                engine.dispose()
            for pathology in pathologies:
                diagnosis = diagnose(
                    server, schema, pathology, loader=settings.json_loader[0], repeats=args.repeats
                )
                verdicts[pathology.name] = diagnosis.verdict()
                if args.json:
                    print(json.dumps(diagnosis.as_dict(), indent=2))
                    continue
                title = f"pathology {pathology.number} {pathology.name} (bad vs fixed)"
                print(
                    render(
                        settings,
                        title,
                        diagnosis.bad.req,
                        diagnosis.reports,
                        diagnosis.comparison,
                    )
                )
                print(f"diagnosis: {diagnosis.verdict()}")
                print()
        if args.bench and not args.json:
            print(markdown_table(found, verdicts))
    except OrmbenchError as exc:
        print(f"ormbench: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ormbench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
