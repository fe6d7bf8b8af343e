"""Hostile input at the drop folder and ``callscribe enqueue``: no single file stops intake.

The rows of issue 11 that land on intake, each reproduced: a sidecar nested 20,000 deep, a named
pipe or a directory as the sidecar, poisoned files in processing/ at start-up, call ids with
dots, a 255-byte file name, personal data in names and metadata, a bad file given to
``callscribe enqueue``, and generated sidecars. A real folder, the real SQLite ledger and Redis;
the commands run as real processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from rq.job import Job, validate_job_id
from rq.serializers import JSONSerializer

from callscribe import callids
from callscribe.callids import CALL_ID_PATTERN, call_id_for_job, check_call_id, job_id_for
from callscribe.errors import MetadataError
from callscribe.intake import watcher as watcher_module
from callscribe.intake.dropfolder import SAFE_NAME_MAX_BYTES, DropFolder, name_token
from callscribe.intake.metadata import (
    KNOWN_SIDECAR_KEYS,
    normalize_metadata,
    read_sidecar,
)
from callscribe.intake.queue import connect, open_queue
from callscribe.intake.register import register_call_file as real_register
from callscribe.intake.watcher import Watcher
from callscribe.ledger import CallStatus
from tests.conftest import CALLS
from tests.test_intake_watcher import Env as WatcherEnv
from tests.test_intake_watcher import open_env

FORMATS = CALLS / "formats"
PHONE = "13912345678"
PERSON = "张三"
TOKEN = "0123456789abcdef"
DEEP_LIST = "[" * 20_000 + "]" * 20_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000


class Env(WatcherEnv):
    """The watcher tests' drop folder, with files taken at once and hostile files to drop."""

    def watcher(self, **kwargs: Any) -> Watcher:
        return super().watcher(**{"settle_s": 0.0, **kwargs})

    def drop(self, name: str, sidecar: str | dict[str, Any] | None = None) -> Path:
        audio = self.folder.inbox / name
        if sidecar is not None:
            text = sidecar if isinstance(sidecar, str) else json.dumps(sidecar)
            audio.with_suffix(".json").write_text(text, encoding="utf-8")
        audio.write_bytes(_audio(name))
        return audio

    def audio_in(self, sub: str) -> list[str]:
        return [n for n in self.names(sub) if not n.endswith(".json")]

    def error(self, name: str) -> dict[str, Any]:
        note: dict[str, Any] = json.loads((self.folder.failed / f"{name}.error.json").read_text())
        return note


@pytest.fixture
def env(redis_url: str, data_dir: Path, tmp_path: Path) -> Iterator[Env]:
    yield from open_env(Env, redis_url, data_dir, tmp_path)


def _audio(seed: str) -> bytes:
    """Bytes of a file the watcher takes (it never decodes): distinct for each seed."""
    return b"RIFF" + hashlib.sha256(seed.encode()).digest() * 64


def _within(seconds: float, action: Callable[[], None], fifos: Path) -> None:
    """Run ``action`` in a thread; fail if it has not returned in time.

    A reader blocked in ``open()`` of a named pipe is then released by opening every pipe under
    ``fifos`` for writing, so that a regression fails this test instead of hanging the run.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as err:  # noqa: BLE001 - handed to the test below
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    blocked = thread.is_alive()
    if blocked:
        for path in fifos.rglob("*"):
            if path.is_fifo():
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
        thread.join(5)
    assert not blocked, f"still running after {seconds}s (blocked reading a file?)"
    if errors:
        raise errors[0]


def _watcher_errors(reason: str) -> float:
    value = REGISTRY.get_sample_value("callscribe_watcher_errors_total", {"reason": reason})
    return value or 0.0


@pytest.mark.parametrize("sidecar", [DEEP_LIST, DEEP_OBJECT], ids=["list", "object"])
def test_a_sidecar_nested_20000_deep_fails_its_file_not_the_watcher(env: Env, sidecar: str) -> None:
    env.drop("deep.wav", sidecar)
    env.drop("next.wav", {"note": "[[[[ brackets in a string are no nesting ]]]]"})
    before = _watcher_errors("sidecar")
    _within(20, env.watcher().scan_once, env.folder.root)
    assert env.names("failed") == ["deep.json", "deep.wav", "deep.wav.error.json"]
    reason = env.error("deep.wav")["reason"]
    assert reason == "deep.json: metadata is nested more than 32 levels deep"
    assert [n.split("__", 1)[1] for n in env.audio_in("processing")] == ["next.wav"]
    assert len(env.queued()) == 1
    assert _watcher_errors("sidecar") == before + 1


def test_named_pipes_as_sidecar_or_audio_fail_their_file_without_blocking(env: Env) -> None:
    env.drop("piped.wav")
    os.mkfifo(env.folder.inbox / "piped.json")
    os.mkfifo(env.folder.inbox / "pipe-audio.wav")
    env.drop("next.wav")
    _within(10, env.watcher().scan_once, env.folder.root)
    assert env.names("failed") == [
        "pipe-audio.wav",
        "pipe-audio.wav.error.json",
        "piped.json",
        "piped.wav",
        "piped.wav.error.json",
    ]
    assert (env.folder.failed / "piped.json").is_fifo()
    reason = env.error("piped.wav")["reason"]
    assert reason == "piped.json: sidecar is a named pipe, not a regular file"
    reason = env.error("pipe-audio.wav")["reason"]
    assert reason == "pipe-audio.wav: file is a named pipe, not a regular file"
    assert len(env.audio_in("processing")) == 1 and len(env.queued()) == 1


def test_a_directory_as_sidecar_fails_its_file(env: Env) -> None:
    env.drop("dir.wav")
    (env.folder.inbox / "dir.json").mkdir()
    _within(10, env.watcher().scan_once, env.folder.root)
    assert env.names("failed") == ["dir.json", "dir.wav", "dir.wav.error.json"]
    assert env.error("dir.wav")["reason"] == "dir.json: sidecar is a directory, not a regular file"
    assert env.names("processing") == [] and env.names("inbox") == []


def test_recovery_sends_each_unreadable_file_in_processing_to_failed_and_goes_on(
    env: Env,
) -> None:
    processing = env.folder.processing

    def pair(name: str, token: str = TOKEN) -> Path:
        audio = processing / f"{token}__{name}.wav"
        audio.write_bytes(_audio(name))
        return audio.with_suffix(".json")

    pair("deep", "0000000000000001").write_text(DEEP_LIST)
    pair("dir", "0000000000000002").mkdir()
    os.mkfifo(pair("pipe", "0000000000000003"))
    pair("bad-id", "0000000000000004").write_text('{"call_id": "rec/2024"}')
    (processing / "0000000000000005__folder.wav").mkdir()
    pair("good", "0000000000000006").write_text('{"call_id": "rec.2024.0001"}')
    before = _watcher_errors("sidecar")

    watcher = env.watcher()
    _within(20, watcher.recover, env.folder.root)
    assert env.audio_in("failed") == ["bad-id.wav", "deep.wav", "dir.wav", "folder.wav", "pipe.wav"]
    reasons = {n: env.error(n)["reason"] for n in env.audio_in("failed")}
    assert reasons["deep.wav"] == "deep.json: metadata is nested more than 32 levels deep"
    assert reasons["dir.wav"] == "dir.json: sidecar is a directory, not a regular file"
    assert reasons["pipe.wav"] == "pipe.json: sidecar is a named pipe, not a regular file"
    assert reasons["bad-id.wav"].startswith("bad-id.wav: call_id 'rec/2024' must be 1-128 letters")
    assert reasons["folder.wav"] == "folder.wav: file is a directory, not a regular file"
    assert _watcher_errors("sidecar") == before + 4
    assert env.names("processing") == ["0000000000000006__good.json", "0000000000000006__good.wav"]
    assert env.queued() == [job_id_for("rec.2024.0001")]

    _within(10, env.watcher().recover, env.folder.root)  # a second restart finds nothing to fail
    assert len(env.audio_in("failed")) == 5 and env.queued() == [job_id_for("rec.2024.0001")]


def test_an_unforeseen_error_on_one_file_fails_that_file_and_the_watcher_goes_on(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:

    def flaky_register(path: Path, **kwargs: Any) -> Any:
        if "cursed" in path.name:
            raise RuntimeError(f"cannot cope with {path}")
        return real_register(path, **kwargs)

    monkeypatch.setattr(watcher_module, "register_call_file", flaky_register)
    caplog.set_level(logging.DEBUG, logger="callscribe")
    env.drop("cursed.wav")
    env.drop("fine.wav")
    before = _watcher_errors("other")
    env.watcher().scan_once()
    assert env.audio_in("failed") == ["cursed.wav"]
    assert env.error("cursed.wav")["reason"].startswith("unexpected RuntimeError: cannot cope")
    assert len(env.queued()) == 1
    assert _watcher_errors("other") == before + 1

    (env.folder.processing / f"{TOKEN}__cursed-again.wav").write_bytes(_audio("again"))
    before = _watcher_errors("recovery")
    env.watcher().recover()
    assert "cursed-again.wav" in env.audio_in("failed")
    assert _watcher_errors("recovery") == before + 1
    assert not [r for r in caplog.records if "cursed" in _record_text(r)]


def test_a_call_id_with_dots_is_registered_and_queued_and_a_bad_one_is_a_reason(
    env: Env,
) -> None:
    env.drop("dotted.wav", {"call_id": "rec.2024.0001"})
    env.drop("slash.wav", {"call_id": "rec/2024"})
    env.drop("newline.wav", {"call_id": "rec-2024\n"})
    env.drop("long.wav", {"call_id": "r" * 129})
    env.watcher().scan_once()
    record = env.ledger.get("rec.2024.0001")
    assert record is not None and record.status == CallStatus.QUEUED
    job = Job.fetch(job_id_for("rec.2024.0001"), connection=env.redis, serializer=JSONSerializer)
    assert job.args == ["rec.2024.0001"] and job.get_status() == "queued"
    assert env.queued() == [job.id]
    assert env.audio_in("failed") == ["long.wav", "newline.wav", "slash.wav"]
    for name in env.audio_in("failed"):
        reason = env.error(name)["reason"]
        assert reason.startswith(f"{name}: call_id ") and reason.endswith(callids.CALL_ID_RULE)


def test_the_upload_api_and_intake_check_call_ids_against_one_pattern() -> None:
    from callscribe.web import schemas

    assert schemas.CALL_ID_PATTERN is callids.CALL_ID_PATTERN


@pytest.mark.parametrize(
    ("call_id", "job_id"),
    [
        ("REC-2026-0001", "call-REC-2026-0001"),
        ("a" * 64, "call-" + "a" * 64),
        ("rec_1", "call-rec_1"),
        ("rec.2024.0001", "call_rec_2e2024_2e0001"),
        ("a_b.c", "call_a_5fb_2ec"),
        ("a.b_c", "call_a_2eb_5fc"),
    ],
)
def test_job_ids_of_known_call_ids(call_id: str, job_id: str) -> None:
    assert job_id_for(call_id) == job_id
    validate_job_id(job_id)
    assert call_id_for_job(job_id) == call_id


@settings(max_examples=200, database=None, deadline=None)
@given(st.from_regex(CALL_ID_PATTERN, fullmatch=True).filter(callids.is_call_id))
def test_every_call_id_has_one_job_id_rq_accepts(call_id: str) -> None:
    job_id = job_id_for(call_id)
    validate_job_id(job_id)
    assert call_id_for_job(job_id) == call_id  # a left inverse: no two ids share a job


@pytest.mark.parametrize("value", ["", "-a", ".a", "a" * 129, "a/b", "a:b", "a\n", "é", 42, None])
def test_bad_call_ids_are_one_line(value: object) -> None:
    with pytest.raises(MetadataError) as caught:
        check_call_id(value, "call.json")
    message = str(caught.value)
    assert message.startswith("call.json: call_id ") and "\n" not in message
    with pytest.raises(ValueError, match="not a call id"):
        job_id_for(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "with_sidecar"),
    [("a" * 251 + ".wav", False), ("张" * 83 + ".wav", False), ("c" * 236 + ".wav", True)],
    ids=["255-bytes", "chinese-253-bytes", "240-bytes-with-sidecar"],
)
def test_a_name_too_long_for_the_folder_goes_to_failed_and_keeps_its_name_in_the_note(
    env: Env, caplog: pytest.LogCaptureFixture, name: str, with_sidecar: bool
) -> None:
    caplog.set_level(logging.DEBUG, logger="callscribe")
    env.drop(name, {"agent_id": "A1"} if with_sidecar else None)
    env.drop("short.wav")
    env.watcher().scan_once()
    assert env.names("inbox") == []
    [note_name] = [n for n in env.names("failed") if n.endswith(".error.json")]
    note = json.loads((env.folder.failed / note_name).read_text())
    assert note["file"] == name and note["token"] == name_token(name)
    assert "file name is too long" in note["reason"]
    [kept] = env.audio_in("failed")
    assert len(kept.encode()) <= SAFE_NAME_MAX_BYTES and kept.endswith(".wav")
    assert (env.folder.failed / kept).read_bytes() == _audio(name)
    if with_sidecar:
        assert json.loads((env.folder.failed / kept).with_suffix(".json").read_text()) == {
            "agent_id": "A1"
        }
    assert len(env.audio_in("processing")) == 1
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"file {name_token(name)}: moved to failed/ (name)" in lines
    assert not [r for r in caplog.records if name[:20] in _record_text(r)]


def test_a_name_that_is_not_utf8_goes_to_failed_with_its_bytes_in_the_note(env: Env) -> None:
    raw_name = b"caf\xe9-" + PHONE.encode() + b".wav"
    fd = os.open(os.fsencode(env.folder.inbox) + b"/" + raw_name, os.O_WRONLY | os.O_CREAT)
    os.write(fd, _audio("latin-1"))
    os.close(fd)
    env.watcher().scan_once()
    assert env.names("inbox") == []
    [note] = [n for n in env.names("failed") if n.endswith(".error.json")]
    data = json.loads((env.folder.failed / note).read_text(encoding="utf-8"))
    assert os.fsencode(data["file"]) == raw_name
    assert data["reason"].endswith("file name is not UTF-8")


def _record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text + (record.exc_text or "") + (record.stack_info or "")


def test_no_file_name_or_metadata_value_reaches_the_watchers_log(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="callscribe")
    caplog.set_level(logging.DEBUG, logger="rq")
    base = f"{PHONE}_{PERSON}"

    def flaky_register(path: Path, **kwargs: Any) -> Any:
        if "boom" in path.name:
            raise RuntimeError(f"no luck with {path} for {kwargs['metadata']}")
        return real_register(path, **kwargs)

    monkeypatch.setattr(watcher_module, "register_call_file", flaky_register)
    person = {"caller_number": PHONE, "caller_name": PERSON}
    env.drop(f"{base}.wav", {**person, "agent_id": "A1"})
    shutil.copy(env.folder.inbox / f"{base}.wav", env.folder.inbox / f"{base}_copy.wav")
    env.drop(f"{base}_bad.wav", {**person, "priority": PERSON, "started_at": PHONE})
    env.drop(f"{base}_deep.wav", "[" * 40 + json.dumps(person) + "]" * 40)
    env.drop(f"{base}_boom.wav", person)
    env.drop(f"{base}_later.wav", {**person, "channel_roles": [PHONE, PERSON]})
    env.drop(f"{base}_silent.wav", person)
    (env.folder.inbox / f"{base}_pipe.wav").write_bytes(_audio("pipe"))
    os.mkfifo(env.folder.inbox / f"{base}_pipe.json")
    (env.folder.inbox / (PHONE * 20 + ".wav")).write_bytes(_audio("long"))

    watcher = env.watcher(poll_s=0.02, recheck_s=0.2, clock=time.monotonic)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wanted = {f"{base}.wav", f"{base}_silent.wav"}
        _wait(
            lambda: (
                not env.names("inbox")
                and len(env.audio_in("processing")) == 2
                and wanted <= {c.source_name for c in env.ledger.list()}
            )
        )
        calls = {c.source_name: c.call_id for c in env.ledger.list()}
        env.ledger.mark_done(calls[f"{base}.wav"], "case-1")
        env.ledger.set_status(
            calls[f"{base}_silent.wav"],
            CallStatus.FAILED,
            error=f"{base}_silent.wav: all silence ({PHONE}, {PERSON})",
        )
        _wait(lambda: not env.names("processing"))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert env.audio_in("done") == [f"{base}.wav", f"{base}_copy.wav"]
    assert len(env.audio_in("failed")) == 7
    notes = [env.error(n) for n in env.audio_in("failed")]
    assert all(PHONE in note["file"] for note in notes)  # the note keeps what the log may not

    assert len([r for r in caplog.records if "moved to failed/" in r.getMessage()]) == 7
    leaked = [
        _record_text(r)
        for r in caplog.records
        if PHONE in _record_text(r) or PERSON in _record_text(r)
    ]
    assert leaked == []


def _wait(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _watch_process(drop: Path) -> subprocess.Popen[str]:
    environ = {**os.environ, "CALLSCRIBE_WATCH_SETTLE_S": "0", "CALLSCRIBE_WATCH_POLL_S": "0.05"}
    return subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "watch", str(drop)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate(timeout=15)
        return -1, err
    return process.returncode, err


def test_watch_command_with_pipes_as_sidecars_keeps_going_restarts_and_stops_on_sigterm(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    folder = DropFolder.at(tmp_path / "drop")
    (folder.processing / f"{TOKEN}__left-over.wav").write_bytes(_audio("left-over"))
    os.mkfifo(folder.processing / f"{TOKEN}__left-over.json")
    (folder.inbox / "piped.wav").write_bytes(_audio("piped"))
    os.mkfifo(folder.inbox / "piped.json")

    process = _watch_process(folder.root)
    try:
        _wait(lambda: env_audio(folder.failed) == ["left-over.wav", "piped.wav"], 30)
        (folder.inbox / "after.wav").write_bytes(_audio("after"))
        _wait(lambda: any(folder.processing.glob("*__after.wav")))
    finally:
        code, err = _stop(process)
    assert code == 0, err
    assert "Traceback" not in err

    (folder.inbox / "piped-again.wav").write_bytes(_audio("piped-again"))
    os.mkfifo(folder.inbox / "piped-again.json")
    restarted = _watch_process(folder.root)
    try:
        _wait(lambda: "piped-again.wav" in env_audio(folder.failed), 30)
    finally:
        code, err = _stop(restarted)
    assert code == 0, err
    queue = open_queue(connect(redis_url))
    assert len(queue.get_job_ids()) == 1
    queue.connection.close()


def env_audio(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".json"))


def test_enqueue_gives_one_line_per_bad_file_and_exits_1(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    def audio(name: str, sidecar: str | None = None) -> Path:
        path = tmp_path / name
        path.write_bytes(_audio(name))
        if sidecar is not None:
            path.with_suffix(".json").write_text(sidecar)
        return path

    good = audio("good.wav")
    dotted = audio("dotted.wav", '{"call_id": "rec.2024.0001"}')
    bad_id = audio("bad-id.wav", '{"call_id": "rec 2024"}')
    deep = audio("deep.wav", DEEP_LIST)
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    missing = tmp_path / "missing.wav"
    args = [good, dotted, bad_id, deep, pipe, folder, missing]
    result = subprocess.run(
        [sys.executable, "-m", "callscribe.cli", "enqueue", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "callscribe: bad-id.wav: call_id 'rec 2024' must be " + callids.CALL_ID_RULE,
        "callscribe: deep.json: metadata is nested more than 32 levels deep",
        "callscribe: pipe.wav: file is a named pipe, not a regular file",
        "callscribe: folder.wav: file is a directory, not a regular file",
        "callscribe: missing.wav: no such file",
    ]
    sha = hashlib.sha256(_audio("good.wav")).hexdigest()
    assert result.stdout.splitlines() == [sha, "rec.2024.0001"]
    queue = open_queue(connect(redis_url))
    assert sorted(queue.get_job_ids()) == sorted([job_id_for(sha), job_id_for("rec.2024.0001")])
    queue.connection.close()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
_SIDECAR_OBJECTS = st.fixed_dictionaries(
    {}, optional={key: _JSON for key in (*KNOWN_SIDECAR_KEYS, "audio", "path")}
)
_TRICKY = st.sampled_from(
    [
        b'{"x": "\\u0000"}',
        b'{"x": "\\ud800"}',
        b'{"x": NaN}',
        b'{"x": -Infinity}',
        b'{"x": 1e999}',
        b'{"x": ' + b"9" * 5000 + b"}",
        b'{"x": "\\"[[[["}' + b"]" * 40,
        b"\xef\xbb\xbf{}",
        b'{"call_id": "ok\\n"}',
        b'{"audio": "../../../etc/passwd"}',
        b'{"path": "' + b"../" * 20_000 + b'"}',
        b'{"channel_roles": [1, "agent"]}',
        b'{"channel_roles": {"0": [], "1": {}}}',
        b'{"channels": true, "encoding": "ulaw", "sample_rate": 8000}',
        b'{"started_at": 20240101}',
    ]
)


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _splice(parts: tuple[bytes, bytes, int]) -> bytes:
    text, noise, at = parts
    at %= len(text) + 1
    return text[:at] + noise + text[at:]


_SIDECARS = st.one_of(
    _SIDECAR_OBJECTS.map(_dump),
    _JSON.map(_dump),
    st.integers(1, 40_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 15_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(0, 100_000).map(lambda n: b'{"call_id": "' + b"a" * n + b'"}'),
    st.binary(max_size=512),
    st.tuples(_SIDECAR_OBJECTS.map(_dump), st.binary(min_size=1, max_size=8), st.integers()).map(
        _splice
    ),
    _TRICKY,
)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=200,
    database=None,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=_SIDECARS)
def test_generated_sidecars_give_metadata_or_one_clear_error(fuzz_dir: Path, raw: bytes) -> None:
    sidecar = fuzz_dir / "call.json"
    sidecar.write_bytes(raw)
    try:
        metadata = normalize_metadata(read_sidecar(sidecar, root=fuzz_dir), "call.json")
    except MetadataError as err:
        message = str(err)
        assert message.startswith("call.json: ") and "\n" not in message and len(message) < 400
    else:
        json.dumps(metadata, allow_nan=False).encode("utf-8")  # storable in the ledger as is


@settings(
    max_examples=60,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(raw=_SIDECARS)
def test_generated_sidecars_through_the_watcher_always_leave_the_inbox(
    env: Env, raw: bytes
) -> None:
    name = f"fuzz-{hashlib.sha256(raw).hexdigest()[:16]}"
    if (env.folder.failed / f"{name}.wav").exists() or list(
        env.folder.processing.glob(f"*__{name}.wav")
    ):
        return
    (env.folder.inbox / f"{name}.json").write_bytes(raw)
    (env.folder.inbox / f"{name}.wav").write_bytes(_audio(name))
    _within(10, env.watcher().scan_once, env.folder.root)
    assert env.names("inbox") == []
    places = [p for sub in ("processing", "done", "failed") for p in env.audio_in(sub) if name in p]
    assert len(places) == 1
