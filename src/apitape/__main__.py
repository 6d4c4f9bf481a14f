"""`python -m apitape` is the `apitape` command."""

from apitape.cli import main

main()
