"""The walking skeleton on real parts: real model, real Redis + rq worker, real SQLite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jiwer
import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from callscribe.audio import decode_call_audio
from callscribe.intake.queue import connect, enqueue_call, job_id_for, open_queue
from callscribe.intake.register import register_call_file
from callscribe.ledger import CallStatus
from callscribe.runtime import open_runtime
from callscribe.settings import get_settings
from callscribe.transcribe import load_transcriber, model_load_count
from callscribe.worker.worker import CallWorker
from tests.conftest import CALLS, SPEECH

_NOT_SCORED = re.compile(r"[\s\W_]+", re.UNICODE)


def _cer(reference: str, hypothesis: str) -> float:
    return float(jiwer.cer(_NOT_SCORED.sub("", reference), _NOT_SCORED.sub("", hypothesis)))


@pytest.mark.model
def test_real_model_transcribes_a_clip_under_35_percent_cer(base_transcriber) -> None:  # type: ignore[no-untyped-def]
    audio = decode_call_audio(SPEECH / "SSB00050015.wav")
    transcript = base_transcriber.transcribe(audio)

    assert transcript.language == "zh"
    assert transcript.segments, "no speech recognised"
    assert _cer("经广州日报报道后成为了社会热点。", transcript.text) < 0.35
    assert all(0.0 <= s.confidence <= 1.0 for s in transcript.segments)


def _enqueue_files(paths: list[Path]) -> list[str]:
    settings = get_settings()
    runtime = open_runtime(settings)
    queue = open_queue(connect(settings.redis_url or ""), settings.queue)
    call_ids = []
    for path in paths:
        record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=settings.data)
        enqueue_call(queue, record.call_id)
        call_ids.append(record.call_id)
    return call_ids


def _run_worker_burst() -> None:
    settings = get_settings()
    connection = connect(settings.redis_url or "")
    queue = open_queue(connection, settings.queue)
    CallWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)


@pytest.mark.model
def test_worker_processes_a_call_into_the_sqlite_case_store(redis_url: str, data_dir: Path) -> None:
    [call_id] = _enqueue_files([CALLS / "sample_call_mono16k.wav"])
    assert open_runtime(get_settings()).ledger.get(call_id).status == CallStatus.QUEUED  # type: ignore[union-attr]

    _run_worker_burst()

    runtime = open_runtime(get_settings())
    record = runtime.ledger.get(call_id)
    assert record is not None and record.status == CallStatus.DONE, record
    assert record.transcript is not None and "广州" in record.transcript.text
    case = runtime.case_system.get_case(call_id)
    assert case is not None and case.status == "auto-filled"
    assert case.fields["summary"].startswith("来电人反映")
    assert (data_dir / "callscribe.db").is_file()
    job = Job.fetch(job_id_for(call_id), connection=connect(redis_url), serializer=JSONSerializer)
    assert job.get_status() == "finished"


@pytest.mark.model
def test_model_is_loaded_once_for_two_jobs(redis_url: str, data_dir: Path) -> None:
    load_transcriber.cache_clear()
    before = model_load_count()
    first, second = _enqueue_files(
        [SPEECH / "BAC009S0764W0122.wav", SPEECH / "BAC009S0002W0123.wav"]
    )

    _run_worker_burst()

    ledger = open_runtime(get_settings()).ledger
    assert ledger.get(first).status == CallStatus.DONE  # type: ignore[union-attr]
    assert ledger.get(second).status == CallStatus.DONE  # type: ignore[union-attr]
    assert model_load_count() - before == 1


@pytest.mark.model
def test_bad_files_fail_cleanly_and_the_worker_keeps_going(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("this is a work order, not a recording\n", encoding="utf-8")
    truncated = tmp_path / "cut_short.wav"
    truncated.write_bytes((SPEECH / "SSB00050015.wav").read_bytes()[:30])
    good = tmp_path / "good.wav"
    shutil.copyfile(SPEECH / "BAC009S0724W0121.wav", good)

    bad_id, cut_id, good_id = _enqueue_files([not_audio, truncated, good])
    _run_worker_burst()

    ledger = open_runtime(get_settings()).ledger
    bad, cut, ok = ledger.get(bad_id), ledger.get(cut_id), ledger.get(good_id)
    assert bad is not None and bad.status_line.startswith("failed: notes.wav: ")
    assert cut is not None and cut.status_line.startswith("failed: cut_short.wav: ")
    assert "\n" not in bad.status_line and "\n" not in cut.status_line
    assert ok is not None and ok.status == CallStatus.DONE
    assert not_audio.exists() and truncated.exists()
    failed = FailedJobRegistry(
        queue=open_queue(connect(redis_url), get_settings().queue)
    ).get_job_ids()
    assert sorted(failed) == sorted([job_id_for(bad_id), job_id_for(cut_id)])


def test_empty_file_is_refused_at_intake_with_its_name(data_dir: Path, tmp_path: Path) -> None:
    from callscribe.errors import AudioDecodeError

    empty = tmp_path / "empty.wav"
    empty.touch()
    runtime = open_runtime(get_settings())
    with pytest.raises(AudioDecodeError, match=r"^empty\.wav: file is empty$"):
        register_call_file(empty, ledger=runtime.ledger, data_dir=data_dir)
    assert empty.exists()


def test_same_recording_registered_twice_is_one_call(data_dir: Path) -> None:
    runtime = open_runtime(get_settings())
    first, created = register_call_file(
        SPEECH / "SSB00050015.wav", ledger=runtime.ledger, data_dir=data_dir
    )
    again, created_again = register_call_file(
        SPEECH / "SSB00050015.wav", ledger=runtime.ledger, data_dir=data_dir
    )
    assert created and not created_again
    assert first.call_id == again.call_id
    assert len(runtime.ledger.list()) == 1


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callscribe.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


@pytest.mark.model
def test_cli_contract_end_to_end(redis_url: str, data_dir: Path, tmp_path: Path) -> None:
    env = {"REDIS_URL": redis_url, "CALLSCRIBE_DATA": str(data_dir)}

    out = _cli("transcribe", str(SPEECH / "BAC009S0002W0122.wav"), "--json", env=env)
    assert out.returncode == 0, out.stderr
    transcript = json.loads(out.stdout)
    assert {"duration", "language", "text", "segments"} <= transcript.keys()
    assert transcript["language"] == "zh"
    assert {"start", "end", "speaker", "text", "confidence"} <= transcript["segments"][0].keys()

    transcript_file = tmp_path / "t.json"
    transcript_file.write_text(out.stdout, encoding="utf-8")
    out = _cli("extract", str(transcript_file), "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert {"callback_phone", "district", "appeal_type", "summary"} <= json.loads(out.stdout).keys()

    out = _cli("enqueue", str(CALLS / "sample_call_mono16k.wav"), env=env)
    assert out.returncode == 0, out.stderr
    call_id = out.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", call_id)
    assert _cli("status", call_id, env=env).stdout.strip() == "queued"

    out = _cli("worker", "--burst", env=env)
    assert out.returncode == 0, out.stderr
    assert _cli("status", call_id, env=env).stdout.strip() == "done"
    shown = json.loads(_cli("show", call_id, env=env).stdout)
    assert shown["call_id"] == call_id and shown["fields"]["summary"]

    out = _cli("process", str(SPEECH / "BAC009S0764W0121.wav"), "--json", env=env)
    assert out.returncode == 0, out.stderr
    processed = json.loads(out.stdout)
    assert {"call_id", "transcript", "case"} <= processed.keys()
    assert "交易" in processed["transcript"]["text"]


def test_cli_names_a_bad_file_in_one_line(data_dir: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "recording.mp3"
    bogus.write_bytes(b"\x00" * 64)
    out = _cli("process", str(bogus), "--json", env={"CALLSCRIBE_DATA": str(data_dir)})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: recording.mp3: "), out.stderr
    assert bogus.exists()
