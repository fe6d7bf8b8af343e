"""Calls that nobody is working on: find them and queue them again.

The ledger says which calls are owed work (``queued``, ``transcribing``, ``extracting``,
``writing-back``); Redis says which of them a job owns. The two disagree after:

* Redis restarted without persistence: the calls' jobs are gone;
* a worker killed mid-call (``kill -9``, out of memory, the host lost): its job stays
  ``started`` in Redis until rq's own clean-up, the job's time limit plus a minute later;
* a worker that popped a job off a queue and died before it started it.

A job owns its call while it is waiting in its queue (or rq's intermediate queue), scheduled
for a retry, or started by a worker whose **lease** is alive: every :class:`CallWorker`
renews a key on Redis (``callscribe:worker-lease:NAME``) from a thread, every third of
``CALLSCRIBE_WORKER_LEASE_S``, so a dead worker's lease lapses that long after it died.

:func:`requeue_stale` (every worker at its maintenance interval, and ``callscribe requeue
--stale``) queues again each call owed work that no job owns and that the ledger has not seen
change for ``CALLSCRIBE_STALE_AFTER_S``: a call being registered right now, whose job is
about to be queued, is left alone. A call owed only its write-back (transcript and fields
stored) is the outbox's (:mod:`callscribe.writeback.outbox`), drained at the same interval by
every worker, and is left to it. The ledger is set back to ``queued`` first, by one
conditional UPDATE that only one of several reconcilers can win, then any leftover job is
deleted and a new one queued (``enqueue_call`` is idempotent on live jobs). Stored stage
results are kept, so a requeued call resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import redis.exceptions
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from callscribe.intake.queue import CallQueues, enqueue_call, job_id_for, live_job
from callscribe.ledger import CallLedger, CallStatus, StaleCall

__all__ = [
    "LEASE_PREFIX",
    "drop_lease",
    "owning_job",
    "renew_lease",
    "requeue_call",
    "requeue_stale",
    "worker_alive",
]

log = logging.getLogger(__name__)

LEASE_PREFIX = "callscribe:worker-lease:"
LOCK_KEY = "callscribe:reconcile-lock"
LOCK_TTL_MIN_S = 5.0
LOCK_TTL_MAX_S = 300.0
"""Bounds of the seconds the reconciler's lock outlives a reconciler that died holding it: the
grace period, within these. A run that outlasts its lock is harmless (each call is requeued by
a conditional UPDATE only one run can win), a dead holder only delays the next run."""

SCAN_PAGE = 500
SCAN_MAX = 10_000
"""Most calls one run looks at (least recently updated first); the next run sees the rest."""

CONFIRM_S = 0.5
"""Seconds between the two looks at an unowned call: a worker between popping a job and
starting it, or an enqueuer between the ledger and the queue, is done within it."""


def lease_key(worker_name: str) -> str:
    return LEASE_PREFIX + worker_name


def renew_lease(connection: Redis, worker_name: str, ttl_s: float) -> None:
    connection.set(lease_key(worker_name), b"1", px=max(1, round(ttl_s * 1000)))


def drop_lease(connection: Redis, worker_name: str) -> None:
    connection.delete(lease_key(worker_name))


def worker_alive(connection: Redis, worker_name: str) -> bool:
    return bool(connection.exists(lease_key(worker_name)))


def owning_job(connection: Redis, call_id: str, *, this_worker: str | None = None) -> Job | None:
    """The rq job that will run, or is running, the call; None when no live job owns it.

    ``this_worker`` names the worker asking: a job it has as ``started`` while it is not
    running one (it asks between jobs) is a leftover, not a job it is running.
    """
    job = live_job(connection, call_id)
    if job is None:
        return None
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        name = job.worker_name
        if name is None:
            return job
        if name == this_worker or not worker_alive(connection, name):
            return None
        return job
    if status == JobStatus.QUEUED and not _waiting(connection, job):
        return None
    return job


def _waiting(connection: Redis, job: Job) -> bool:
    """Whether a ``queued`` job is really in its queue (or rq's intermediate queue)."""
    queue = Queue(job.origin, connection=connection, serializer=JSONSerializer)
    return any(
        connection.lpos(key, job.id) is not None
        for key in (queue.key, queue.intermediate_queue_key)
    )


def _leftover_job(connection: Redis, call_id: str) -> Job | None:
    return Job.fetch_many([job_id_for(call_id)], connection=connection, serializer=JSONSerializer)[
        0
    ]


def requeue_call(
    ledger: CallLedger,
    queues: CallQueues,
    call_id: str,
    *,
    priority: object,
    from_statuses: Iterable[str],
    job_timeout_s: int,
    updated_before: datetime | None = None,
    note: str | None = None,
    this_worker: str | None = None,
) -> bool:
    """Set the call back to ``queued`` and give it a new job, keeping its stored results.

    ``priority`` is the call's metadata's (``urgent`` goes to the urgent queue). Nothing
    happens (False) when the ledger no longer has the call in one of ``from_statuses`` (or,
    with ``updated_before``, it changed since): someone else got there first. A leftover job
    that turns out to own the call after all is left to run.
    """
    if not ledger.requeue(
        call_id, from_statuses=from_statuses, updated_before=updated_before, note=note
    ):
        return False
    connection = queues.normal.connection
    leftover = _leftover_job(connection, call_id)
    if leftover is not None:
        if owning_job(connection, call_id, this_worker=this_worker) is not None:
            log.info("call %s: its job owns it after all; left to run", call_id)
            return True
        leftover.delete()
    enqueue_call(queues.for_priority(priority), call_id, job_timeout_s=job_timeout_s)
    return True


def requeue_stale(
    ledger: CallLedger,
    queues: CallQueues,
    *,
    older_than_s: float,
    job_timeout_s: int,
    this_worker: str | None = None,
    wait_for_lock_s: float | None = None,
) -> list[str]:
    """Queue again every call owed work that no live job owns; returns their call ids.

    One reconciler runs at a time (a lock on Redis): without ``wait_for_lock_s`` a run that
    finds another under way does nothing; with it, it waits that long, then does nothing.
    """
    connection = queues.normal.connection
    lock = connection.lock(
        LOCK_KEY,
        timeout=min(max(older_than_s, LOCK_TTL_MIN_S), LOCK_TTL_MAX_S),
        blocking=wait_for_lock_s is not None,
        blocking_timeout=wait_for_lock_s,
    )
    if not lock.acquire():
        log.info("reconciler: another run is under way")
        return []
    try:
        return _requeue_stale(ledger, queues, older_than_s, job_timeout_s, this_worker)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("reconciler: its lock lapsed before the run ended")


def _requeue_stale(
    ledger: CallLedger,
    queues: CallQueues,
    older_than_s: float,
    job_timeout_s: int,
    this_worker: str | None,
) -> list[str]:
    connection = queues.normal.connection
    before = datetime.now(UTC) - timedelta(seconds=older_than_s)
    unowned = [
        call
        for call in _owed_work(ledger, before)
        if _unowned(connection, call.call_id, this_worker)
    ]
    if not unowned:
        return []
    time.sleep(CONFIRM_S)
    requeued = []
    for call in unowned:
        if not _unowned(connection, call.call_id, this_worker):
            continue
        note = f"queued again: no live job had it (was {call.status})"
        if requeue_call(
            ledger,
            queues,
            call.call_id,
            priority=call.priority,
            from_statuses=(call.status,),
            updated_before=before,
            job_timeout_s=job_timeout_s,
            note=note,
            this_worker=this_worker,
        ):
            log.warning(
                "call %s: no live job had it (was %s); queued again", call.call_id, call.status
            )
            requeued.append(call.call_id)
    return requeued


def _owed_work(ledger: CallLedger, before: datetime) -> list[StaleCall]:
    calls: list[StaleCall] = []
    while len(calls) < SCAN_MAX:
        page = ledger.unchanged_since(
            CallStatus.UNFINISHED, before, limit=SCAN_PAGE, offset=len(calls)
        )
        calls.extend(page)
        if len(page) < SCAN_PAGE:
            break
    return calls


def _unowned(connection: Redis, call_id: str, this_worker: str | None) -> bool:
    try:
        return owning_job(connection, call_id, this_worker=this_worker) is None
    except ValueError as err:
        log.warning("call %s: skipped by the reconciler: %s", ascii(call_id)[:60], err)
        return False
