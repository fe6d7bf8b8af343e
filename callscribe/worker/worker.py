"""The call worker: a SimpleWorker that keeps the Whisper model resident.

rq's default Worker forks a work-horse per job, so a model loaded inside a job would be loaded
again for every call. :class:`CallWorker` runs jobs in its own process instead; the model is
loaded once, before the first job is taken, and reused. The price is that a job that crashes
the interpreter takes the worker with it; run several worker processes (one per core budget)
under a supervisor that restarts them.

At rq's maintenance interval (10 minutes by default) the worker also drains the outbox: calls
whose fields are stored but whose write-back no live job owns any more (rq gave up while the
case system was down, or the process died mid-request) are written back from the ledger.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import SimpleWorker

from callscribe.errors import CaseSystemUnavailable, WriteBackRejected
from callscribe.intake.queue import live_job
from callscribe.worker.jobs import worker_runtime, worker_transcriber
from callscribe.writeback.outbox import Outbox

__all__ = ["CallWorker"]

log = logging.getLogger(__name__)


class CallWorker(SimpleWorker):
    """Loads the transcriber before taking jobs, then runs each job in-process."""

    preload_model = True
    drain_outbox = True

    def work(self, *args: Any, **kwargs: Any) -> bool:
        if self.preload_model:
            worker_transcriber()
        return bool(super().work(*args, **kwargs))

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        if self.drain_outbox:
            self.drain_orphaned_write_backs()

    def drain_orphaned_write_backs(self) -> list[str]:
        """Write back pending calls that no live job owns; returns the call ids delivered."""
        runtime = worker_runtime()
        outbox = Outbox(runtime.ledger, runtime.case_system)
        delivered = []
        for item in outbox.pending():
            if live_job(self.connection, item.call_id) is not None:
                continue
            try:
                outbox.deliver(item.call_id)
            except CaseSystemUnavailable as err:
                log.info("call %s: case system still unavailable: %s", item.call_id, err)
                break
            except WriteBackRejected:
                continue
            delivered.append(item.call_id)
        if delivered:
            log.info("outbox: wrote back %d orphaned call(s)", len(delivered))
        return delivered
