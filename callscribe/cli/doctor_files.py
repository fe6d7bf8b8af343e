"""`callscribe doctor`'s checks of folders and disks: the data directory, a drop folder, free disk.

A folder counts as writable only when a file can be made in it; the probes it makes are hidden,
empty directories, removed again. A missing folder that can be created is a warning.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from callscribe.cli.doctor_findings import FAIL, OK, WARN, Finding, size_text

__all__ = [
    "DROP_SUBFOLDERS",
    "LOW_DISK_BYTES",
    "LOW_DISK_SHARE",
    "NO_DISK_BYTES",
    "check_data_dir",
    "check_drop_folder",
    "check_free_disk",
    "drop_root",
]

LOW_DISK_BYTES = 1 << 30
"""Free bytes under which a disk is a warning (so is under :data:`LOW_DISK_SHARE` free)."""
LOW_DISK_SHARE = 0.05
NO_DISK_BYTES = 100 << 20
"""Free bytes under which a disk is a failure: one long call's audio would not fit."""

DROP_SUBFOLDERS = ("inbox", "processing", "done", "failed")


def check_data_dir(data: Path) -> list[Finding]:
    """The data directory (store, call audio, uploads) is writable, or can be created."""
    data = data.absolute()
    if data.is_dir():
        problem = _write_problem(data)
        if problem:
            return [Finding(FAIL, "data", f"{data} is not writable ({problem})")]
        return [Finding(OK, "data", f"{data} writable")]
    if data.exists():
        return [Finding(FAIL, "data", f"{data} is not a folder")]
    if _creatable(data):
        return [Finding(WARN, "data", f"{data} does not exist yet; it is created on first use")]
    return [Finding(FAIL, "data", f"{data} does not exist and cannot be created")]


def check_drop_folder(path: Path) -> list[Finding]:
    """inbox, processing, done and failed exist or can be created, are writable, and one
    directory can be renamed through all four (so the watcher's moves are atomic)."""
    root = drop_root(path)
    problems: list[str] = []
    to_create: list[str] = []
    devices: dict[str, int] = {}
    for name in DROP_SUBFOLDERS:
        sub = root / name
        if sub.is_dir():
            problem = _write_problem(sub)
            if problem:
                problems.append(f"{name}/ is not writable ({problem})")
            else:
                devices[name] = sub.stat().st_dev
        elif sub.exists() or sub.is_symlink():
            problems.append(f"{name} is not a folder")
        elif _creatable(sub):
            to_create.append(name)
            devices[name] = _existing_ancestor(sub).stat().st_dev
        else:
            problems.append(f"{name}/ does not exist and cannot be created")
    first, *others = devices or [""]
    apart = [name for name in others if devices[name] != devices[first]]
    if apart:
        problems.append(
            f"{', '.join(apart)} on another filesystem than {first}: moves between them would "
            "not be atomic"
        )
    elif not problems and not to_create:
        problem = _rename_problem(root)
        if problem:
            problems.append(f"a rename through the four folders failed ({problem})")
    if problems:
        return [Finding(FAIL, "drop-folder", f"{root}: {'; '.join(problems)}")]
    if to_create:
        return [
            Finding(
                WARN,
                "drop-folder",
                f"{root}: {', '.join(to_create)} missing (`callscribe watch` creates them)"
                + ("; the others writable" if len(to_create) < len(DROP_SUBFOLDERS) else ""),
            )
        ]
    return [
        Finding(
            OK,
            "drop-folder",
            f"{root}: inbox, processing, done, failed writable, renames between them atomic",
        )
    ]


def check_free_disk(name: str, path: Path) -> Finding:
    """Free space where ``path`` lives (or would be created)."""
    place = _existing_ancestor(path.absolute())
    usage = shutil.disk_usage(place)
    share = usage.free / usage.total if usage.total else 0.0
    detail = f"{size_text(usage.free)} free of {size_text(usage.total)} ({share:.0%}) at {place}"
    if usage.free < NO_DISK_BYTES:
        return Finding(FAIL, name, detail)
    if usage.free < LOW_DISK_BYTES or share < LOW_DISK_SHARE:
        return Finding(WARN, name, detail)
    return Finding(OK, name, detail)


def drop_root(path: Path) -> Path:
    """The drop folder for ``watch DIR``: DIR, or its parent when DIR is the inbox itself."""
    path = path.absolute()
    return path.parent if path.name == "inbox" else path


def _write_problem(folder: Path) -> str | None:
    """Why a file cannot be made in ``folder``, or None (tested by making one: root, ACLs,
    read-only mounts and immutable folders all show)."""
    try:
        probe = tempfile.mkdtemp(dir=folder, prefix=".callscribe-doctor-")
        os.rmdir(probe)
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _rename_problem(root: Path) -> str | None:
    """Rename one hidden, empty directory inbox -> processing -> done -> failed.

    A directory, not a file: the watcher takes only files, and skips hidden names anyway.
    """
    try:
        current = Path(tempfile.mkdtemp(dir=root / "inbox", prefix=".callscribe-doctor-"))
    except OSError as err:
        return err.strerror or type(err).__name__
    try:
        for name in DROP_SUBFOLDERS[1:]:
            target = root / name / current.name
            os.replace(current, target)
            current = target
    except OSError as err:
        return err.strerror or type(err).__name__
    finally:
        current.rmdir()
    return None


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _creatable(path: Path) -> bool:
    ancestor = _existing_ancestor(path)
    return ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)
