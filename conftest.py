"""pytest wiring only: the fixture modules of this repository."""

pytest_plugins = ["fixtures.postgres", "fixtures.dataset", "fixtures.bench", "fixtures.responses"]
