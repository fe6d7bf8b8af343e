"""Queue wiring: enqueue calls by job name, with JSON arguments and deterministic job ids.

A call's job id is :func:`callscribe.callids.job_id_for` (re-exported here): one job per call,
and a job id rq accepts for every valid call id, dots included.
"""

from __future__ import annotations

from redis import Redis
from rq import Callback, Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from callscribe import defaults
from callscribe.callids import job_id_for

__all__ = [
    "JOB_NAME",
    "CallQueues",
    "RETRY_INTERVALS_S",
    "connect",
    "enqueue_call",
    "job_id_for",
    "live_job",
    "open_queue",
]

JOB_NAME = "callscribe.worker.jobs.process_call"
"""Dotted path of the job function: enqueuers never import it (nor Whisper)."""

FAILURE_CALLBACK = "callscribe.worker.jobs.record_call_failure"

RETRY_INTERVALS_S = [10, 30, 60, 120, 300, 600, 900, 1800]
"""Seconds between attempts after a retryable failure (case system down, Redis blip).

About an hour in all, so a case system down for an hour costs these retries and nothing else:
each retry resumes from the ledger and only writes back. Past the last one the call waits in the
outbox (``callscribe outbox --drain``). Permanent errors are never retried (see
:func:`callscribe.worker.jobs.record_call_failure`).
"""


def connect(url: str) -> Redis:
    return Redis.from_url(url)


def open_queue(connection: Redis, name: str = defaults.QUEUE_NAME) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


LIVE_JOB_STATUSES = frozenset({"queued", "started", "deferred", "scheduled"})
"""rq statuses of a job that still owns its call: it will run, or is running."""


def live_job(connection: Redis, call_id: str) -> Job | None:
    """The call's rq job if one is queued, running or waiting for a retry, else None."""
    job = Job.fetch_many([job_id_for(call_id)], connection=connection, serializer=JSONSerializer)[0]
    if job is not None and job.get_status(refresh=True) in LIVE_JOB_STATUSES:
        return job
    return None


def enqueue_call(
    queue: Queue,
    call_id: str,
    *,
    job_timeout_s: int = defaults.JOB_TIMEOUT_S,
    retry_intervals_s: list[int] | None = None,
) -> Job:
    """Queue one call. A call already queued or running is not queued twice.

    ``retry_intervals_s`` (default :data:`RETRY_INTERVALS_S`) spaces the retries after a
    retryable failure; rq's scheduler (``worker --with-scheduler``) requeues them.
    """
    intervals = RETRY_INTERVALS_S if retry_intervals_s is None else retry_intervals_s
    existing = live_job(queue.connection, call_id)
    if existing is not None:
        return existing
    return queue.enqueue(
        JOB_NAME,
        call_id,
        job_id=job_id_for(call_id),
        job_timeout=job_timeout_s,
        result_ttl=defaults.JOB_RESULT_TTL_S,
        failure_ttl=defaults.JOB_RESULT_TTL_S,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        on_failure=Callback(FAILURE_CALLBACK),
        description=f"process call {call_id}",
    )


class CallQueues:
    """The normal and the urgent queue of one Redis; a call goes where its priority says.

    Workers listen to the urgent queue first (``callscribe worker``), so a sidecar or upload
    with ``priority: urgent`` is taken before the backlog.
    """

    def __init__(self, connection: Redis, normal_name: str = defaults.QUEUE_NAME) -> None:
        self.normal = open_queue(connection, normal_name)
        self.urgent = open_queue(connection, defaults.URGENT_QUEUE_NAME)

    def for_priority(self, priority: object) -> Queue:
        return self.urgent if priority == "urgent" else self.normal

    def enqueue(
        self, call_id: str, priority: object, *, job_timeout_s: int = defaults.JOB_TIMEOUT_S
    ) -> Job:
        return enqueue_call(self.for_priority(priority), call_id, job_timeout_s=job_timeout_s)
