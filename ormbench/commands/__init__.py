"""The subcommands of ``ormbench``, one module per concern; each registers with the CLI."""

from ormbench.commands import compare, data, explain, gate, page, server  # noqa: F401
