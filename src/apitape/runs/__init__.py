"""Whole runs: cassettes in, a RunReport out. Nothing here prints or exits."""
