"""The drop-folder watcher on a real folder, real SQLite ledger and real Redis queue."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from redis import Redis

from callscribe import defaults
from callscribe.intake.dropfolder import DropFolder
from callscribe.intake.queue import connect, job_id_for, open_queue
from callscribe.intake.watcher import Watcher, queue_enqueuer
from callscribe.ledger import CallLedger, CallStatus
from callscribe.runtime import process_runtime
from callscribe.settings import get_settings
from tests.conftest import CALLS

FORMATS = CALLS / "formats"

E = TypeVar("E", bound="Env")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    folder: DropFolder
    ledger: CallLedger
    data: Path
    redis: Redis
    clock: Clock

    def watcher(self, **kwargs: object) -> Watcher:
        enqueue = queue_enqueuer(self.redis, defaults.QUEUE_NAME, 600)
        options: dict[str, object] = {"settle_s": 2.0, "clock": self.clock, **kwargs}
        return Watcher(self.folder, self.ledger, self.data, enqueue, **options)  # type: ignore[arg-type]

    def queued(self) -> list[str]:
        return list(open_queue(self.redis, defaults.QUEUE_NAME).get_job_ids())

    def names(self, sub: str) -> list[str]:
        return sorted(p.name for p in (self.folder.root / sub).iterdir())


def open_env(kind: type[E], redis_url: str, data_dir: Path, tmp_path: Path) -> Iterator[E]:
    """A drop folder over the test's store and Redis database (tests/test_intake_hostile.py
    builds its own kind of Env on the same footing)."""
    process_runtime.cache_clear()
    runtime = process_runtime(get_settings())
    connection = connect(redis_url)
    yield kind(DropFolder.at(tmp_path / "drop"), runtime.ledger, data_dir, connection, Clock())
    connection.close()
    runtime.engine.dispose()
    process_runtime.cache_clear()


@pytest.fixture
def env(redis_url: str, data_dir: Path, tmp_path: Path) -> Iterator[Env]:
    yield from open_env(Env, redis_url, data_dir, tmp_path)


def _drop(env: Env, fixture: str, name: str, sidecar: dict[str, object] | None = None) -> Path:
    if sidecar is not None:
        (env.folder.inbox / name).with_suffix(".json").write_text(json.dumps(sidecar))
    target = env.folder.inbox / name
    shutil.copy(FORMATS / fixture, target)
    return target


def test_files_are_taken_only_when_complete(env: Env) -> None:
    watcher = env.watcher()
    (env.folder.inbox / "a.wav.part").write_bytes(b"RIFF....")
    (env.folder.inbox / "b.tmp").write_bytes(b"RIFF....")
    (env.folder.inbox / ".hidden.wav").write_bytes(b"RIFF....")
    growing = env.folder.inbox / "growing.wav"
    data = (FORMATS / "turn_pcm16_8k.wav").read_bytes()
    growing.write_bytes(data[:1000])
    watcher.scan_once()
    env.clock.now += 1.5
    with growing.open("ab") as handle:
        handle.write(data[1000:])
    watcher.scan_once()
    assert env.names("inbox") == [".hidden.wav", "a.wav.part", "b.tmp", "growing.wav"]
    env.clock.now += 2.1
    watcher.scan_once()
    assert env.names("inbox") == [".hidden.wav", "a.wav.part", "b.tmp"]
    [taken] = env.names("processing")
    assert taken.endswith("__growing.wav")
    record = env.ledger.get(env.ledger.list()[0].call_id)
    assert record is not None and record.source_name == "growing.wav"
    assert env.queued() == [job_id_for(record.call_id)]


def test_lifecycle_duplicates_and_failures(env: Env) -> None:
    watcher = env.watcher(settle_s=0.0)
    _drop(env, "turn_pcm16_8k.wav", "first.wav", {"call_id": "C-1", "priority": "normal"})
    _drop(env, "turn_mp3_8k.mp3", "second.mp3")
    watcher.scan_once()
    assert len(env.names("processing")) == 3  # two recordings and one sidecar
    assert sorted(env.queued()) == sorted([job_id_for("C-1"), job_id_for(_sha_of(env))])

    _drop(env, "turn_pcm16_8k.wav", "first-again.wav", {"call_id": "C-1"})
    _drop(env, "turn_mp3_8k.mp3", "second-copy.wav")
    (env.folder.inbox / "bad-sidecar.wav").write_bytes(b"RIFF")
    (env.folder.inbox / "bad-sidecar.json").write_text("{not json")
    os.symlink(FORMATS / "turn_pcm16_8k.wav", env.folder.inbox / "linked.wav")
    _drop(env, "turn_pcm16_8k.wav", "evil\x1b[2Jname.wav")
    watcher.scan_once()
    assert env.names("done") == [
        "first-again.json",
        "first-again.wav",
        "first-again.wav.duplicate.json",
        "second-copy.wav",
        "second-copy.wav.duplicate.json",
    ]
    dup = json.loads((env.folder.done / "first-again.wav.duplicate.json").read_text())
    assert dup["duplicate_of"] == "C-1" and dup["status"] == "queued"
    failed = env.names("failed")
    assert "bad-sidecar.json" in failed and "linked.wav" in failed
    assert "evil_[2Jname.wav" in failed
    reasons = {
        n: json.loads((env.folder.failed / n).read_text())["reason"]
        for n in failed
        if n.endswith(".error.json")
    }
    assert "bad JSON at line 1 column 2" in reasons["bad-sidecar.wav.error.json"]
    assert "symbolic link" in reasons["linked.wav.error.json"]
    assert "control characters" in reasons["evil_[2Jname.wav.error.json"]
    assert all("\n" not in r for r in reasons.values())
    assert (env.folder.failed / "linked.wav").is_symlink()

    env.ledger.mark_done("C-1", "case-1")
    env.ledger.set_status(_sha_of(env), CallStatus.FAILED, error="second.mp3: all silence")
    watcher.scan_once()
    assert env.names("processing") == []
    assert {"first.wav", "first.json"} <= set(env.names("done"))
    error = json.loads((env.folder.failed / "second.mp3.error.json").read_text())
    assert error["reason"] == "second.mp3: all silence" and error["call_id"] == _sha_of(env)

    _drop(env, "turn_mp3_8k.mp3", "third-copy.mp3")
    watcher.scan_once()
    again = json.loads((env.folder.failed / "third-copy.mp3.error.json").read_text())
    assert again["reason"].startswith(f"duplicate of failed call {_sha_of(env)}")


def _sha_of(env: Env) -> str:
    import hashlib

    return hashlib.sha256((FORMATS / "turn_mp3_8k.mp3").read_bytes()).hexdigest()


def test_restart_requeues_what_no_live_job_owns(env: Env) -> None:
    watcher = env.watcher(settle_s=0.0)
    _drop(env, "turn_pcm16_8k.wav", "a.wav")
    _drop(env, "turn_mp3_8k.mp3", "b.mp3")
    watcher.scan_once()
    assert len(env.queued()) == 2
    lost = env.ledger.get(_sha_of(env))
    assert lost is not None
    open_queue(env.redis, "calls").remove(job_id_for(lost.call_id))
    env.redis.delete(f"rq:job:{job_id_for(lost.call_id)}")
    # A crash between the sidecar's move and the audio's leaves an orphan sidecar.
    (env.folder.processing / "0123456789abcdef__c.json").write_text('{"call_id": "C-3"}')
    (env.folder.inbox / "c.wav").write_bytes((FORMATS / "turn_alaw_8k.wav").read_bytes())

    restarted = env.watcher(settle_s=0.0)
    restarted.recover()
    assert sorted(env.queued()) == sorted(job_id_for(r.call_id) for r in env.ledger.list())
    assert len(env.queued()) == 2
    assert (env.folder.inbox / "c.json").exists()
    restarted.scan_once()
    assert env.ledger.get("C-3") is not None
    assert len(env.queued()) == 3
    assert len([n for n in env.names("processing") if not n.endswith(".json")]) == 3


def test_rename_into_the_inbox_is_taken_at_once_through_inotify(env: Env) -> None:
    watcher = env.watcher(settle_s=60.0, poll_s=0.05, clock=time.monotonic)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        part = env.folder.inbox / "renamed.wav.part"
        shutil.copy(FORMATS / "turn_pcm16_8k.wav", part)
        time.sleep(0.3)
        assert env.names("processing") == []
        os.rename(part, env.folder.inbox / "renamed.wav")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not env.names("processing"):
            time.sleep(0.05)
        assert [n.split("__", 1)[1] for n in env.names("processing")] == ["renamed.wav"]
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_polling_mode_takes_stable_files(env: Env) -> None:
    watcher = env.watcher(settle_s=0.3, poll_s=0.05, polling=True, clock=time.monotonic)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _drop(env, "turn_pcm16_8k.wav", "polled.wav")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not env.names("processing"):
            time.sleep(0.05)
        assert len(env.names("processing")) == 1
    finally:
        stop.set()
        thread.join(timeout=5)


def test_watch_command_takes_a_file_and_stops_on_sigterm(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    env = {**os.environ, "CALLSCRIBE_WATCH_SETTLE_S": "0.2", "CALLSCRIBE_WATCH_POLL_S": "0.1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "watch", str(drop)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (drop / "inbox").is_dir() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.copy(FORMATS / "turn_pcm16_8k.wav", drop / "inbox" / "cli.wav")
        while not list((drop / "processing").glob("*__cli.wav")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((drop / "processing").glob("*__cli.wav"))
        queue = open_queue(connect(redis_url), "calls")
        while not queue.get_job_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(queue.get_job_ids()) == 1
        queue.connection.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"watching {drop / 'inbox'}" in err


def test_redis_down_leaves_the_call_in_processing_and_a_recheck_queues_it(env: Env) -> None:
    down = queue_enqueuer(connect("redis://127.0.0.1:1/0"), "calls", 600)
    watcher = Watcher(env.folder, env.ledger, env.data, down, settle_s=0.0, clock=env.clock)
    _drop(env, "turn_pcm16_8k.wav", "while-down.wav")
    watcher.scan_once()
    [taken] = env.names("processing")
    assert taken.endswith("__while-down.wav") and env.queued() == []
    watcher.enqueue = queue_enqueuer(env.redis, "calls", 600)
    env.clock.now += watcher.recheck_s
    watcher.scan_once()
    assert len(env.queued()) == 1


def _watch_process(drop: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CALLSCRIBE_WATCH_SETTLE_S": "0", "CALLSCRIBE_WATCH_POLL_S": "0.02"}
    return subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "watch", str(drop)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _where(folder: DropFolder, names: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {n: [] for n in names}
    for sub in ("inbox", "processing", "done", "failed"):
        for path in (folder.root / sub).iterdir():
            original = path.name.split("__", 1)[-1] if sub == "processing" else path.name
            if original in found:
                found[original].append(sub)
    return found


def test_sigkill_mid_intake_loses_nothing_and_a_restart_finishes(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    folder = DropFolder.at(tmp_path / "drop")
    names: list[str] = []
    for i in range(30):
        name = f"call{i:02d}.wav"
        body = b"RIFF" + (i % 20).to_bytes(2, "big") * 2000  # calls 20-29 repeat 0-9
        (folder.inbox / name).write_bytes(body)
        if i % 3 == 0:
            (folder.inbox / f"call{i:02d}.json").write_text(json.dumps({"agent_id": f"A{i}"}))
        names.append(name)

    first = _watch_process(folder.root)
    deadline = time.monotonic() + 20
    while len(list(folder.processing.iterdir())) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    after_kill = _where(folder, names)
    assert all(len(places) == 1 for places in after_kill.values()), after_kill
    assert any(p == ["inbox"] for p in after_kill.values()), "killed too late to test a crash"

    second = _watch_process(folder.root)
    try:
        while any(folder.inbox.glob("call*.wav")) and time.monotonic() < deadline + 20:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        _out, err = second.communicate(timeout=20)
    assert second.returncode == 0, err
    where = _where(folder, names)
    assert all(len(places) == 1 for places in where.values()), where
    assert sorted(n for n, p in where.items() if p == ["processing"]) == names[:20]
    assert sorted(n for n, p in where.items() if p == ["done"]) == names[20:]
    ledger = process_runtime(get_settings()).ledger
    calls = ledger.list(limit=100)
    assert len(calls) == 20 and len({c.sha256 for c in calls}) == 20
    queue = open_queue(connect(redis_url), "calls")
    assert sorted(queue.get_job_ids()) == sorted(job_id_for(c.call_id) for c in calls)
    assert {c.metadata.get("agent_id") for c in calls} >= {f"A{i}" for i in range(0, 20, 3)}
    process_runtime.cache_clear()
