"""The subcommands of ``ormbench``, one module per concern; each registers with the CLI.

``ormbench.cli`` imports them (``COMMAND_MODULES``); importing this package alone imports none,
so a library module may use a command's helpers without loading every command.
"""
