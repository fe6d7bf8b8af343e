"""``callscribe watch``: take complete files from a drop folder, queue each call exactly once.

A file is taken when it is complete: it was renamed into ``inbox/`` (seen through inotify), or
its size and mtime (and its sidecar's) have held still for ``settle_s``. Names ending in
``.part``/``.tmp`` and hidden files are left alone. Taken files wait in ``processing/`` until
the ledger says their call is done or failed, then move to ``done/`` or ``failed/`` (with
``NAME.error.json``). Duplicates go straight to ``done/`` with ``NAME.duplicate.json``.

inotify (through watchdog) only wakes the loop early; every decision is made by a scan, so the
same code runs with ``polling=True`` on network shares where inotify sees nothing (both live in
:mod:`callscribe.intake.inbox`). On start-up the watcher re-queues every call in
``processing/`` that no live rq job owns.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from callscribe.errors import (
    IntakeRejected,
    MetadataError,
    PermanentError,
    RetryableError,
    as_file_reason,
    one_line,
)
from callscribe.intake.dropfolder import SAFE_NAME_MAX_BYTES, DropFolder, name_token, split_token
from callscribe.intake.files import check_file_name, display_name
from callscribe.intake.inbox import InboxWatch
from callscribe.intake.metadata import read_sidecar, sidecar_for
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger, CallRecord, CallStatus
from callscribe.observability import count_watcher_error

__all__ = ["Enqueue", "Watcher"]

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str], None]
"""enqueue(call_id, priority): queue the call unless a live job owns it already."""

RECHECK_S = 30.0
"""Seconds between checks that every call in processing/ still has a live job (a flushed or
failed-over Redis loses queued jobs; the ledger and the folder still know the calls)."""


@dataclass
class Watcher:
    """Moves drop-folder files through their lifecycle; one instance per folder.

    No single file can stop it: each file's handling is guarded, and whatever goes wrong with
    one (a bad sidecar, a pipe, a directory, a name too long, an error nobody foresaw) moves that
    file and its sidecar to failed/ with ``NAME.error.json`` and the watcher goes on; recovery
    at start-up follows the same rule. Only failures of what every file needs (the ledger,
    Redis) leave a file where it is, to be tried again. Log lines name calls by id and files by
    :func:`~callscribe.intake.dropfolder.name_token`, never by name: names and metadata may
    hold a caller's number or name.
    """

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
    _inbox: InboxWatch = field(default_factory=InboxWatch, init=False)
    _tracked: dict[Path, str] = field(default_factory=dict, init=False)
    _unadmitted: set[Path] = field(default_factory=set, init=False)
    _unqueueable: set[str] = field(default_factory=set, init=False)
    _last_recheck: float = field(default=0.0, init=False)

    def run(self, stop: threading.Event) -> None:
        """Recover, then scan until ``stop`` is set."""
        self.recover()
        observer = None if self.polling else self._start_observer()
        try:
            while not stop.is_set():
                try:
                    self.scan_once()
                except Exception as err:  # noqa: BLE001 - the loop outlives any one failure
                    log.warning("drop folder scan failed, trying again: %s", _brief(err))
                self._inbox.wait(self.poll_s)
        finally:
            if observer is not None:
                observer.stop()
                observer.join(timeout=5)

    def recover(self) -> None:
        """Start-up: put crash leftovers back in order and re-queue calls no job owns.

        A file in processing/ that cannot be read or registered goes to failed/ like any other.
        """
        try:
            returned = self.folder.return_orphan_sidecars()
            leftovers = sorted(self.folder.processing.iterdir())
        except OSError as err:
            log.error("cannot read processing/ to recover it: %s", _brief(err))
            return
        for sidecar in returned:
            log.warning(
                "file %s: sidecar returned to the inbox after an interrupted move",
                name_token(sidecar.name),
            )
        for path in leftovers:
            if path.suffix != ".json":
                self._guarded(path, partial(self._admit, path, recovering=True), recovering=True)
        self._last_recheck = self.clock()

    def scan_once(self) -> None:
        """One pass: take what is complete in the inbox, settle what is finished."""
        for path in self._inbox.ready(self.folder.inbox, self.clock(), self.settle_s):
            self._guarded(path, partial(self._take, path))
        for path, call_id in list(self._tracked.items()):
            self._guarded(path, partial(self._settle, path, call_id))
        if self.clock() - self._last_recheck >= self.recheck_s:
            self._last_recheck = self.clock()
            for path in sorted(self._unadmitted):
                self._unadmitted.discard(path)
                self._guarded(path, partial(self._admit, path, recovering=True))
            for call_id in set(self._tracked.values()):
                self._ensure_queued(call_id)

    def notice_rename(self, name: str) -> None:
        """A file was renamed into the inbox: it is complete (called by the inotify handler)."""
        self._inbox.notice_rename(name)

    def wake(self) -> None:
        self._inbox.wake()

    def _guarded(self, path: Path, action: Callable[[], None], *, recovering: bool = False) -> None:
        """Run one file's step; anything unforeseen sends that file to failed/, not us down.

        Errors of the ledger or Redis are no fault of the file: it stays for another try.
        """
        try:
            action()
        except _TRANSIENT as err:
            log.warning("file %s: %s; trying again later", name_token(_original(path)), _brief(err))
        except Exception as err:  # noqa: BLE001 - one file may never stop the watcher
            self._tracked.pop(path, None)
            self._unadmitted.discard(path)
            reason = f"unexpected {type(err).__name__}: {err}"
            self._fail(path, reason, kind="recovery" if recovering else "other")

    def _take(self, path: Path) -> None:
        self._inbox.forget(path.name)
        what = display_name(path.name)
        sidecar: Path | None = None
        try:
            sidecar = sidecar_for(path)
            check_file_name(path.name, max_bytes=SAFE_NAME_MAX_BYTES)
        except PermanentError as err:
            self._fail(path, str(err), kind="name", sidecar=sidecar)
            return
        try:
            if path.is_symlink():
                raise IntakeRejected(f"{what}: is a symbolic link; copy the recording itself")
            if sidecar is not None and sidecar.is_symlink():
                raise MetadataError(f"{display_name(sidecar.name)}: sidecar is a symbolic link")
        except IntakeRejected as err:
            self._fail(path, str(err), kind="audio", sidecar=sidecar)
            return
        except MetadataError as err:
            self._fail(path, str(err), kind="sidecar", sidecar=sidecar)
            return
        try:
            moved = self.folder.take(path, sidecar)
        except FileNotFoundError:
            return
        except OSError as err:
            log.warning(
                "file %s: cannot move it to processing/ (%s); trying again",
                name_token(path.name),
                _brief(err),
            )
            return
        self._guarded(moved, partial(self._admit, moved, recovering=False))

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
            prefix = path.name[: len(path.name) - len(original)]
            reason = str(err).replace(prefix, "") if prefix else str(err)
            self._fail(path, reason, kind="sidecar" if isinstance(err, MetadataError) else "audio")
            return
        except _TRANSIENT as err:
            self._unadmitted.add(path)
            log.warning(
                "file %s: cannot register it now (%s); trying again in %.0fs",
                name_token(original),
                _brief(err),
                self.recheck_s,
            )
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
        """Queue the call unless it is finished; Redis down is retried at the next recheck.

        A call that cannot be queued for any other reason is marked failed, so that its file
        goes to failed/ with the reason instead of waiting for ever.
        """
        try:
            record = record or self.ledger.get(call_id)
            if record is None or record.status in (CallStatus.DONE, CallStatus.FAILED):
                return
            self.enqueue(call_id, str(record.metadata.get("priority") or "normal"))
        except (*_TRANSIENT, OSError) as err:
            log.warning(
                "call %s: cannot queue it now (%s); retrying in %.0fs",
                call_id,
                _brief(err),
                self.recheck_s,
            )
        except Exception as err:  # noqa: BLE001 - recorded as the call's failure
            log.error("call %s: cannot be queued (%s); marking it failed", call_id, _brief(err))
            self._unqueueable.add(call_id)
            self.ledger.set_status(
                call_id, CallStatus.FAILED, error=f"cannot be queued: {type(err).__name__}: {err}"
            )

    def _settle(self, path: Path, call_id: str) -> None:
        record = self.ledger.get(call_id)
        if record is None or record.status not in (CallStatus.DONE, CallStatus.FAILED):
            return
        del self._tracked[path]
        if not os.path.lexists(path):
            return
        if record.status == CallStatus.DONE:
            self.folder.finish(path, failed=False, note=None, note_kind="")
            log.info("call %s: done, file moved to done/", call_id)
        else:
            kind = "queue" if call_id in self._unqueueable else "other"
            self._fail(
                path,
                as_file_reason(record.error or "failed", call_id, split_token(path.name)[1]),
                kind=kind,
                call_id=call_id,
            )
        self._unqueueable.discard(call_id)

    def _duplicate(self, path: Path, original: CallRecord) -> None:
        if original.status == CallStatus.FAILED:
            reason = f"duplicate of failed call {original.call_id}: {original.error}"
            self._fail(path, reason, kind="duplicate", call_id=original.call_id)
            return
        note = {
            "duplicate_of": original.call_id,
            "status": original.status_line,
            "first_seen_as": original.source_name,
        }
        self.folder.finish(path, failed=False, note=note, note_kind="duplicate")
        log.info(
            "call %s: file %s is a duplicate, moved to done/",
            original.call_id,
            name_token(_original(path)),
        )

    def _fail(
        self,
        path: Path,
        reason: str,
        *,
        kind: str,
        call_id: str | None = None,
        sidecar: Path | None = None,
    ) -> None:
        """Move the file (and its sidecar) to failed/ with ``NAME.error.json``.

        The reason goes into that note only: it may quote the name or a metadata value. A file
        that cannot even be moved is left alone, and not tried again while it stays there.
        """
        original = _original(path)
        token = name_token(original)
        note = {
            "reason": one_line(reason, 500),
            "call_id": call_id,
            "file": original,
            "token": token,
        }
        try:
            self.folder.finish(path, failed=True, note=note, note_kind="error", sidecar=sidecar)
        except FileNotFoundError:
            return
        except Exception as err:  # noqa: BLE001 - the watcher outlives a file it cannot move
            if path.parent == self.folder.inbox:
                self._inbox.hold(path.name)
            log.error(
                "file %s: cannot move it to failed/ (%s); leaving it where it is",
                token,
                _brief(err),
            )
            return
        count_watcher_error(kind)
        if call_id is not None:
            log.warning("call %s: file %s moved to failed/ (%s)", call_id, token, kind)
        else:
            log.warning("file %s: moved to failed/ (%s)", token, kind)

    def _start_observer(self) -> Any:
        try:
            observer = self._inbox.start_observer(self.folder.inbox)
        except OSError as err:
            log.warning(
                "inotify unavailable (%s); polling the inbox every %.1fs",
                _brief(err),
                self.poll_s,
            )
            return None
        return observer


_TRANSIENT = (SQLAlchemyError, RedisError, RetryableError)
"""Failures of what every file needs, not of one file: the file waits for another try."""


def _original(path: Path) -> str:
    return split_token(path.name)[1]


def _brief(err: BaseException) -> str:
    """An error for a log line, free of what it may carry from outside.

    An OSError's file name and a database error's statement and parameters are left out; Redis
    and our retryable errors say only what failed to answer.
    """
    if isinstance(err, OSError) and not isinstance(err, RedisError):
        return err.strerror or type(err).__name__
    if isinstance(err, RedisError | RetryableError):
        return one_line(str(err), 200)
    return type(err).__name__


def queue_enqueuer(connection: Any, queue_name: str, job_timeout_s: int) -> Enqueue:
    """An :data:`Enqueue` on rq: urgent calls go to the urgent queue the workers read first."""
    from callscribe.intake.queue import CallQueues

    queues = CallQueues(connection, queue_name)
    try:
        for queue in (queues.normal, queues.urgent):
            queue.started_job_registry.cleanup()
    except RedisError as err:
        log.warning("cannot clean the started-job registries now: %s", _brief(err))

    def enqueue(call_id: str, priority: str) -> None:
        queues.enqueue(call_id, priority, job_timeout_s=job_timeout_s)

    return enqueue
