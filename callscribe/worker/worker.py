"""The call worker: a SimpleWorker that keeps the Whisper model resident.

rq's default Worker forks a work-horse per job, so a model loaded inside a job would be loaded
again for every call. :class:`CallWorker` runs jobs in its own process instead; the model is
loaded once, before the first job is taken, and reused. The price is that a job that crashes
the interpreter takes the worker with it; run several worker processes (one per core budget)
under a supervisor that restarts them. A killed worker's call is taken over by the reconciler
(:mod:`callscribe.worker.reconcile`) once the worker's lease lapses.

**Redis outages.** rq's own loop waits out a Redis that is down while it waits for a job, but
quits on one anywhere else: while the job records its progress, while rq records the job's
start or outcome, in its heartbeats, at maintenance. :class:`CallWorker` rides them all out:

* writes that are only advisory (heartbeats, the worker's state, the job's ``stage`` meta)
  are logged and skipped;
* when rq's bookkeeping round a job fails, the worker waits for Redis with exponential
  backoff (tenacity; a stop request ends the wait) and then settles the job from the ledger,
  which is the truth of a call's stage: a call the ledger has ``done`` or ``failed`` gets its
  rq outcome recorded, any other is queued again (its stored stage results are kept);
* maintenance that meets an outage is skipped until the next interval.

At rq's maintenance interval (``CALLSCRIBE_WORKER_MAINTENANCE_S``) the worker also drains the
outbox (write-backs no live job owns any more) and runs the reconciler (calls owed work that no
live job owns, e.g. after Redis restarted without persistence).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.utils import now
from sqlalchemy.exc import SQLAlchemyError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from callscribe.errors import CallscribeError, CaseSystemUnavailable, WriteBackRejected
from callscribe.intake.queue import CallQueues
from callscribe.ledger import CallStatus
from callscribe.observability import count_retry
from callscribe.settings import get_settings
from callscribe.worker.jobs import (
    REDIS_UNAVAILABLE,
    JobTimeLimit,
    warm_up_worker,
    worker_runtime,
)
from callscribe.worker.reconcile import (
    drop_lease,
    owning_job,
    renew_lease,
    requeue_call,
    requeue_stale,
)
from callscribe.writeback.outbox import Outbox

__all__ = ["CallWorker"]

log = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_BACKOFF_FIRST_S = 0.5
REDIS_BACKOFF_MAX_S = 15.0
"""Seconds between tries to reach Redis again: from the first, doubling (with jitter), to this."""


class CallWorker(SimpleWorker):
    """Loads the transcriber before taking jobs, then runs each job in-process."""

    preload_model = True
    drain_outbox = True
    reconcile_calls = True
    death_penalty_class = JobTimeLimit
    max_connection_wait_time = REDIS_BACKOFF_MAX_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = get_settings()
        kwargs.setdefault("maintenance_interval", settings.worker_maintenance_s)
        super().__init__(*args, **kwargs)
        self.lease_s = settings.worker_lease_s
        self.stale_after_s = settings.stale_after_s
        self._lease: _Lease | None = None

    @property
    def dequeue_timeout(self) -> int:
        """Wait for a job no longer than the maintenance interval, so maintenance keeps time."""
        return max(1, min(self.worker_ttl - 15, self.maintenance_interval))

    def work(self, *args: Any, **kwargs: Any) -> bool:
        if self.preload_model:
            warm_up_worker()
        self._lease = _Lease(self, self.lease_s)
        self._lease.start()
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            self._lease.stop()

    # Redis outages

    def _redis_retrying(self) -> Retrying:
        """Try again while Redis is unavailable, backing off, until a stop is requested."""
        return Retrying(
            retry=retry_if_exception_type(REDIS_UNAVAILABLE),
            wait=wait_exponential_jitter(initial=REDIS_BACKOFF_FIRST_S, max=REDIS_BACKOFF_MAX_S),
            stop=self._stop_was_requested,
            before_sleep=self._log_redis_wait,
            reraise=True,
        )

    def _stop_was_requested(self, _state: RetryCallState) -> bool:
        return bool(self._stop_requested)

    def _log_redis_wait(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        level = logging.WARNING if state.attempt_number == 1 else logging.INFO
        log.log(
            level,
            "worker %s: Redis unavailable (%s); trying again in %.1fs",
            self.name,
            type(error).__name__,
            wait,
        )

    def _when_redis_answers(self, action: Callable[[], T]) -> T:
        for attempt in self._redis_retrying():
            with attempt:
                return action()
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    def _advisory(self, what: str, action: Callable[[], object]) -> None:
        """Run a Redis write that only informs (heartbeat, state): skipped while Redis is down."""
        try:
            action()
        except REDIS_UNAVAILABLE as err:
            log.info(
                "worker %s: %s skipped, Redis unavailable (%s)", self.name, what, type(err).__name__
            )

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        self._advisory("heartbeat", lambda: super(CallWorker, self).heartbeat(timeout))

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().set_state(state, pipeline=pipeline)
            return
        self._advisory("state", lambda: super(CallWorker, self).set_state(state))

    def set_shutdown_requested_date(self) -> None:
        self._advisory("shutdown note", super().set_shutdown_requested_date)

    def check_for_suspension(self, burst: bool) -> None:
        self._advisory(
            "suspension check", lambda: super(CallWorker, self).check_for_suspension(burst)
        )

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        result: tuple[Job, Queue] | None = self._when_redis_answers(
            lambda: super(CallWorker, self).dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        )
        return result

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        except REDIS_UNAVAILABLE as err:
            call_id = _call_id(job)
            log.warning(
                "call %s: Redis went away round its job (%s); waiting for it",
                call_id,
                type(err).__name__,
            )
            count_retry("redis")
            try:
                self._when_redis_answers(lambda: self._settle(job, queue))
            except REDIS_UNAVAILABLE:
                log.warning(
                    "call %s: stopping before Redis came back; the reconciler will "
                    "take the call over",
                    call_id,
                )
                raise

    def _settle(self, job: Job, queue: Queue) -> None:
        """Record on Redis what became of a job whose bookkeeping the outage cut short.

        The ledger tells: ``done`` or ``failed`` is recorded as rq's outcome (when the job
        survived the outage); any other status means the call did not get to the end, and it
        is queued again, resuming from its stored stage results.
        """
        call_id = _call_id(job)
        runtime = worker_runtime()
        record = runtime.ledger.get(call_id)
        exists = bool(self.connection.exists(job.key))
        if record is None:
            if exists:
                job.delete()
        elif record.status == CallStatus.DONE:
            if exists:
                self._record_outcome(job, queue, succeeded=True, note="")
        elif record.status == CallStatus.FAILED:
            if exists:
                self._record_outcome(job, queue, succeeded=False, note=record.error or "")
        else:
            queues = CallQueues(self.connection, runtime.settings.queue)
            requeue_call(
                runtime.ledger,
                queues,
                call_id,
                priority=record.metadata.get("priority"),
                from_statuses=CallStatus.UNFINISHED,
                job_timeout_s=int(job.timeout or runtime.settings.job_timeout_s),
                note="queued again: Redis went away while it ran",
                this_worker=self.name,
            )
        self.execution = None
        self.set_current_job_id(None)
        log.info(
            "call %s: settled after the Redis outage (%s)",
            call_id,
            record.status if record is not None else "unknown",
        )

    def _record_outcome(self, job: Job, queue: Queue, *, succeeded: bool, note: str) -> None:
        job.ended_at = job.ended_at or now()
        job.started_at = job.started_at or job.ended_at
        if succeeded:
            job._status = JobStatus.FINISHED
            self.handle_job_success(job, queue, queue.started_job_registry)
        else:
            job.retries_left = 0
            self.handle_job_failure(job, queue, exc_string=note)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except REDIS_UNAVAILABLE as err:
            log.warning(
                "worker %s: stopped without signing off on Redis (%s)",
                self.name,
                type(err).__name__,
            )
            try:
                self.unsubscribe()  # type: ignore[no-untyped-call]
            except redis.exceptions.RedisError:
                log.info("worker %s: no clean unsubscribe while Redis is down", self.name)

    # Maintenance

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        except REDIS_UNAVAILABLE as err:
            log.warning(
                "worker %s: maintenance skipped, Redis unavailable (%s)",
                self.name,
                type(err).__name__,
            )
            return
        if self.drain_outbox:
            self._maintain("outbox", self.drain_orphaned_write_backs)
        if self.reconcile_calls:
            self._maintain("reconciler", self.requeue_stale_calls)

    def _maintain(self, what: str, task: Callable[[], object]) -> None:
        """Run one maintenance task; a failure of Redis, the store or the case system waits
        for the next interval instead of stopping the worker."""
        try:
            task()
        except (redis.exceptions.RedisError, SQLAlchemyError, CallscribeError) as err:
            log.warning("worker %s: %s skipped: %s", self.name, what, type(err).__name__)

    def drain_orphaned_write_backs(self) -> list[str]:
        """Write back pending calls that no live job owns; returns the call ids delivered.

        A job ``started`` by a worker whose lease lapsed owns nothing: the worker is dead.
        """
        runtime = worker_runtime()
        outbox = Outbox(runtime.ledger, runtime.case_system)
        delivered = []
        for item in outbox.pending():
            if owning_job(self.connection, item.call_id, this_worker=self.name) is not None:
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

    def requeue_stale_calls(self) -> list[str]:
        """Queue again the calls owed work that no live job owns (see the reconciler)."""
        runtime = worker_runtime()
        return requeue_stale(
            runtime.ledger,
            CallQueues(self.connection, runtime.settings.queue),
            older_than_s=self.stale_after_s,
            job_timeout_s=runtime.settings.job_timeout_s,
            this_worker=self.name,
        )


class _Lease(threading.Thread):
    """Renews the worker's lease on Redis from a daemon thread, whatever the main thread does
    (transcription releases the GIL; a job's Python runs are short)."""

    def __init__(self, worker: CallWorker, ttl_s: float) -> None:
        super().__init__(name=f"lease-{worker.name}", daemon=True)
        self.connection = worker.connection
        self.worker_name = worker.name
        self.ttl_s = ttl_s
        self._stopped = threading.Event()

    def start(self) -> None:
        self.renew()
        super().start()

    def run(self) -> None:
        while not self._stopped.wait(self.ttl_s / 3):
            self.renew()

    def renew(self) -> None:
        try:
            renew_lease(self.connection, self.worker_name, self.ttl_s)
        except redis.exceptions.RedisError as err:
            log.info("worker %s: lease not renewed (%s)", self.worker_name, type(err).__name__)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)
        try:
            drop_lease(self.connection, self.worker_name)
        except redis.exceptions.RedisError as err:
            log.info("worker %s: lease left to lapse (%s)", self.worker_name, type(err).__name__)


def _call_id(job: Job) -> str:
    return str(job.args[0]) if job.args else "?"
