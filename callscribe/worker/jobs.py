"""rq job functions. Enqueued by name (see :mod:`callscribe.intake.queue`), run by the worker.

The model and the stores are built once per worker process and reused by every job: the
worker is a :class:`rq.SimpleWorker` (no fork per job), see :mod:`callscribe.worker.worker`.
"""

from __future__ import annotations

import logging
import math
from types import TracebackType
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job

from callscribe.errors import CallscribeError, CaseSystemUnavailable, PermanentError
from callscribe.ledger import CallStatus
from callscribe.pipeline import run_call
from callscribe.runtime import Runtime, process_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import Transcriber
from callscribe.transcribe.loader import transcriber_from_settings

__all__ = ["process_call", "record_call_failure", "worker_transcriber"]

log = logging.getLogger(__name__)


def worker_runtime() -> Runtime:
    return process_runtime(get_settings())


def worker_transcriber() -> Transcriber:
    """The process-wide transcriber for the current settings (loaded on first use only)."""
    return transcriber_from_settings(get_settings())


def process_call(call_id: str) -> dict[str, Any]:
    """Job: run every stage still pending for ``call_id``. Returns the case id and status."""
    runtime = worker_runtime()
    job = get_current_job()

    def progress(status: str) -> None:
        if job is not None:
            job.meta["stage"] = status
            job.save_meta()  # type: ignore[no-untyped-call]

    stored = run_call(
        call_id,
        ledger=runtime.ledger,
        transcriber=worker_transcriber,
        case_system=runtime.case_system,
        agent_channel=runtime.settings.agent_channel,
        max_call_seconds=runtime.settings.max_call_seconds,
        progress=progress,
    )
    return {"call_id": call_id, "case_id": stored.case_id, "status": CallStatus.DONE}


def record_call_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException],
    exc_value: BaseException,
    traceback: TracebackType | None,
) -> None:
    """rq failure callback: permanent errors are not retried; the ledger gets the reason.

    rq (2.12) runs this callback before it decides on a retry, with the same job object, so
    setting ``retries_left`` to 0 here is what stops the retry of a permanent error. A write-back
    still unavailable after the last retry is not a failed call: it stays ``writing-back`` in
    the outbox, transcript and fields kept, until ``callscribe outbox --drain`` delivers it.
    """
    call_id = str(job.args[0]) if job.args else "?"
    ledger = worker_runtime().ledger
    reason = _one_line(exc_value)
    permanent = isinstance(exc_value, PermanentError) or not isinstance(exc_value, CallscribeError)
    if permanent:
        job.retries_left = 0
    record = ledger.get(call_id)
    if not permanent and not job.retries_left and isinstance(exc_value, CaseSystemUnavailable):
        log.warning("call %s: retries spent, left in the outbox: %s", call_id, reason)
        if record is not None and record.fields is not None:
            ledger.set_status(call_id, CallStatus.WRITING_BACK, error=f"in the outbox: {reason}")
            return
    if permanent or not job.retries_left:
        log.warning("call %s: failed: %s", call_id, reason)
        if record is not None:
            ledger.set_status(call_id, CallStatus.FAILED, error=reason)
    else:
        if isinstance(exc_value, CaseSystemUnavailable) and exc_value.retry_after is not None:
            _defer_next_retry(job, exc_value.retry_after)
        log.info("call %s: will retry (%s left): %s", call_id, job.retries_left, reason)
        if record is not None:
            ledger.set_status(call_id, CallStatus.QUEUED, error=f"retrying after: {reason}")


_RQ_SCHEDULE_RESOLUTION_S = 1
"""rq stores a retry's due time in whole Unix seconds (truncated), so it may run up to a second
before the interval is over; one second more keeps it after the case system's Retry-After."""


def _defer_next_retry(job: Job, retry_after: float) -> None:
    """Make rq's next retry wait at least the case system's ``Retry-After``.

    rq picks the interval at ``len(retry_intervals) - retries_left`` when it schedules the retry,
    right after this callback, and saves the job with it; only that one slot is raised.
    """
    intervals = list(job.retry_intervals or [])
    if not intervals or not job.retries_left:
        return
    slot = max(len(intervals) - job.retries_left, 0)
    wanted = math.ceil(retry_after) + _RQ_SCHEDULE_RESOLUTION_S
    if intervals[slot] < wanted:
        intervals[slot] = wanted
        job.retry_intervals = intervals


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
