"""``callscribe watch``: take complete files from a drop folder, queue each call exactly once.

A file is taken when it is complete: it was renamed into ``inbox/`` (seen through inotify), or
its size and mtime (and its sidecar's) have held still for ``settle_s``. Names ending in
``.part``/``.tmp`` and hidden files are left alone. Taken files wait in ``processing/`` until
the ledger says their call is done or failed, then move to ``done/`` or ``failed/`` (with
``NAME.error.json``). Duplicates go straight to ``done/`` with ``NAME.duplicate.json``.

inotify (through watchdog) only wakes the loop early; every decision is made by a scan, so the
same code runs with ``polling=True`` on network shares where inotify sees nothing. On start-up
the watcher re-queues every call in ``processing/`` that no live rq job owns.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from watchdog.events import FileSystemEventHandler

from callscribe.errors import IntakeRejected, PermanentError, RetryableError
from callscribe.intake.dropfolder import DropFolder, is_ignored, split_token
from callscribe.intake.register import (
    check_file_name,
    read_sidecar,
    register_call_file,
    sidecar_for,
)
from callscribe.ledger import CallLedger, CallRecord, CallStatus

__all__ = ["Enqueue", "Watcher"]

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]
"""enqueue(call_id, priority): queue the call unless a live job owns it already."""

RECHECK_S = 30.0
"""Seconds between checks that every call in processing/ still has a live job (a flushed or
failed-over Redis loses queued jobs; the ledger and the folder still know the calls)."""


@dataclass
class _Seen:
    signature: tuple[int, int, int, int]
    since: float


@dataclass
class Watcher:
    """Moves drop-folder files through their lifecycle; one instance per folder."""

    folder: DropFolder
    ledger: CallLedger
    data_dir: Path
    enqueue: Enqueue
    settle_s: float = 2.0
    poll_s: float = 1.0
    polling: bool = False
    max_bytes: int | None = None
    recheck_s: float = RECHECK_S
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict, init=False)
    _renamed_in: set[str] = field(default_factory=set, init=False)
    _tracked: dict[Path, str] = field(default_factory=dict, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _last_recheck: float = field(default=0.0, init=False)

    def run(self, stop: threading.Event) -> None:
        """Recover, then scan until ``stop`` is set."""
        self.recover()
        observer = None if self.polling else self._start_observer()
        try:
            while not stop.is_set():
                try:
                    self.scan_once()
                except (OSError, SQLAlchemyError) as err:
                    log.warning("drop folder scan failed, trying again: %s", err)
                self._wake.wait(self.poll_s)
                self._wake.clear()
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)

    def recover(self) -> None:
        """Start-up: put crash leftovers back in order and re-queue calls no job owns."""
        for sidecar in self.folder.return_orphan_sidecars():
            log.warning("%s: sidecar returned to the inbox after an interrupted move", sidecar.name)
        for path in sorted(self.folder.processing.iterdir()):
            if path.suffix != ".json" and path.is_file():
                self._admit(path, recovering=True)
        self._last_recheck = self.clock()

    def scan_once(self) -> None:
        """One pass: take what is complete in the inbox, settle what is finished."""
        for path in self._ready_in_inbox():
            self._take(path)
        self._settle_processing()
        if self.clock() - self._last_recheck >= self.recheck_s:
            self._last_recheck = self.clock()
            for call_id in set(self._tracked.values()):
                self._ensure_queued(call_id)

    def notice_rename(self, name: str) -> None:
        """A file was renamed into the inbox: it is complete (called by the inotify handler)."""
        with self._lock:
            self._renamed_in.add(name)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _ready_in_inbox(self) -> list[Path]:
        now = self.clock()
        with self._lock:
            renamed, self._renamed_in = self._renamed_in, set()
        ready: list[Path] = []
        present: set[str] = set()
        with os.scandir(self.folder.inbox) as entries:
            for entry in entries:
                name = entry.name
                if is_ignored(name) or entry.is_dir(follow_symlinks=False):
                    continue
                present.add(name)
                path = Path(entry.path)
                if entry.is_symlink():
                    ready.append(path)
                    continue
                signature = self._signature(path)
                if signature is None:
                    continue
                seen = self._seen.get(name)
                if seen is None or seen.signature != signature:
                    self._seen[name] = seen = _Seen(signature, now)
                if name in renamed or now - seen.since >= self.settle_s:
                    ready.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return sorted(ready)

    @staticmethod
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

    def _take(self, path: Path) -> None:
        self._seen.pop(path.name, None)
        try:
            check_file_name(path.name)
            if path.is_symlink():
                raise IntakeRejected(f"{path.name}: is a symbolic link; copy the recording itself")
            sidecar = sidecar_for(path)
            if sidecar is not None and sidecar.is_symlink():
                raise IntakeRejected(f"{sidecar.name}: sidecar is a symbolic link")
        except PermanentError as err:
            self._fail(path, str(err))
            return
        try:
            moved = self.folder.take(path, sidecar)
        except FileNotFoundError:
            return
        except OSError as err:
            log.warning("%s: cannot move it to processing/ (%s); trying again", path.name, err)
            return
        self._admit(moved, recovering=False)

    def _admit(self, path: Path, *, recovering: bool) -> None:
        """Register a file in processing/ and queue it, or settle it as duplicate or failed."""
        token, original = split_token(path.name)
        try:
            metadata: dict[str, Any] = {}
            sidecar = self.folder.sidecar_in_processing(path)
            if sidecar is not None:
                metadata = read_sidecar(sidecar, root=self.folder.processing)
            if token:
                metadata["intake_token"] = token
            metadata.setdefault("source", "drop-folder")
            record, created = register_call_file(
                path,
                ledger=self.ledger,
                data_dir=self.data_dir,
                metadata=metadata,
                max_bytes=self.max_bytes,
                source_name=original,
            )
        except PermanentError as err:
            self._fail(path, str(err).replace(path.name, original))
            return
        ours = created or (token is not None and record.metadata.get("intake_token") == token)
        if not ours:
            self._duplicate(path, record)
            return
        log.info(
            "call %s: %s from the drop folder", record.call_id, "resumed" if recovering else "taken"
        )
        self._tracked[path] = record.call_id
        if record.status not in (CallStatus.DONE, CallStatus.FAILED):
            self._ensure_queued(record.call_id, record)

    def _ensure_queued(self, call_id: str, record: CallRecord | None = None) -> None:
        record = record or self.ledger.get(call_id)
        if record is None or record.status in (CallStatus.DONE, CallStatus.FAILED):
            return
        try:
            self.enqueue(call_id, str(record.metadata.get("priority") or "normal"))
        except (RedisError, OSError, RetryableError) as err:
            log.warning(
                "call %s: cannot queue it now (%s); retrying in %.0fs",
                call_id,
                " ".join(str(err).split()),
                self.recheck_s,
            )

    def _settle_processing(self) -> None:
        for path, call_id in list(self._tracked.items()):
            record = self.ledger.get(call_id)
            if record is None or record.status not in (CallStatus.DONE, CallStatus.FAILED):
                continue
            del self._tracked[path]
            if not path.exists():
                continue
            if record.status == CallStatus.DONE:
                target = self.folder.finish(path, failed=False, note=None, note_kind="")
                log.info("call %s: done, file moved to %s", call_id, target.name)
            else:
                self._fail(path, record.error or "failed", call_id=call_id)

    def _duplicate(self, path: Path, original: CallRecord) -> None:
        if original.status == CallStatus.FAILED:
            reason = f"duplicate of failed call {original.call_id}: {original.error}"
            self._fail(path, reason, call_id=original.call_id)
            return
        note = {
            "duplicate_of": original.call_id,
            "status": original.status_line,
            "first_seen_as": original.source_name,
        }
        target = self.folder.finish(path, failed=False, note=note, note_kind="duplicate")
        log.info("call %s: %s is a duplicate", original.call_id, target.name)

    def _fail(self, path: Path, reason: str, *, call_id: str | None = None) -> None:
        note = {"reason": " ".join(reason.split()), "call_id": call_id, "file": ascii(path.name)}
        try:
            target = self.folder.finish(path, failed=True, note=note, note_kind="error")
        except FileNotFoundError:
            return
        log.warning("%s: failed: %s", target.name, note["reason"])

    def _start_observer(self) -> Any:
        from watchdog.observers import Observer

        try:
            observer = Observer()
            observer.schedule(_Handler(self), str(self.folder.inbox), recursive=False)
            observer.start()
        except OSError as err:
            log.warning(
                "inotify unavailable (%s); polling %s every %.1fs",
                err,
                self.folder.inbox,
                self.poll_s,
            )
            return None
        return observer


class _Handler(FileSystemEventHandler):
    """Wakes the watcher; a rename into the inbox marks the file complete."""

    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self.watcher = watcher

    def on_moved(self, event: Any) -> None:
        dest = Path(os.fsdecode(event.dest_path))
        if dest.parent == self.watcher.folder.inbox and not is_ignored(dest.name):
            self.watcher.notice_rename(dest.name)
        else:
            self.watcher.wake()

    def on_created(self, event: Any) -> None:
        self.watcher.wake()

    def on_closed(self, event: Any) -> None:
        self.watcher.wake()


def queue_enqueuer(connection: Any, queue_name: str, job_timeout_s: int) -> Enqueue:
    """An :data:`Enqueue` on rq: urgent calls go to the urgent queue the workers read first."""
    from callscribe.intake.queue import CallQueues

    queues = CallQueues(connection, queue_name)
    try:
        for queue in (queues.normal, queues.urgent):
            queue.started_job_registry.cleanup()
    except RedisError as err:
        log.warning("cannot clean the started-job registries now: %s", err)

    def enqueue(call_id: str, priority: str) -> None:
        queues.enqueue(call_id, priority, job_timeout_s=job_timeout_s)

    return enqueue
