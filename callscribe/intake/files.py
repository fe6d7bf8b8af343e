"""Files and file names from outside, taken only when they are what they claim to be.

Holds the checks every intake module makes before it touches a file it was handed: whether a
name is safe to keep (:func:`check_file_name`) and how to show it (:func:`display_name`),
whether anything is at a path (:func:`lexists`), and :func:`open_regular`, which opens a file
only when ``lstat`` says it is a regular file, without following links and without blocking
(a named pipe swapped in cannot hang the reader), and checks again with ``fstat``.

They live apart from :mod:`callscribe.intake.register` because the recorder metadata reader
(:mod:`callscribe.intake.metadata`) needs them too, and registering needs that reader: here
both can use them without importing each other.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from callscribe.errors import IntakeRejected, PermanentError

__all__ = [
    "BAD_TEXT",
    "FILE_NAME_MAX_BYTES",
    "check_file_name",
    "display_name",
    "lexists",
    "open_regular",
]

FILE_NAME_MAX_BYTES = 255
"""NAME_MAX of Linux file systems, in UTF-8 bytes."""

BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
"""NUL (PostgreSQL cannot store it) and unpaired surrogates (not encodable as UTF-8)."""


def display_name(name: str) -> str:
    """A file name as error messages show it: as it is when printable, else ``ascii()``."""
    return name if name.isprintable() else ascii(name)


def check_file_name(name: str, *, max_bytes: int = FILE_NAME_MAX_BYTES) -> None:
    """Refuse names that could escape a folder or break a log line.

    Raises:
        IntakeRejected: the name is empty, ``.``/``..``, holds a path separator, ``..`` as a
            component, NUL, or any control character, is not UTF-8 (bytes the file system
            hands over as surrogates), or is over ``max_bytes`` in UTF-8.
    """
    shown = ascii(name)
    if not name or name in (".", ".."):
        raise IntakeRejected(f"{shown}: not a file name")
    if "/" in name or "\\" in name:
        raise IntakeRejected(f"{shown}: file name holds a path separator")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise IntakeRejected(f"{shown}: file name holds control characters")
    if BAD_TEXT.search(name):
        raise IntakeRejected(f"{shown}: file name is not UTF-8")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > max_bytes:
        raise IntakeRejected(
            f"{shown[:60]}...: file name is too long ({size} bytes, at most {max_bytes})"
        )


def lexists(path: Path) -> bool:
    """Whether anything (a link included) is at ``path``; a name too long for the folder is
    simply not there, other errors are raised."""
    try:
        os.lstat(path)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            return False
        raise
    return True


@contextlib.contextmanager
def open_regular(
    path: Path,
    what: str,
    noun: str,
    refuse: type[PermanentError],
    *,
    missing: type[PermanentError] | None = None,
) -> Iterator[tuple[int, os.stat_result]]:
    """Open ``path`` for reading only if it is a regular file, and yield (fd, fstat).

    ``lstat`` first, so nothing else (a device, a pipe) is ever opened; then ``O_NOFOLLOW``
    and ``O_NONBLOCK`` against a swap in between, and ``fstat`` to be sure what was opened is
    the regular file that was looked at.
    """
    try:
        before = os.lstat(path)
    except FileNotFoundError as err:
        raise (missing or refuse)(f"{what}: no such file") from err
    except OSError as err:
        raise refuse(f"{what}: cannot read the {noun}: {_strerror(err)}") from err
    if stat.S_ISLNK(before.st_mode):
        if noun == "file":
            raise refuse(f"{what}: is a symbolic link; copy the recording itself")
        raise refuse(f"{what}: {noun} is a symbolic link")
    if not stat.S_ISREG(before.st_mode):
        raise refuse(f"{what}: {noun} is {_file_kind(before.st_mode)}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise refuse(f"{what}: cannot read the {noun}: {_strerror(err)}") from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
            before.st_dev,
            before.st_ino,
        ):
            raise refuse(f"{what}: {noun} was replaced while it was being opened")
        yield fd, st
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((word for test, word in kinds if test(mode)), "not a plain file")


def _strerror(err: OSError) -> str:
    """The reason of an OSError without the file name it carries."""
    return err.strerror or type(err).__name__
