"""The ``mlpkit`` command: parse, call the library, print; one module per command group."""

from mlpkit.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
