"""pytest wiring only: ormbench's plugin comes through its entry point; these are this
repository's own fixtures, built on the plugin's."""

pytest_plugins = ["fixtures.cli"]
