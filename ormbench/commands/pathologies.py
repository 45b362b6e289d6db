"""``ormbench pathologies``: explain each pathology's bad and fixed variants.

For each named pathology (default: all, in catalogue order) it prints ``ormbench explain``'s
text report of both variants side by side, ending with explain's verdicts and the diagnosis
line; ``--json`` prints one document per pathology instead. ``--bench FILE`` (a
``--benchmark-json`` of ``benchmarks/test_pathologies.py``) adds the README table with that
run's figures at the end.

Unless ``--dataset`` or ``--dataset-set`` is given, the pathologies run on the canonical profile
in schema ``<pg-schema>_canonical``, the schema the pathology benchmarks use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ormbench.cli import command
from ormbench.config import Resolved, Settings, derived_schema
from ormbench.data.seed import ensure_dataset
from ormbench.errors import ConfigError
from ormbench.explain import render
from ormbench.pathologies import PATHOLOGIES, PROFILE, get_pathology
from ormbench.pathologies.diagnose import diagnose
from ormbench.pathologies.report import load_benchmark_json, markdown_table
from ormbench.workspace import configured_profile, open_server, schema_engine


def pathology_settings(settings: Settings) -> tuple[Settings, str]:
    """The settings and schema the pathologies run on (module docstring)."""
    if settings.source("dataset") != "default" or settings.dataset_set:
        return settings, settings.pg_schema
    canonical = Settings({**settings.values, "dataset": Resolved(PROFILE, "pathologies")})
    return canonical, derived_schema(settings.pg_schema, PROFILE)


def _arguments(parser: argparse.ArgumentParser) -> None:
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


@command("pathologies", "explain the bad and fixed variants of each pathology", _arguments)
def cmd_pathologies(args: argparse.Namespace, settings: Settings) -> int:
    # Every user mistake fails here, before a server is started or a dataset seeded.
    pathologies = [get_pathology(n) for n in args.names] or list(PATHOLOGIES.values())
    if args.repeats is not None and args.repeats < 1:
        raise ConfigError(f"--repeats must be a positive integer, got {args.repeats}")
    settings, schema = pathology_settings(settings)
    found = load_benchmark_json(args.bench) if args.bench else {}
    profile = configured_profile(settings)
    verdicts: dict[str, str] = {}
    with open_server(settings) as server:
        engine = schema_engine(server, settings, schema)
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
                render(settings, title, diagnosis.bad.req, diagnosis.reports, diagnosis.comparison)
            )
            print(f"diagnosis: {diagnosis.verdict()}")
            print()
    if args.bench and not args.json:
        print(markdown_table(found, verdicts))
    return 0
