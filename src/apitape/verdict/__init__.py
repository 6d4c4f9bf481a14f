"""Verdict: judge each replayed exchange, learn noise, group differences, latency."""
