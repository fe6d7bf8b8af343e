"""The worker writes to the embedded case desk over real HTTP, exactly as to an external system.

The desk runs under uvicorn on a loopback port with a store of its own (SQLite, and PostgreSQL
where marked); the worker keeps its ledger in its own data directory and speaks to the desk only
through :class:`~callscribe.writeback.http_client.HttpCaseSystem`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rq.job import JobStatus

from callscribe.errors import WriteBackRejected
from callscribe.intake.queue import connect, enqueue_call, open_queue
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallStatus
from callscribe.runtime import Runtime, open_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import Transcriber
from callscribe.worker import jobs
from callscribe.writeback.http_client import HttpCaseSystem
from callscribe.writeback.outbox import Outbox
from tests.conftest import SPEECH
from tests.desk_support import BACKENDS, LiveDesk, live_desk
from tests.test_writeback_outbox import _seed
from tests.test_writeback_rq import _work_until_settled


@pytest.fixture(params=["sqlite"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveDesk]:
    with live_desk(request.param, tmp_path / "desk", request) as running:
        yield running


@pytest.fixture
def worker(desk: LiveDesk, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The worker's runtime, pointed at the desk by CALLSCRIBE_CASE_SYSTEM_URL."""
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_URL", desk.url)
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_TOKEN", desk.tokens["worker"])
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_ATTEMPTS", "2")
    monkeypatch.setenv("CALLSCRIBE_CASE_SYSTEM_BACKOFF_S", "0.01")
    get_settings.cache_clear()
    runtime = open_runtime(get_settings())
    assert isinstance(runtime.case_system, HttpCaseSystem)
    assert runtime.settings.database_url != desk.settings.database_url
    return runtime


@pytest.mark.model
def test_worker_writes_a_real_call_to_the_desk_over_http(
    worker: Runtime,
    desk: LiveDesk,
    data_dir: Path,
    redis_url: str,
    base_transcriber: Transcriber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "worker_transcriber", lambda: base_transcriber)
    record, _ = register_call_file(
        SPEECH / "SSB00050015.wav", ledger=worker.ledger, data_dir=data_dir
    )
    queue = open_queue(connect(redis_url), worker.settings.queue)
    enqueue_call(queue, record.call_id, retry_intervals_s=[1])

    job = _work_until_settled(queue, record.call_id)

    assert job.get_status() == JobStatus.FINISHED
    final = worker.ledger.get(record.call_id)
    assert final is not None and final.status == CallStatus.DONE and final.transcript is not None
    with desk.client("operator") as operator:
        answer = operator.get(f"/api/cases/{record.call_id}")
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert case["case_id"] == final.case_ref
    assert case["status"] == "auto-filled"
    assert case["transcript"]["text"] == final.transcript.text
    assert desk.app.state.desk.count_cases(record.call_id) == 1


@pytest.mark.parametrize("desk", BACKENDS, indirect=True)
def test_desk_over_http_creates_once_updates_and_keeps_a_confirmed_case(
    worker: Runtime, desk: LiveDesk
) -> None:
    [call_id] = _seed(worker.ledger, 1)
    outbox = Outbox(worker.ledger, worker.case_system)

    first = outbox.deliver(call_id)
    again = outbox.deliver(call_id)

    assert again.case_id == first.case_id
    assert desk.app.state.desk.count_cases(call_id) == 1
    assert worker.ledger.get(call_id).case_ref == first.case_id  # type: ignore[union-attr]

    desk.app.state.desk.set_status(call_id, "in-review", actor="olga")
    desk.app.state.desk.set_status(call_id, "confirmed", actor="olga")
    fields = worker.ledger.get(call_id).fields  # type: ignore[union-attr]
    assert fields is not None
    worker.ledger.save_fields(call_id, replace(fields, summary="机器重新提取的摘要"))

    report = outbox.drain()
    assert report.remaining == [] and report.kept_by_case_system == []  # done calls are not owed
    kept = outbox.deliver(call_id)

    assert kept.case_id == first.case_id and kept.status == "confirmed"
    assert kept.fields["summary"] == first.fields["summary"], "the operator's case was overwritten"
    record = worker.ledger.get(call_id)
    assert record is not None and record.status == CallStatus.DONE
    assert record.error is not None and "HTTP 409" in record.error and "operator" in record.error
    assert desk.app.state.desk.count_cases(call_id) == 1


def test_the_desk_rejects_a_worker_without_a_valid_token(worker: Runtime, desk: LiveDesk) -> None:
    [call_id] = _seed(worker.ledger, 1)
    intruder = HttpCaseSystem(desk.url, "not-a-token-the-desk-issued", attempts=2, backoff_s=0.01)

    with intruder, pytest.raises(WriteBackRejected) as info:
        Outbox(worker.ledger, intruder).deliver(call_id)

    assert "HTTP 401" in str(info.value)
    record = worker.ledger.get(call_id)
    assert record is not None and record.status_line.startswith("failed: ")
    assert desk.app.state.desk.count_cases(call_id) == 0
