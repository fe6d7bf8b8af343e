"""What a `callscribe doctor` check finds: a :class:`Finding` at one of three levels.

Shared by the checks of services (:mod:`callscribe.cli.doctor_services`) and of folders and
disks (:mod:`callscribe.cli.doctor_files`), with the few ways they put things in words.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAIL", "OK", "WARN", "Finding", "size_text"]

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    level: str
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.level} {self.name}: {self.detail}"


def size_text(n: float) -> str:
    """A byte count in words: ``512 B``, ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
