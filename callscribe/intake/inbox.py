"""Which files in the drop folder's inbox are complete, and when the watcher should look again.

Holds :class:`InboxWatch`, the watcher's eyes on ``inbox/``: a file is ready when it was
renamed in (inotify, through watchdog, reports the rename) or when its size and mtime, and its
sidecar's, have held still for the settle time. Names ending in ``.part``/``.tmp`` and hidden
files are never ready; a file that could not even be moved to ``failed/`` is held back while
it stays. inotify only wakes the loop early: readiness is always decided by a scan, so polling
works the same on network shares where inotify sees nothing.

It is apart from :mod:`callscribe.intake.watcher` because noticing that a file is finished is
a concern of its own (timing, the inotify thread, its lock), separate from what is then done
with the file.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEventHandler

from callscribe.intake.dropfolder import is_ignored
from callscribe.intake.metadata import sidecar_for

__all__ = ["InboxWatch"]


@dataclass
class _Seen:
    signature: tuple[int, int, int, int]
    since: float


@dataclass
class InboxWatch:
    """What the watcher knows of the inbox between scans; one per watcher.

    :meth:`notice_rename` and :meth:`wake` may be called from the inotify thread; everything
    else from the watcher's loop.
    """

    _seen: dict[str, _Seen] = field(default_factory=dict, init=False)
    _renamed_in: set[str] = field(default_factory=set, init=False)
    _stuck: set[str] = field(default_factory=set, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def notice_rename(self, name: str) -> None:
        """A file was renamed into the inbox: it is complete."""
        with self._lock:
            self._renamed_in.add(name)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def wait(self, timeout: float) -> None:
        """Sleep until woken or ``timeout`` seconds have passed."""
        self._wake.wait(timeout)
        self._wake.clear()

    def forget(self, name: str) -> None:
        """The file was taken: start afresh should the name come back."""
        self._seen.pop(name, None)

    def hold(self, name: str) -> None:
        """Leave this file alone while it stays in the inbox (it cannot be moved)."""
        self._stuck.add(name)

    def ready(self, inbox: Path, now: float, settle_s: float) -> list[Path]:
        """The files in ``inbox`` that are complete, sorted; symbolic links are always ready."""
        with self._lock:
            renamed, self._renamed_in = self._renamed_in, set()
        ready: list[Path] = []
        present: set[str] = set()
        with os.scandir(inbox) as entries:
            for entry in entries:
                name = entry.name
                if is_ignored(name) or entry.is_dir(follow_symlinks=False):
                    continue
                present.add(name)
                if name in self._stuck:
                    continue
                path = Path(entry.path)
                if entry.is_symlink():
                    ready.append(path)
                    continue
                signature = _signature(path)
                if signature is None:
                    continue
                seen = self._seen.get(name)
                if seen is None or seen.signature != signature:
                    self._seen[name] = seen = _Seen(signature, now)
                if name in renamed or now - seen.since >= settle_s:
                    ready.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        self._stuck &= present
        return sorted(ready)

    def start_observer(self, inbox: Path) -> Any:
        """Start an inotify observer on ``inbox`` that wakes this watch.

        Raises:
            OSError: inotify is unavailable (no watches left, a file system without it).
        """
        from watchdog.observers import Observer

        observer = Observer()
        observer.schedule(_Handler(self, inbox), str(inbox), recursive=False)
        observer.start()
        return observer


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
        side = sidecar_for(path)
        sst = side.lstat() if side is not None else None
    except OSError:
        return None
    return (
        st.st_size,
        st.st_mtime_ns,
        sst.st_size if sst else -1,
        sst.st_mtime_ns if sst else -1,
    )


class _Handler(FileSystemEventHandler):
    """Wakes the watch; a rename into the inbox marks the file complete."""

    def __init__(self, watch: InboxWatch, inbox: Path) -> None:
        super().__init__()
        self.watch = watch
        self.inbox = inbox

    def on_moved(self, event: Any) -> None:
        dest = Path(os.fsdecode(event.dest_path))
        if dest.parent == self.inbox and not is_ignored(dest.name):
            self.watch.notice_rename(dest.name)
        else:
            self.watch.wake()

    def on_created(self, event: Any) -> None:
        self.watch.wake()

    def on_closed(self, event: Any) -> None:
        self.watch.wake()
