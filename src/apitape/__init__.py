"""apitape: record real HTTP traffic into cassettes and replay it against a new build."""

from __future__ import annotations

from apitape._version import __version__

__all__ = ["__version__"]
