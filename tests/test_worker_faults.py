"""Faults on real parts: Redis stopped mid-call, workers killed with -9, the case system down.

Every call must end ``done``, its case in the case system exactly once, none left in a stage,
and the worker must outlive a Redis outage. Redis here is always a private redis-server on a
unix socket (tests/fault_support.py), never the shared one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.intake.queue import connect, enqueue_call, job_id_for, open_queue
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger, CallStatus
from callscribe.runtime import Runtime, open_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import Transcriber
from callscribe.worker import jobs
from callscribe.worker.worker import CallWorker
from tests.desk_support import free_port
from tests.fault_support import (
    RedisProcess,
    WorkerProcess,
    distinct_calls,
    wait_until,
    worker_env,
)
from tests.writeback_fake import TOKEN, FakeCaseSystem, Step, _Handler

CALLS = 20


@pytest.fixture
def private_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis", persistent=getattr(request, "param", True)).start()
    try:
        yield server
    finally:
        server.stop()


def _runtime(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    return open_runtime(get_settings())


def _queue_calls(runtime: Runtime, paths: list[Path], redis_url: str) -> list[str]:
    queue = open_queue(connect(redis_url), runtime.settings.queue)
    call_ids = []
    for path in paths:
        record, created = register_call_file(
            path, ledger=runtime.ledger, data_dir=runtime.settings.data
        )
        assert created
        enqueue_call(queue, record.call_id)
        call_ids.append(record.call_id)
    return call_ids


def _statuses(ledger: CallLedger, call_ids: list[str]) -> dict[str, str]:
    return {c: r.status for c in call_ids if (r := ledger.get(c)) is not None}


def _all_done(ledger: CallLedger, call_ids: list[str]) -> bool:
    return set(_statuses(ledger, call_ids).values()) == {CallStatus.DONE}


def _assert_each_done_exactly_once(runtime: Runtime, call_ids: list[str]) -> None:
    statuses = _statuses(runtime.ledger, call_ids)
    assert statuses == dict.fromkeys(call_ids, CallStatus.DONE)
    desk = runtime.case_system
    assert isinstance(desk, EmbeddedCaseDesk)
    assert {c: desk.count_cases(c) for c in call_ids} == dict.fromkeys(call_ids, 1)


@pytest.mark.model
@pytest.mark.faults
@pytest.mark.parametrize(
    "private_redis", [True, False], ids=["appendonly", "no-persistence"], indirect=True
)
def test_a_worker_rides_out_redis_going_away_mid_call(
    private_redis: RedisProcess,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_transcriber: Transcriber,
) -> None:
    """Old behaviour: the job's progress update failed, rq's loop quit on the error and the
    call stayed in a stage with nobody working on it."""
    runtime = _runtime(private_redis.url, monkeypatch)
    [call_id] = _queue_calls(runtime, distinct_calls(1, tmp_path / "in"), private_redis.url)
    back = threading.Event()
    loads: list[int] = []

    def restart_once_the_call_is_done() -> None:
        wait_until(lambda: _all_done(runtime.ledger, [call_id]), 60, "the call done")
        time.sleep(1.0)
        private_redis.start()
        back.set()

    def transcriber_pulling_the_plug() -> Transcriber:
        loads.append(1)
        private_redis.stop()
        threading.Thread(target=restart_once_the_call_is_done, daemon=True).start()
        return base_transcriber

    monkeypatch.setattr(jobs, "worker_transcriber", transcriber_pulling_the_plug)
    connection = connect(private_redis.url)
    queue = open_queue(connection, runtime.settings.queue)
    worker = CallWorker([queue], connection=connection, serializer=JSONSerializer)
    worker.preload_model = False

    worker.work(burst=True)

    assert back.is_set(), "the worker finished before Redis came back: it did not wait"
    _assert_each_done_exactly_once(runtime, [call_id])
    assert len(loads) == 1, "the call was transcribed again"
    job = Job.fetch_many([job_id_for(call_id)], connection=connection, serializer=JSONSerializer)[0]
    if private_redis.persistent:
        assert job is not None and job.get_status() == JobStatus.FINISHED
    else:
        assert job is None


def _busy_since(ledger: CallLedger, call_ids: list[str], since: datetime) -> bool:
    """Whether a call entered a stage after ``since`` (a worker is at work on it)."""
    for call_id in call_ids:
        record = ledger.get(call_id)
        if record is None or record.status not in CallStatus.STAGES:
            continue
        updated = record.updated_at
        if (updated if updated.tzinfo else updated.replace(tzinfo=UTC)) >= since:
            return True
    return False


def _done_at_least(ledger: CallLedger, call_ids: list[str], count: int) -> bool:
    return list(_statuses(ledger, call_ids).values()).count(CallStatus.DONE) >= count


@pytest.mark.model
@pytest.mark.faults
def test_kill_9_at_random_points_over_20_calls(
    private_redis: RedisProcess,
    data_dir: Path,
    tmp_path: Path,
    model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each kill lands at a seeded random moment after a call entered a stage: mid-decode,
    mid-transcription, mid-write-back or between calls. The worker is restarted each time."""
    runtime = _runtime(private_redis.url, monkeypatch)
    call_ids = _queue_calls(runtime, distinct_calls(CALLS, tmp_path / "in"), private_redis.url)
    env = worker_env(redis_url=private_redis.url, data_dir=data_dir, cache_dir=model_cache_dir)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    rng = random.Random(20240611)
    ledger = runtime.ledger
    try:
        for _kill in range(3):
            since = datetime.now(UTC)
            worker.start()
            wait_until(partial(_busy_since, ledger, call_ids, since), 90, "a call in a stage")
            time.sleep(rng.uniform(0.0, 2.5))
            worker.kill9()
        worker.start()
        wait_until(lambda: _all_done(ledger, call_ids), 150, "every call done", poll_s=0.5)
        assert worker.alive, worker.log()[-3000:]
    finally:
        worker.stop()

    _assert_each_done_exactly_once(runtime, call_ids)
    records = [r for c in call_ids if (r := ledger.get(c)) is not None]
    assert any(r.attempts > 1 for r in records), "no kill interrupted a call"


@pytest.mark.model
@pytest.mark.faults
def test_a_worker_survives_redis_restarts_with_and_without_persistence_during_20_calls(
    private_redis: RedisProcess,
    data_dir: Path,
    tmp_path: Path,
    model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis (append-only, fsync always) is stopped mid-call and restarted with everything;
    later stopped mid-call again and restarted with nothing, no persistence: the queue, the
    running job and the worker's own registration are gone. The worker is never restarted."""
    runtime = _runtime(private_redis.url, monkeypatch)
    call_ids = _queue_calls(runtime, distinct_calls(CALLS, tmp_path / "in"), private_redis.url)
    env = worker_env(redis_url=private_redis.url, data_dir=data_dir, cache_dir=model_cache_dir)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    ledger = runtime.ledger
    try:
        for restart, done_before in (("keeps its data", 3), ("loses everything", 8)):
            since = datetime.now(UTC)
            wait_until(partial(_done_at_least, ledger, call_ids, done_before), 90, "calls done")
            wait_until(partial(_busy_since, ledger, call_ids, since), 30, "a call in a stage")
            private_redis.stop()
            if restart == "loses everything":
                private_redis.lose_everything()
            time.sleep(3.0)
            private_redis.start()
        wait_until(lambda: _all_done(ledger, call_ids), 150, "every call done", poll_s=0.5)
        assert worker.alive, worker.log()[-3000:]
    finally:
        code = worker.stop()

    assert len(worker.started) == 1 and code == 0, worker.log()[-3000:]
    _assert_each_done_exactly_once(runtime, call_ids)


@dataclass
class _CaseSystemOnPort(FakeCaseSystem):
    """The fake external case system, on a port chosen beforehand (so it can be down first)."""

    port: int = 0

    def start(self) -> _CaseSystemOnPort:
        fake = self

        class Handler(_Handler):
            system = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self


@pytest.mark.model
@pytest.mark.faults
def test_calls_wait_out_a_case_system_outage_and_land_exactly_once(
    redis_url: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_transcriber: Transcriber,
) -> None:
    port = free_port()
    for key, value in {
        "CALLSCRIBE_CASE_SYSTEM_URL": f"http://127.0.0.1:{port}",
        "CALLSCRIBE_CASE_SYSTEM_TOKEN": TOKEN,
        "CALLSCRIBE_CASE_SYSTEM_ATTEMPTS": "2",
        "CALLSCRIBE_CASE_SYSTEM_BACKOFF_S": "0.01",
        "CALLSCRIBE_CASE_SYSTEM_TIMEOUT_S": "2",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    loads: list[int] = []

    def counted() -> Transcriber:
        loads.append(1)
        return base_transcriber

    monkeypatch.setattr(jobs, "worker_transcriber", counted)
    runtime = open_runtime(get_settings())
    queue = open_queue(connect(redis_url), runtime.settings.queue)
    call_ids = []
    for path in distinct_calls(4, tmp_path / "in"):
        record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=data_dir)
        enqueue_call(queue, record.call_id, retry_intervals_s=[1])
        call_ids.append(record.call_id)

    def worker() -> CallWorker:
        made = CallWorker([queue], connection=queue.connection, serializer=JSONSerializer)
        made.preload_model = False
        return made

    worker().work(burst=True, with_scheduler=True)
    assert set(_statuses(runtime.ledger, call_ids).values()) == {CallStatus.QUEUED}
    time.sleep(1.2)
    worker().work(burst=True, with_scheduler=True)
    assert set(_statuses(runtime.ledger, call_ids).values()) == {CallStatus.WRITING_BACK}

    fake = _CaseSystemOnPort(port=port)
    fake.plan.extend([Step("503", detail="starting up"), Step("503", detail="starting up")])
    fake.start()
    try:
        worker().run_maintenance_tasks()
        assert _statuses(runtime.ledger, call_ids) != dict.fromkeys(call_ids, CallStatus.DONE)
        worker().run_maintenance_tasks()
    finally:
        fake.stop()

    assert _statuses(runtime.ledger, call_ids) == dict.fromkeys(call_ids, CallStatus.DONE)
    assert dict(fake.creations) == dict.fromkeys(call_ids, 1)
    assert len(loads) == len(call_ids), "a call was transcribed again"
