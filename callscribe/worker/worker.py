"""The call worker: a SimpleWorker that keeps the Whisper model resident.

rq's default Worker forks a work-horse per job, so a model loaded inside a job would be loaded
again for every call. :class:`CallWorker` runs jobs in its own process instead; the model is
loaded once, before the first job is taken, and reused. The price is that a job that crashes
the interpreter takes the worker with it; run several worker processes (one per core budget)
under a supervisor that restarts them.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import SimpleWorker

from callscribe.worker.jobs import worker_transcriber

__all__ = ["CallWorker"]

log = logging.getLogger(__name__)


class CallWorker(SimpleWorker):
    """Loads the transcriber before taking jobs, then runs each job in-process."""

    preload_model = True

    def work(self, *args: Any, **kwargs: Any) -> bool:
        if self.preload_model:
            worker_transcriber()
        return bool(super().work(*args, **kwargs))
