"""The `callscribe` command line: one click group, its commands in a module per area."""

from callscribe.cli import calls, desk, measure
from callscribe.cli._common import main

__all__ = ["main"]

del calls, desk, measure
