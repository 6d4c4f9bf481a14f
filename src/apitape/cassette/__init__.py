"""Cassettes: the tape on disk, in YAML or JSON lines; load, stream, append, convert."""

from apitape.cassette.store import *  # noqa: F403
from apitape.cassette.store import __all__ as __all__
