"""rq job functions. Enqueued by name (see :mod:`callscribe.intake.queue`), run by the worker.

The model and the stores are built once per worker process and reused by every job: the
worker is a :class:`rq.SimpleWorker` (no fork per job), see :mod:`callscribe.worker.worker`.

The ledger (SQL) is the truth of a call's stage; what the job writes to Redis (its ``stage``
meta) is a convenience, so a Redis outage while a call runs never fails the call.

**Time limits scale with the audio.** A call's duration is not known before its audio is
decoded (the recorder's file may be a headerless or variable-bitrate format), so the job is
queued with the configured floor (``CALLSCRIBE_JOB_TIMEOUT_S``) as its rq timeout, and raises
its own limit to ``max(floor, CALLSCRIBE_JOB_TIMEOUT_FACTOR x duration)`` right after decoding
(:func:`extend_time_limit`): the alarm of :class:`JobTimeLimit` is re-armed, and the job's
entry in rq's started registry is given the same new expiry, so that rq does not take the
still-running job for abandoned. Decoding itself is bounded in memory and time by the audio
stage and fits in the floor.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from types import FrameType, TracebackType
from typing import Any, ClassVar

import redis.exceptions
from redis import Redis
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import UnixSignalDeathPenalty
from rq.utils import now

from callscribe.errors import (
    CaseSystemUnavailable,
    PermanentError,
    QueueUnavailable,
    RetryableError,
    error_line,
)
from callscribe.ledger import CallStatus
from callscribe.observability import count_retry, observe_call_finished
from callscribe.pipeline import run_call
from callscribe.runtime import Runtime, process_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import Transcriber
from callscribe.transcribe.loader import transcriber_from_settings

__all__ = [
    "REDIS_UNAVAILABLE",
    "JobTimeLimit",
    "extend_time_limit",
    "process_call",
    "record_call_failure",
    "time_limit_for",
    "warm_up_worker",
    "worker_transcriber",
]

log = logging.getLogger(__name__)

REDIS_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
"""What redis-py raises while Redis is down, restarting (loading its data) or unreachable."""

RQ_TTL_MARGIN_S = 60
"""Seconds rq's SimpleWorker adds to a job's timeout for its entry in the started registry."""


def worker_runtime() -> Runtime:
    return process_runtime(get_settings())


def worker_transcriber() -> Transcriber:
    """The process-wide transcriber for the current settings (loaded on first use only)."""
    return transcriber_from_settings(get_settings())


def warm_up_worker() -> None:
    """Load what every job needs before the first is taken: the model, and the extractor's
    rules, gazetteer, jieba and classifier (about 3 s that the first call would otherwise pay)."""
    from callscribe.summarize.fields import warm_up

    worker_transcriber()
    warm_up()


def time_limit_for(duration_s: float, *, floor_s: float, factor: float) -> int:
    """Seconds a job on ``duration_s`` of audio may run: the floor, or ``factor`` per second."""
    return max(math.ceil(floor_s), math.ceil(factor * max(duration_s, 0.0)))


def process_call(call_id: str) -> dict[str, Any]:
    """Job: run every stage still pending for ``call_id``. Returns the case id and status."""
    runtime = worker_runtime()
    settings = runtime.settings
    job = get_current_job()

    def progress(status: str) -> None:
        if job is None:
            return
        job.meta["stage"] = status
        try:
            job.save_meta()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError as err:
            log.warning(
                "call %s: stage %s not noted on Redis (%s); the ledger has it",
                call_id,
                status,
                type(err).__name__,
            )

    def raise_time_limit(duration_s: float) -> None:
        floor = job.timeout if job is not None and job.timeout else settings.job_timeout_s
        limit = time_limit_for(duration_s, floor_s=floor, factor=settings.job_timeout_factor)
        extend_time_limit(call_id, limit, job)

    stored = run_call(
        call_id,
        ledger=runtime.ledger,
        transcriber=worker_transcriber,
        case_system=runtime.case_system,
        agent_channel=settings.agent_channel,
        max_call_seconds=settings.max_call_seconds,
        progress=progress,
        on_audio_duration=raise_time_limit,
    )
    return {"call_id": call_id, "case_id": stored.case_id, "status": CallStatus.DONE}


class JobTimeLimit(UnixSignalDeathPenalty):
    """rq's SIGALRM time limit, which the running job may raise (:func:`extend_time_limit`).

    The worker runs one job at a time in its main thread, so at most one limit is armed.
    """

    armed: ClassVar[JobTimeLimit | None] = None

    def setup_death_penalty(self) -> None:
        self._armed_at = time.monotonic()
        super().setup_death_penalty()  # type: ignore[no-untyped-call]
        JobTimeLimit.armed = self

    def cancel_death_penalty(self) -> None:
        if JobTimeLimit.armed is self:
            JobTimeLimit.armed = None
        super().cancel_death_penalty()  # type: ignore[no-untyped-call]

    def handle_death_penalty(self, signum: int, frame: FrameType | None) -> None:
        raise self._exception(f"the call's job ran past its time limit of {self._timeout}s")

    @property
    def limit_s(self) -> int:
        return int(self._timeout)

    def extend(self, limit_s: int) -> float:
        """Let the job run ``limit_s`` seconds from its start; returns the seconds left."""
        left = max(1.0, limit_s - (time.monotonic() - self._armed_at))
        self._timeout = limit_s
        signal.alarm(math.ceil(left))
        return left


def extend_time_limit(call_id: str, limit_s: int, job: Job | None) -> None:
    """Raise the running job's time limit to ``limit_s`` seconds (never lowers it).

    Outside a worker's job (``callscribe process``) there is no limit and nothing happens.
    """
    armed = JobTimeLimit.armed
    if armed is None or limit_s <= armed.limit_s:
        return
    left = armed.extend(limit_s)
    log.info("call %s: time limit raised to %ds for its audio", call_id, limit_s)
    if job is None:
        return
    ttl = math.ceil(left) + RQ_TTL_MARGIN_S
    try:
        with job.connection.pipeline() as pipeline:
            for execution in job.get_executions():
                execution.heartbeat(job.started_job_registry, ttl, pipeline)
            job.heartbeat(now(), ttl, pipeline=pipeline, xx=True)
            pipeline.execute()
    except redis.exceptions.RedisError as err:
        log.warning("call %s: new time limit not noted on Redis (%s)", call_id, type(err).__name__)


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

    Retried: our :class:`RetryableError`, Redis going away (rq's own bookkeeping round the job
    failed), and a job rq found abandoned (its worker died). A call the ledger already has as
    ``done`` is never touched: whatever failed afterwards was the queue's bookkeeping.
    """
    call_id = str(job.args[0]) if job.args else "?"
    ledger = worker_runtime().ledger
    record = ledger.get(call_id)
    if record is not None and record.status == CallStatus.DONE:
        job.retries_left = 0
        log.info("call %s: done; its job's %s is not the call's", call_id, exc_type.__name__)
        return
    retry_reason = _retry_reason(exc_value)
    reason = _reason(exc_value)
    if retry_reason is None:
        job.retries_left = 0
    else:
        count_retry(retry_reason)
    if retry_reason == "case-system" and not job.retries_left:
        log.warning("call %s: retries spent, left in the outbox: %s", call_id, reason)
        if record is not None and record.fields is not None:
            ledger.set_status(call_id, CallStatus.WRITING_BACK, error=f"in the outbox: {reason}")
            return
    if retry_reason is None or not job.retries_left:
        log.warning("call %s: failed: %s", call_id, reason)
        if record is not None:
            ledger.set_status(call_id, CallStatus.FAILED, error=reason)
            observe_call_finished(CallStatus.FAILED)
    else:
        if isinstance(exc_value, CaseSystemUnavailable) and exc_value.retry_after is not None:
            _defer_next_retry(job, exc_value.retry_after)
        log.info("call %s: will retry (%s left): %s", call_id, job.retries_left, reason)
        if record is not None:
            ledger.set_status(call_id, CallStatus.QUEUED, error=f"retrying after: {reason}")


def _retry_reason(exc: BaseException) -> str | None:
    """The metric's word for a failure worth retrying; None for a permanent one."""
    if isinstance(exc, PermanentError):
        return None
    if isinstance(exc, CaseSystemUnavailable):
        return "case-system"
    if isinstance(exc, (QueueUnavailable, *REDIS_UNAVAILABLE)):
        return "redis"
    if isinstance(exc, (RetryableError, AbandonedJobError)):
        return "other"
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, AbandonedJobError):
        return "its worker stopped while it ran (killed, or out of memory)"
    return error_line(exc)


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
