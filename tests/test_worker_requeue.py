"""Failed and lost calls: `callscribe failed`, `callscribe requeue`, the reconciler, time limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from rq import Queue
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from callscribe.cli import main
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.intake.queue import CallQueues, connect, enqueue_call, job_id_for, open_queue
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger, CallStatus
from callscribe.runtime import Runtime, open_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import Transcriber
from callscribe.worker import jobs
from callscribe.worker.reconcile import renew_lease, requeue_stale
from callscribe.worker.worker import CallWorker
from tests.desk_support import BACKENDS, store_url
from tests.fault_support import RedisProcess, distinct_calls
from tests.test_writeback_outbox import _seed


@pytest.fixture
def runtime(redis_url: str, data_dir: Path) -> Runtime:
    return open_runtime(get_settings())


@pytest.fixture(params=BACKENDS)
def store_runtime(
    request: pytest.FixtureRequest,
    redis_url: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    """The runtime on SQLite, or (parametrised) on a PostgreSQL schema of its own."""
    with store_url(request.param, tmp_path, request) as url:
        monkeypatch.setenv("CALLSCRIBE_DB_URL", url)
        get_settings.cache_clear()
        runtime = open_runtime(get_settings())
        try:
            yield runtime
        finally:
            runtime.engine.dispose()


@pytest.fixture
def queue(runtime: Runtime, redis_url: str) -> Queue:
    return open_queue(connect(redis_url), runtime.settings.queue)


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> Transcriber:
        raise AssertionError("the call was transcribed again")

    monkeypatch.setattr(jobs, "worker_transcriber", refuse)


def _burst(queue: Queue) -> None:
    worker = CallWorker([queue], connection=queue.connection, serializer=JSONSerializer)
    worker.preload_model = False
    worker.work(burst=True)


def _status(ledger: CallLedger, call_id: str) -> str:
    record = ledger.get(call_id)
    assert record is not None
    return record.status_line


def _fail(ledger: CallLedger, call_id: str, reason: str) -> None:
    ledger.set_status(call_id, CallStatus.FAILED, error=reason)


# `callscribe failed`


def test_failed_lists_each_failed_call_with_when_and_why(runtime: Runtime) -> None:
    first, second, fine = _seed(runtime.ledger, 3)
    _fail(runtime.ledger, first, "case system refused the case (HTTP 400:\n bad phone)")
    time.sleep(0.01)
    _fail(runtime.ledger, second, "not audio we can read")

    listed = CliRunner().invoke(main, ["failed"])
    as_json = CliRunner().invoke(main, ["failed", "--json"])

    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(line[0], line[2]) for line in lines] == [
        (second, "not audio we can read"),
        (first, "case system refused the case (HTTP 400: bad phone)"),
    ]
    assert all(line[1].endswith("+00:00") for line in lines)
    assert "2 failed call(s)" in listed.stderr
    rows = json.loads(as_json.stdout)
    assert [r["call_id"] for r in rows] == [second, first]
    assert set(rows[0]) == {"call_id", "failed_at", "reason", "attempts"}
    assert fine not in listed.stdout


# `callscribe requeue`


def test_requeue_writes_back_a_failed_write_back_without_transcribing_again(
    runtime: Runtime, queue: Queue, no_model: None
) -> None:
    [call_id] = _seed(runtime.ledger, 1)
    transcript = runtime.ledger.get(call_id).transcript  # type: ignore[union-attr]
    _fail(runtime.ledger, call_id, "case system refused the case (HTTP 400: bad token)")

    result = CliRunner().invoke(main, ["requeue", call_id])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [call_id]
    assert _status(runtime.ledger, call_id) == CallStatus.QUEUED
    _burst(queue)

    assert _status(runtime.ledger, call_id) == CallStatus.DONE
    desk = runtime.case_system
    assert isinstance(desk, EmbeddedCaseDesk) and desk.count_cases(call_id) == 1
    assert runtime.ledger.get(call_id).transcript == transcript  # type: ignore[union-attr]


def test_requeue_all_failed_runs_them_again_and_bad_audio_fails_again_with_its_reason(
    runtime: Runtime, queue: Queue, no_model: None, tmp_path: Path
) -> None:
    noise = tmp_path / "not-audio.wav"
    noise.write_bytes(b"this is no recording at all" * 40)
    bad, _ = register_call_file(noise, ledger=runtime.ledger, data_dir=runtime.settings.data)
    enqueue_call(queue, bad.call_id)
    _burst(queue)
    first_reason = _status(runtime.ledger, bad.call_id)
    assert first_reason.startswith("failed: ")
    [write_back] = _seed(runtime.ledger, 1)
    _fail(runtime.ledger, write_back, "case system refused the case (HTTP 422)")

    result = CliRunner().invoke(main, ["requeue", "--all-failed"])
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.split()) == sorted([bad.call_id, write_back])
    _burst(queue)

    assert _status(runtime.ledger, bad.call_id) == first_reason
    assert _status(runtime.ledger, write_back) == CallStatus.DONE
    assert CliRunner().invoke(main, ["failed"]).stdout.split("\t")[0] == bad.call_id


def test_requeue_refuses_unknown_done_and_owned_calls_in_one_line_each(
    runtime: Runtime, queue: Queue
) -> None:
    done, owned = _seed(runtime.ledger, 2)
    runtime.ledger.mark_done(done, "case-1")
    enqueue_call(queue, owned)

    result = CliRunner().invoke(main, ["requeue", "no-such-call", done, owned])
    nothing = CliRunner().invoke(main, ["requeue"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "callscribe: unknown call id no-such-call",
        f"callscribe: call {done} is done; nothing to queue again",
        f"callscribe: call {owned} is writing-back and a live job has it",
    ]
    assert nothing.exit_code == 2 and "give call ids, or --all-failed, or --stale" in nothing.output
    assert queue.job_ids == [job_id_for(owned)]


# The reconciler


def _started_by(queue: Queue, call_id: str, worker_name: str) -> Job:
    """The call's job as a worker leaves it when it dies mid-call: started, off the queue."""
    job = enqueue_call(queue, call_id)
    with queue.connection.pipeline() as pipeline:
        job.prepare_for_execution(worker_name, pipeline)
        pipeline.execute()
    queue.remove(job.id)
    return job


def test_the_reconciler_queues_again_only_calls_no_live_job_owns(
    store_runtime: Runtime, redis_url: str
) -> None:
    runtime = store_runtime
    queue = open_queue(connect(redis_url), runtime.settings.queue)
    ledger = runtime.ledger
    ids = {}
    for name in ("lost", "waiting", "dead", "alive", "fresh", "popped"):
        ids[name] = f"rc-{name}"
        ledger.register(ids[name], audio_path="/nonexistent", source_name="x.wav", sha256=name)
    ledger.set_status(ids["dead"], CallStatus.TRANSCRIBING)
    ledger.set_status(ids["alive"], CallStatus.EXTRACTING)
    enqueue_call(queue, ids["waiting"])
    _started_by(queue, ids["dead"], "a-killed-worker")
    renew_lease(queue.connection, "a-live-worker", 60)
    _started_by(queue, ids["alive"], "a-live-worker")
    enqueue_call(queue, ids["popped"])
    queue.remove(job_id_for(ids["popped"]))
    [seeded] = _seed(ledger, 1)
    ids["outbox"] = seeded
    time.sleep(0.3)
    ledger.set_status(ids["fresh"], CallStatus.QUEUED, error="just registered")

    queues = CallQueues(queue.connection, runtime.settings.queue)
    requeued = requeue_stale(ledger, queues, older_than_s=0.2, job_timeout_s=60)

    assert sorted(requeued) == sorted([ids["lost"], ids["dead"], ids["popped"]])
    assert sorted(queue.job_ids) == sorted(
        job_id_for(ids[n]) for n in ("waiting", "lost", "dead", "popped")
    )
    for name in ("lost", "dead", "popped"):
        assert _status(ledger, ids[name]) == CallStatus.QUEUED
    assert _status(ledger, ids["alive"]) == CallStatus.EXTRACTING
    later = requeue_stale(ledger, queues, older_than_s=0.2, job_timeout_s=60)
    assert later == [ids["fresh"]], "its grace is over now; the others have live jobs"


@pytest.mark.model
@pytest.mark.faults
def test_calls_queued_before_redis_restarted_without_persistence_all_end_done_once(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_transcriber: Transcriber,
) -> None:
    """Old behaviour: calls registered by `enqueue` stayed queued for ever once Redis lost
    their jobs."""
    server = RedisProcess(tmp_path / "redis", persistent=False).start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        monkeypatch.setenv("CALLSCRIBE_STALE_AFTER_S", "0.5")
        get_settings.cache_clear()
        paths = distinct_calls(4, tmp_path / "in")
        cli = CliRunner()
        queued = cli.invoke(main, ["enqueue", *map(str, paths)])
        assert queued.exit_code == 0, queued.output
        call_ids = queued.stdout.split()
        server.stop()
        server.start()
        time.sleep(0.6)
        monkeypatch.setattr(jobs, "worker_transcriber", lambda: base_transcriber)

        stale = cli.invoke(main, ["requeue", "--stale"])
        assert stale.exit_code == 0, stale.output
        assert sorted(stale.stdout.split()) == sorted(call_ids)
        again = cli.invoke(main, ["requeue", "--stale"])
        assert again.stdout == ""
        _burst(open_queue(connect(server.url), get_settings().queue))
    finally:
        server.stop()

    runtime = open_runtime(get_settings())
    desk = runtime.case_system
    assert isinstance(desk, EmbeddedCaseDesk)
    for call_id in call_ids:
        assert _status(runtime.ledger, call_id) == CallStatus.DONE
        assert desk.count_cases(call_id) == 1


# The failure callback


def test_a_job_rq_found_abandoned_is_retried_and_a_done_call_is_left_done(
    runtime: Runtime, queue: Queue
) -> None:
    abandoned, done = _seed(runtime.ledger, 2)
    runtime.ledger.mark_done(done, "case-9")
    for call_id in (abandoned, done):
        job = enqueue_call(queue, call_id, retry_intervals_s=[10, 10])
        jobs.record_call_failure(
            job, queue.connection, AbandonedJobError, AbandonedJobError(), None
        )
        assert job.retries_left == (2 if call_id == abandoned else 0)

    record = runtime.ledger.get(abandoned)
    assert record is not None and record.status == CallStatus.QUEUED
    assert record.error is not None and "its worker stopped while it ran" in record.error
    assert _status(runtime.ledger, done) == CallStatus.DONE


# Time limits


@pytest.fixture
def slow_model(
    monkeypatch: pytest.MonkeyPatch, base_transcriber: Transcriber, queue: Queue
) -> Iterator[list[float]]:
    """The real model on a machine slower than the job's floor: each call takes 3 s more.
    Yields the expiry rq's started registry had for the job while it ran."""
    expiries: list[float] = []

    class Slow:
        def transcribe(self, audio):  # type: ignore[no-untyped-def]
            transcript = base_transcriber.transcribe(audio)
            key = queue.started_job_registry.key
            entries = queue.connection.zrange(key, 0, -1, withscores=True)
            expiries.extend(float(score) for _entry, score in entries)  # type: ignore[str-unpack]
            time.sleep(3.0)
            return transcript

    monkeypatch.setattr(jobs, "worker_transcriber", Slow)
    yield expiries


@pytest.mark.model
@pytest.mark.parametrize("factor", [10.0, 0.1])
def test_the_time_limit_scales_with_the_audio_duration(
    runtime: Runtime,
    queue: Queue,
    slow_model: list[float],
    monkeypatch: pytest.MonkeyPatch,
    factor: float,
) -> None:
    """A 3.9 s call, a 2 s floor: with 10 s per audio second it has 39 s and is done; with 0.1
    it keeps the floor and runs out of time (old behaviour: the floor, always)."""
    monkeypatch.setenv("CALLSCRIBE_JOB_TIMEOUT_FACTOR", str(factor))
    get_settings.cache_clear()
    [path] = distinct_calls(1, runtime.settings.data / "in")
    record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=runtime.settings.data)
    enqueue_call(queue, record.call_id, job_timeout_s=2, retry_intervals_s=[])
    started = time.time()

    _burst(queue)

    if factor == 10.0:
        assert _status(runtime.ledger, record.call_id) == CallStatus.DONE
        assert slow_model and min(slow_model) > started + 80, "rq would take it for abandoned"
    else:
        line = _status(runtime.ledger, record.call_id)
        assert line == "failed: the call's job ran past its time limit of 2s"


def test_time_limit_is_the_floor_or_the_factor_times_the_duration() -> None:
    assert jobs.time_limit_for(600.0, floor_s=1800, factor=2.0) == 1800
    assert jobs.time_limit_for(7200.0, floor_s=1800, factor=2.0) == 14400
    assert jobs.time_limit_for(0.0, floor_s=1800, factor=2.0) == 1800
