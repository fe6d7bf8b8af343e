"""The `callscribe` command line: one click group, its commands in a module per area."""

from callscribe.cli import calls, demo, desk, doctor, measure, operations
from callscribe.cli._common import main

__all__ = ["main"]

del calls, demo, desk, doctor, measure, operations
