"""The subcommands of ``ormbench``, one module per concern; each registers with the CLI."""

from ormbench.commands import compare, data, page, server  # noqa: F401
