"""Fifty files dropped at once: every one ends in exactly one of done/ or failed/, once.

Real parts throughout: the watcher on a real folder with inotify, a real rq worker on Redis, the
real Whisper base model, the SQLite ledger and case store. Most files are duplicates of four
short recordings, so the model runs four times; the rest are broken in every way the issue
lists, plus one file renamed into the inbox half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sqlalchemy import text

from callscribe import defaults
from callscribe.intake.dropfolder import DropFolder
from callscribe.intake.queue import connect, open_queue
from callscribe.intake.watcher import Watcher, queue_enqueuer
from callscribe.ledger import CallStatus
from callscribe.runtime import process_runtime
from callscribe.settings import get_settings
from callscribe.worker import jobs
from callscribe.worker.worker import CallWorker
from tests.conftest import CALLS

FORMATS = CALLS / "formats"
VALID = {
    "v1.wav": ("turn_pcm16_8k.wav", None),
    "v2.mp3": ("turn_mp3_8k.mp3", None),
    "v3.ulaw": (
        "turn_g711u_8k.ulaw",
        {"call_id": "RAW-1", "encoding": "ulaw", "sample_rate": 8000},
    ),
    "v4.amr": (
        "turn_amr_8k.amr",
        {
            "call_id": "AMR-1",
            "priority": "urgent",
            "caller_number": "13800000000",
            "vendor": {"x": 1},
        },
    ),
}


def _wav_header(data_bytes: int, fmt_tag: int = 1) -> bytes:
    fmt = struct.pack("<HHIIHH", fmt_tag, 1, 8000, 16000, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _stage_files(inbox: Path, staging: Path) -> tuple[set[str], set[str]]:
    """Write the 50 files into ``staging`` (then moved in); return (expect done, expect failed)."""
    done: set[str] = set()
    for name, (fixture, sidecar) in VALID.items():
        shutil.copy(FORMATS / fixture, staging / name)
        if sidecar is not None:
            (staging / name).with_suffix(".json").write_text(json.dumps(sidecar))
        done.add(name)
    sources = list(VALID.items())
    for i in range(35):
        name, (fixture, sidecar) = sources[i % 4]
        suffix = ".wav" if i % 7 == 0 else Path(name).suffix  # some with the wrong extension
        copy = f"dup{i:02d}{suffix}"
        shutil.copy(FORMATS / fixture, staging / copy)
        if sidecar is not None and i % 2 == 0:
            (staging / copy).with_suffix(".json").write_text(json.dumps(sidecar))
        done.add(copy)

    good = (FORMATS / "turn_pcm16_8k.wav").read_bytes()
    (staging / "empty.wav").write_bytes(b"")
    (staging / "notes.wav").write_text("不是录音\n" * 40, encoding="utf-8")
    (staging / "cut.wav").write_bytes(good[: len(good) // 3])
    soundfile.write(staging / "silence.wav", np.zeros(16000, np.int16), 8000, subtype="PCM_16")
    (staging / "g729.wav").write_bytes(_wav_header(800, fmt_tag=0x0133) + bytes(800))
    shutil.copy(FORMATS / "turn_alaw_8k.wav", staging / "badjson.wav")
    (staging / "badjson.json").write_text('{"call_id": "X"')
    shutil.copy(FORMATS / "turn_pcm24_8k.wav", staging / "bell\x07.wav")
    shutil.copy(FORMATS / "turn_pcm32_8k.wav", staging / "conflict.wav")
    (staging / "conflict.json").write_text('{"call_id": "RAW-1"}')
    with (staging / "huge.wav").open("wb") as handle:
        handle.write(_wav_header(2 * 1024**3 - 44))
        handle.truncate(2 * 1024**3)
    os.symlink(FORMATS / "turn_flac_8k.flac", inbox / "link.flac")
    failed = {
        "empty.wav",
        "notes.wav",
        "cut.wav",
        "silence.wav",
        "g729.wav",
        "badjson.wav",
        "bell_.wav",
        "conflict.wav",
        "huge.wav",
        "link.flac",
        "half.wav",
    }
    return done, failed


@pytest.mark.model
def test_fifty_files_each_end_in_exactly_one_place_and_no_call_twice(  # type: ignore[no-untyped-def]
    redis_url: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_transcriber,
) -> None:
    monkeypatch.setattr(jobs, "worker_transcriber", lambda: base_transcriber)
    process_runtime.cache_clear()
    runtime = process_runtime(get_settings())
    connection = connect(redis_url)
    folder = DropFolder.at(tmp_path / "drop" / "inbox")
    staging = tmp_path / "staging"
    staging.mkdir()
    expect_done, expect_failed = _stage_files(folder.inbox, staging)
    assert len(expect_done) + len(expect_failed) == 50

    # recheck_s: a queued job can vanish when another test session flushes the shared Redis
    # database; the watcher's periodic re-queue is what brings such a call back.
    watcher = Watcher(
        folder,
        runtime.ledger,
        data_dir,
        queue_enqueuer(connection, defaults.QUEUE_NAME, 600),
        settle_s=0.3,
        poll_s=0.1,
        max_bytes=64 * 1024**2,
        recheck_s=2.0,
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        originals = [p for p in staging.iterdir() if p.stem in ("v1", "v2", "v3", "v4")]
        _move_in(originals, folder.inbox)
        deadline = time.monotonic() + 10
        while len(_audio(folder.processing)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        _move_in(list(staging.iterdir()), folder.inbox)
        half = folder.inbox / "half.wav.part"
        whole = (FORMATS / "turn_pcm16_8k.wav").read_bytes()
        half.write_bytes(whole[: len(whole) // 2])
        os.rename(half, folder.inbox / "half.wav")

        queues = [
            open_queue(connection, defaults.URGENT_QUEUE_NAME),
            open_queue(connection, defaults.QUEUE_NAME),
        ]
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline:
            CallWorker(queues, connection=connection, serializer=queues[0].serializer).work(
                burst=True
            )
            if not _audio(folder.inbox) and not _audio(folder.processing):
                break
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()

    assert _audio(folder.inbox) == [] and _audio(folder.processing) == []
    done, failed = _audio(folder.done), _audio(folder.failed)
    assert sorted(done) == sorted(expect_done)
    assert sorted(failed) == sorted(expect_failed)
    assert not set(done) & set(failed)

    for name in failed:
        reason = json.loads((folder.failed / f"{name}.error.json").read_text())["reason"]
        assert reason and "\n" not in reason, name
    assert "over the 67108864 byte limit" in _reason(folder, "huge.wav")
    assert "truncated" in _reason(folder, "half.wav")
    assert _reason(folder, "silence.wav").startswith("silence.wav: all silence")
    assert _reason(folder, "g729.wav").startswith("g729.wav: unsupported audio codec")
    assert "already registered for a different recording" in _reason(folder, "conflict.wav")
    duplicates = [n for n in done if (folder.done / f"{n}.duplicate.json").exists()]
    assert sorted(set(done) - set(duplicates)) == sorted(VALID)

    calls = runtime.ledger.list(limit=1000)
    assert len({c.sha256 for c in calls}) == len(calls)
    by_status = {c.call_id: c.status for c in calls}
    assert [c for c, s in by_status.items() if s == CallStatus.DONE].__len__() == 4
    assert by_status["RAW-1"] == by_status["AMR-1"] == CallStatus.DONE
    assert set(by_status.values()) == {CallStatus.DONE, CallStatus.FAILED}
    with runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT call_id, COUNT(*) FROM cases GROUP BY call_id")).all()
    assert len(rows) == 4 and all(count == 1 for _, count in rows)
    amr = runtime.ledger.get("AMR-1")
    assert amr is not None and amr.metadata["vendor"] == {"x": 1}
    connection.close()
    process_runtime.cache_clear()


def _move_in(paths: list[Path], inbox: Path) -> None:
    """Sidecars first, as recorders should write them."""
    for path in sorted(paths, key=lambda p: p.suffix != ".json"):
        os.replace(path, inbox / path.name)


def _audio(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if not p.name.endswith(".json") or p.is_symlink()
    )


def _reason(folder: DropFolder, name: str) -> str:
    return str(json.loads((folder.failed / f"{name}.error.json").read_text())["reason"])
