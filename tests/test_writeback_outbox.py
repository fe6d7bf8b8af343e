"""The outbox: stored transcripts and fields wait for the case system and drain exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from callscribe.cli import main
from callscribe.errors import CaseSystemUnavailable
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallLedger, CallStatus
from callscribe.pipeline import run_call
from callscribe.runtime import Runtime, open_runtime
from callscribe.schema import Segment, Transcript
from callscribe.settings import get_settings
from callscribe.summarize import extract_case_fields
from callscribe.transcribe import Transcriber
from callscribe.writeback.outbox import Outbox
from tests.conftest import CALLS, ROOT, SPEECH
from tests.desk_support import BACKENDS, store_url
from tests.writeback_fake import TOKEN, FakeCaseSystem, Step


@pytest.fixture
def fake() -> Iterator[FakeCaseSystem]:
    system = FakeCaseSystem().start()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture(params=["sqlite"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The worker's store: SQLite in the data dir, or (parametrised) a PostgreSQL schema."""
    with store_url(request.param, tmp_path, request) as url:
        yield url


@pytest.fixture
def http_env(
    fake: FakeCaseSystem, data_dir: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point callscribe at the fake case system, with fast retries."""
    env = {
        "CALLSCRIBE_DATA": str(data_dir),
        "CALLSCRIBE_DB_URL": ledger_url,
        "CALLSCRIBE_CASE_SYSTEM_URL": fake.url,
        "CALLSCRIBE_CASE_SYSTEM_TOKEN": TOKEN,
        "CALLSCRIBE_CASE_SYSTEM_TIMEOUT_S": "2",
        "CALLSCRIBE_CASE_SYSTEM_ATTEMPTS": "2",
        "CALLSCRIBE_CASE_SYSTEM_BACKOFF_S": "0.01",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return env


def _runtime() -> Runtime:
    return open_runtime(get_settings())


def _seed(ledger: CallLedger, count: int) -> list[str]:
    """Calls whose transcript and fields are stored and whose write-back has not happened."""
    turns = json.loads((CALLS / "sample_call_mono16k.reference.json").read_text())["turns"]
    call_ids = []
    for n in range(count):
        call_id = f"outbox-{n:02d}"
        ledger.register(call_id, audio_path="/nonexistent", source_name=f"{n}.wav", sha256=call_id)
        transcript = Transcript(
            duration=20.0,
            segments=[Segment(t["start"], t["end"], t["text"], t["speaker"], 0.9) for t in turns],
        )
        ledger.save_transcript(call_id, transcript)
        ledger.save_fields(call_id, extract_case_fields(transcript))
        ledger.set_status(call_id, CallStatus.WRITING_BACK)
        call_ids.append(call_id)
    return call_ids


@pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)
def test_outbox_lists_pending_and_drains_when_the_system_is_back(
    http_env: dict[str, str], fake: FakeCaseSystem
) -> None:
    runtime = _runtime()
    call_ids = _seed(runtime.ledger, 3)
    fake.plan.extend(Step("503", detail="down for maintenance") for _ in range(50))

    cli = CliRunner()
    down = cli.invoke(main, ["outbox", "--drain"])
    assert down.exit_code == 1, down.output
    assert "down for maintenance" in down.output
    assert len(fake.puts()) == 2, "a drain stops at the first call the system cannot take"

    listed = cli.invoke(main, ["outbox", "--json"])
    assert listed.exit_code == 0, listed.output
    pending = json.loads(listed.stdout)
    assert [p["call_id"] for p in pending] == call_ids
    assert "down for maintenance" in pending[0]["note"]

    fake.plan.clear()
    drained = cli.invoke(main, ["outbox", "--drain"])
    assert drained.exit_code == 0, drained.output
    assert [line.split()[-1] for line in drained.stdout.splitlines()] == call_ids
    assert fake.creations == dict.fromkeys(call_ids, 1)
    for call_id in call_ids:
        record = runtime.ledger.get(call_id)
        assert record is not None and record.status == CallStatus.DONE
        assert record.case_ref == fake.cases[call_id]["case_id"]
    assert Outbox(runtime.ledger, runtime.case_system).pending() == []


def test_a_400_ends_the_call_failed_with_the_servers_message(
    http_env: dict[str, str], fake: FakeCaseSystem
) -> None:
    runtime = _runtime()
    [call_id] = _seed(runtime.ledger, 1)
    fake.plan.append(Step("400", detail="appeal_type 吐槽 is not one of ours"))

    report = Outbox(runtime.ledger, runtime.case_system).drain()

    assert list(report.rejected) == [call_id] and not report.remaining
    record = runtime.ledger.get(call_id)
    assert record is not None
    assert record.status_line.startswith("failed: ")
    assert "HTTP 400: appeal_type 吐槽 is not one of ours" in record.status_line
    assert len(fake.puts()) == 1 and not fake.cases


def test_a_409_ends_the_call_done_keeping_the_operators_case_and_the_message(
    http_env: dict[str, str], fake: FakeCaseSystem
) -> None:
    runtime = _runtime()
    [call_id] = _seed(runtime.ledger, 1)
    fake.upsert(
        call_id, {"status": "confirmed", "fields": {"summary": "坐席确认"}, "transcript": {}}
    )
    fake.confirmed.add(call_id)

    report = Outbox(runtime.ledger, runtime.case_system).drain()

    assert report.kept_by_case_system == [call_id]
    record = runtime.ledger.get(call_id)
    assert record is not None and record.status == CallStatus.DONE
    assert record.case_ref == fake.cases[call_id]["case_id"]
    assert record.error is not None and "confirmed by an operator" in record.error
    assert fake.cases[call_id]["fields"] == {"summary": "坐席确认"}, "operator's case overwritten"


@pytest.mark.parametrize("ledger_url", BACKENDS, indirect=True)
def test_killing_the_drain_mid_request_loses_nothing_and_writes_each_case_once(
    http_env: dict[str, str], fake: FakeCaseSystem
) -> None:
    runtime = _runtime()
    call_ids = _seed(runtime.ledger, 6)
    fake.block_after_puts = 3  # the third PUT is applied, and its answer held back
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_")} | http_env
    command = [sys.executable, "-m", "callscribe.cli", "outbox", "--drain"]

    first = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for _ in range(3):
            assert fake.applied.acquire(timeout=30), "the drain did not get going"
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        fake.unblock.set()
    interrupted = fake.puts()[2].call_id
    assert interrupted is not None
    record = runtime.ledger.get(interrupted)
    assert record is not None and record.status == CallStatus.WRITING_BACK
    assert len(fake.puts()) == 3

    fake.block_after_puts = None
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr

    assert fake.creations == dict.fromkeys(call_ids, 1), "a case was written twice"
    assert len(fake.cases) == 6
    for call_id in call_ids:
        record = runtime.ledger.get(call_id)
        assert record is not None and record.status == CallStatus.DONE, record
        assert record.case_ref == fake.cases[call_id]["case_id"]
    resent = fake.puts(interrupted)
    assert [p.answered for p in resent] == [201, 200], "the unacknowledged PUT is sent again"
    assert len(fake.puts()) == 7


@pytest.mark.model
def test_a_failed_write_back_is_retried_from_the_ledger_without_transcribing_again(
    http_env: dict[str, str], fake: FakeCaseSystem, data_dir: Path, base_transcriber: Transcriber
) -> None:
    runtime = _runtime()
    record, _ = register_call_file(
        SPEECH / "SSB00050015.wav", ledger=runtime.ledger, data_dir=data_dir
    )
    loads: list[int] = []

    def counting_factory() -> Transcriber:
        loads.append(1)
        return base_transcriber

    def run(factory: Callable[[], Transcriber]) -> None:
        run_call(
            record.call_id,
            ledger=runtime.ledger,
            transcriber=factory,
            case_system=runtime.case_system,
        )

    fake.plan.extend([Step("500"), Step("429", retry_after="0"), Step("503"), Step("500")])
    for _ in range(2):  # two attempts of two requests each, all failing
        with pytest.raises(CaseSystemUnavailable):
            run(counting_factory)
    stored = runtime.ledger.get(record.call_id)
    assert stored is not None and stored.transcript is not None and stored.fields is not None
    assert stored.status == CallStatus.WRITING_BACK
    pending = Outbox(runtime.ledger, runtime.case_system).pending()
    assert [p.call_id for p in pending] == [record.call_id]

    run(counting_factory)

    assert len(loads) == 1, "the transcriber was asked for again after a write-back failure"
    assert fake.creations == {record.call_id: 1}
    sent = fake.cases[record.call_id]["transcript"]["text"]
    assert sent and sent == stored.transcript.text, "not the transcript the ledger kept"
    final = runtime.ledger.get(record.call_id)
    assert final is not None and final.status == CallStatus.DONE and final.attempts == 3


def test_drain_every_keeps_trying_until_the_system_is_back(
    http_env: dict[str, str], fake: FakeCaseSystem
) -> None:
    runtime = _runtime()
    call_ids = _seed(runtime.ledger, 2)
    fake.plan.extend(Step("503") for _ in range(4))  # two drains of two requests each fail

    result = CliRunner().invoke(main, ["outbox", "--drain", "--every", "0.1"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"delivered {c}" for c in call_ids]
    assert len(fake.puts()) == 6
    assert fake.creations == dict.fromkeys(call_ids, 1)
