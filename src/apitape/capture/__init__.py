"""Capture: the mitmproxy addon that records exchanges, and the proxy `apitape record` runs.

This package is the only place that imports mitmproxy; import its modules explicitly.
"""
