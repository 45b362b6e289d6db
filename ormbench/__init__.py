"""ormbench: what loading a page through SQLAlchemy from PostgreSQL really costs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ormbench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
