"""One exception class per failure family; every message names what failed and the fix.

A user mistake is reported as one line and a non-zero exit code, never as a traceback:
the pytest plugin turns these into ``pytest.UsageError`` and the CLI prints ``ormbench: <message>``.
"""

from __future__ import annotations

# Exit codes of the ormbench command line; pytest keeps its own.
EXIT_USAGE = 2  # bad input: an option, a URL, a file
EXIT_SERVER = 3  # no PostgreSQL could be reached or started
EXIT_REGRESSION = 1  # the gate found a regression
EXIT_UNUSABLE = 4  # the gate was given input it cannot compare
EXIT_INCONCLUSIVE = 5  # the gate judged no regression but could not decide every benchmark
EXIT_BUSY = 6  # the dataset is being measured by another run, and --no-wait was given


class OrmbenchError(Exception):
    """Base class: a one-line message that names the fix."""

    exit_code = EXIT_USAGE


class ConfigError(OrmbenchError):
    """An option, env var or ini value is invalid."""


class BackendError(OrmbenchError):
    """A PostgreSQL backend could not provide a server."""

    exit_code = EXIT_SERVER


class ConnectError(BackendError):
    """A server was named but could not be reached, authenticated or opened."""


class SchemaOwnershipError(OrmbenchError):
    """A schema exists that ormbench did not create; ormbench refuses to touch it."""


class DatasetError(OrmbenchError):
    """A dataset profile or knob is invalid."""


class DatasetBusyError(DatasetError):
    """A reseed would change a dataset other runs are measuring, and waiting was refused."""

    exit_code = EXIT_BUSY


class DatasetChangedError(DatasetError):
    """The dataset changed under a run that measures it: its figures would be mislabelled."""


class QuerySpecError(OrmbenchError):
    """A unified-content request is outside the whitelist."""


class UnusableInputError(OrmbenchError):
    """A results file cannot be compared (missing, truncated, not ormbench, not comparable)."""

    exit_code = EXIT_UNUSABLE
