"""Retryable vs permanent write-back failures on real Redis, rq 2.12 Retry and its scheduler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from callscribe.cli import main
from callscribe.intake.queue import connect, enqueue_call, job_id_for, open_queue
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallStatus
from callscribe.runtime import open_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import Transcriber
from callscribe.worker import jobs
from callscribe.worker.worker import CallWorker
from tests.conftest import SPEECH
from tests.test_writeback_outbox import _seed
from tests.writeback_fake import TOKEN, FakeCaseSystem, Step

QUICK_RETRIES_S = [1, 1, 1]


@pytest.fixture
def fake() -> Iterator[FakeCaseSystem]:
    system = FakeCaseSystem().start()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> list[int]:
    """Count how often a job asks for the transcriber (the real model when a test needs one)."""
    counted: list[int] = []

    def counting_transcriber() -> Transcriber:
        counted.append(1)
        return request.getfixturevalue("base_transcriber")  # type: ignore[no-any-return]

    monkeypatch.setattr(jobs, "worker_transcriber", counting_transcriber)
    return counted


@pytest.fixture
def queue(
    redis_url: str, data_dir: Path, fake: FakeCaseSystem, monkeypatch: pytest.MonkeyPatch
) -> Queue:
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_URL", fake.url)
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_TOKEN", TOKEN)
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_ATTEMPTS", "2")
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_BACKOFF_S", "0.01")
    get_settings.cache_clear()
    return open_queue(connect(redis_url), get_settings().queue)


def _work_until_settled(queue: Queue, call_id: str, timeout_s: float = 30.0) -> Job:
    """Burst workers with the scheduler (it requeues due retries) until the job ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        worker = CallWorker([queue], connection=queue.connection, serializer=JSONSerializer)
        worker.preload_model = False
        worker.work(burst=True, with_scheduler=True)
        job = Job.fetch(job_id_for(call_id), connection=queue.connection, serializer=JSONSerializer)
        if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED):
            return job
        assert time.monotonic() < deadline, f"job still {job.get_status()} after {timeout_s}s"
        time.sleep(0.25)


@pytest.mark.model
def test_rq_retries_a_failed_write_back_without_transcribing_again(
    queue: Queue, fake: FakeCaseSystem, loads: list[int], data_dir: Path
) -> None:
    runtime = open_runtime(get_settings())
    record, _ = register_call_file(
        SPEECH / "SSB00050015.wav", ledger=runtime.ledger, data_dir=data_dir
    )
    fake.plan.extend(Step("503", detail="case system restarting") for _ in range(4))
    enqueue_call(queue, record.call_id, retry_intervals_s=QUICK_RETRIES_S)

    job = _work_until_settled(queue, record.call_id)

    assert job.get_status() == JobStatus.FINISHED
    assert len(loads) == 1, "a retry after a write-back failure transcribed the call again"
    assert len(fake.puts()) == 5, "two failed job attempts of two requests, then one that works"
    assert fake.creations == {record.call_id: 1}
    final = runtime.ledger.get(record.call_id)
    assert final is not None and final.status == CallStatus.DONE and final.attempts == 3
    assert final.case_ref == fake.cases[record.call_id]["case_id"]


def test_a_permanent_rejection_is_not_retried_by_rq(
    queue: Queue, fake: FakeCaseSystem, loads: list[int]
) -> None:
    [call_id] = _seed(open_runtime(get_settings()).ledger, 1)
    fake.plan.append(Step("400", detail="callback_phone is not a phone number"))
    enqueue_call(queue, call_id, retry_intervals_s=QUICK_RETRIES_S)

    job = _work_until_settled(queue, call_id)
    time.sleep(1.2)  # a retry, had one been scheduled, would now be due
    _work_until_settled(queue, call_id)

    assert job.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry(queue=queue)
    assert job.id not in ScheduledJobRegistry(queue=queue)
    assert len(fake.puts()) == 1, "rq retried a permanent error"
    record = open_runtime(get_settings()).ledger.get(call_id)
    assert record is not None
    assert record.status_line.endswith("HTTP 400: callback_phone is not a phone number)")
    assert loads == []


def test_spent_retries_leave_the_call_in_the_outbox_until_it_drains(
    queue: Queue, fake: FakeCaseSystem, loads: list[int]
) -> None:
    [call_id] = _seed(open_runtime(get_settings()).ledger, 1)
    fake.plan.extend(Step("503") for _ in range(100))
    enqueue_call(queue, call_id, retry_intervals_s=[1])

    job = _work_until_settled(queue, call_id)

    assert job.get_status() == JobStatus.FAILED
    assert len(fake.puts()) == 4, "two job attempts of two requests each"
    cli = CliRunner()
    assert cli.invoke(main, ["status", call_id]).stdout.strip() == CallStatus.WRITING_BACK
    listed = cli.invoke(main, ["outbox"])
    assert listed.stdout.startswith(f"{call_id}\twriting-back\tattempts=2\tin the outbox: ")

    fake.plan.clear()
    drained = cli.invoke(main, ["outbox", "--drain"])

    assert drained.exit_code == 0, drained.output
    assert drained.stdout.strip() == f"delivered {call_id}"
    assert cli.invoke(main, ["status", call_id]).stdout.strip() == CallStatus.DONE
    assert fake.creations == {call_id: 1}
    assert loads == []


def test_rq_waits_out_a_retry_after_longer_than_the_client_sleeps(
    queue: Queue, fake: FakeCaseSystem, loads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_BACKOFF_MAX_S", "1")
    get_settings.cache_clear()
    [call_id] = _seed(open_runtime(get_settings()).ledger, 1)
    fake.plan.append(Step("429", retry_after="3", detail="slow down"))
    enqueue_call(queue, call_id, retry_intervals_s=[1])

    job = _work_until_settled(queue, call_id)

    assert job.get_status() == JobStatus.FINISHED
    first, second = fake.puts()
    assert first.answered == 429 and second.answered == 201
    assert second.at - first.at >= 2.9, "rq retried before the case system's Retry-After"
    assert fake.creations == {call_id: 1}
