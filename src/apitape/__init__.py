"""apitape: record real HTTP traffic into cassettes and replay it against a new build."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
