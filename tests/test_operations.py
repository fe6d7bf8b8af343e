"""Operations: Prometheus metrics (desk and worker port), /readyz, `callscribe doctor`, JSON logs.

Everything runs on real parts: the store is SQLite (and PostgreSQL for the scrape-time count),
Redis is the tests' own database, HTTP goes over loopback, commands run as subprocesses where
their process-wide set-up (logging, signals) matters.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from callscribe.cli import main
from callscribe.cli._common import JsonLogFormatter
from callscribe.intake.dropfolder import DropFolder
from callscribe.ledger import CallLedger, CallStatus
from callscribe.observability import CALL_STATUSES, observe_stage, serve_metrics
from callscribe.runtime import open_runtime
from callscribe.schema import CaseFields, Transcript
from callscribe.settings import Settings, get_settings
from callscribe.web.app import create_app
from callscribe.web.openapi import openapi_document
from tests.conftest import ROOT
from tests.desk_support import BACKENDS, case_body, free_port, serve, store_url

METRICS_TOKEN = "metrics-token-0123456789abcdef"
NOWHERE = "redis://127.0.0.1:1/0"
"""Port 1 on loopback: refused at once."""


def _sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def _register(ledger: CallLedger, call_id: str, status: str = CallStatus.QUEUED) -> None:
    ledger.register(call_id, audio_path="/nonexistent", source_name="x.wav", sha256="0" * 64)
    if status != CallStatus.QUEUED:
        ledger.set_status(call_id, status, error="test")


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[Callable[..., FastAPI]]:
    """Build desks with given settings on a fresh SQLite store; disposed afterwards."""
    apps: list[FastAPI] = []

    def build(**overrides: Any) -> FastAPI:
        settings = Settings(data=tmp_path / "var", **overrides)
        app = create_app(settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.state.engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_metrics_need_the_token_and_count_calls_from_the_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with store_url(backend, tmp_path, request) as url:
        settings = Settings(data=tmp_path / "var", db_url=url, metrics_token=METRICS_TOKEN)  # type: ignore[arg-type]
        app = create_app(settings)
        try:
            ledger: CallLedger = app.state.ledger
            for n, status in enumerate(["queued", "queued", "failed", "done", "transcribing"]):
                _register(ledger, f"c-{n}", status)
            user_token = app.state.auth.add_token("recorder-1", "recorder")
            with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
                assert client.get("/metrics").status_code == 401
                for wrong in (
                    f"Bearer {METRICS_TOKEN[:-1]}",
                    f"Bearer {METRICS_TOKEN}x",
                    f"Bearer {user_token}",
                    f"Basic {METRICS_TOKEN}",
                    METRICS_TOKEN,
                ):
                    answer = client.get("/metrics", headers={"Authorization": wrong})
                    assert answer.status_code == 401, wrong
                    assert answer.headers["www-authenticate"] == "Bearer"
                auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                before = client.get("/metrics", headers=auth)
                assert before.status_code == 200
                assert before.headers["content-type"].startswith("text/plain")
                text = before.text
                assert _sample(text, "callscribe_store_up") == 1
                assert _sample(text, "callscribe_calls", status="queued") == 2
                assert _sample(text, "callscribe_calls", status="failed") == 1
                assert _sample(text, "callscribe_calls", status="transcribing") == 1
                assert _sample(text, "callscribe_calls", status="writing-back") == 0
                count = "callscribe_stage_seconds_count"
                seen = _sample(text, count, stage="extracting") or 0
                observe_stage("extracting", 0.2)
                observe_stage("not-a-stage", 1.0)
                after = client.get("/metrics", headers=auth).text
                assert _sample(after, count, stage="extracting") == seen + 1
                assert _sample(after, count, stage="not-a-stage") is None
                assert "x.wav" not in after and "c-0" not in after
        finally:
            app.state.engine.dispose()


def test_metrics_do_not_exist_without_a_token_and_stay_out_of_the_contract(
    app_with: Callable[..., FastAPI],
) -> None:
    app = app_with()
    paths = openapi_document(app)["paths"]
    assert "/metrics" not in paths and "/readyz" not in paths
    with serve(app) as base:
        answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 404


def test_a_short_metrics_token_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from callscribe.errors import ConfigurationError

    monkeypatch.setenv("CALLSCRIBE_METRICS_TOKEN", "short")
    with pytest.raises(ConfigurationError, match="CALLSCRIBE_METRICS_TOKEN"):
        get_settings()


def test_readyz_is_ready_when_store_and_redis_answer(
    app_with: Callable[..., FastAPI], redis_url: str
) -> None:
    app = app_with(redis_url=redis_url)
    with serve(app) as base:
        answer = httpx.get(f"{base}/readyz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": {"store": "ok", "redis": "ok"}}


def test_readyz_names_redis_when_redis_url_points_nowhere(
    app_with: Callable[..., FastAPI], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", NOWHERE)
    app = app_with()
    with serve(app) as base:
        answer = httpx.get(f"{base}/readyz", timeout=10)
        alive = httpx.get(f"{base}/healthz", timeout=10)
    assert answer.status_code == 503
    body = answer.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["store"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")
    assert alive.status_code == 200


def test_readyz_answers_in_bounded_time_when_redis_hangs(app_with: Callable[..., FastAPI]) -> None:
    """A Redis that accepts the connection and never answers costs at most the timeout."""
    from callscribe.web.api.ops import CHECK_TIMEOUT_S

    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        port = mute.getsockname()[1]
        app = app_with(redis_url=f"redis://127.0.0.1:{port}/0")
        with serve(app) as base:
            started = time.monotonic()
            answers = [httpx.get(f"{base}/readyz", timeout=30) for _ in range(2)]
            elapsed = time.monotonic() - started
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert [a.status_code for a in answers] == [503, 503]
    assert all(a.json()["failing"] == ["redis"] for a in answers)
    assert elapsed < 2 * CHECK_TIMEOUT_S + 3


# -- the worker's metrics port -------------------------------------------------------------


def test_serve_metrics_exposes_the_process_and_the_store(data_dir: Path) -> None:
    runtime = open_runtime(get_settings())
    _register(runtime.ledger, "c-port-1")
    server = serve_metrics(0, store=runtime.engine)
    try:
        observe_stage("writing-back", 0.05)
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
        runtime.engine.dispose()
    assert _sample(text, "callscribe_calls", status="queued") == 1
    assert (_sample(text, "callscribe_stage_seconds_count", stage="writing-back") or 0) >= 1
    assert _sample(text, "callscribe_store_up") == 1


def test_serve_metrics_reports_a_dead_store_instead_of_failing(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    server = serve_metrics(0, store=engine)
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()
    assert answer.status_code == 200
    assert _sample(answer.text, "callscribe_store_up") == 0


def test_the_worker_command_serves_metrics_on_its_port(redis_url: str, data_dir: Path) -> None:
    port = free_port()
    env = {**os.environ, "CALLSCRIBE_METRICS_PORT": str(port)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the worker's metrics port never answered"
                time.sleep(0.2)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if worker.stderr:
            worker.stderr.close()
    assert answer.status_code == 200
    assert _sample(answer.text, "callscribe_calls", status="queued") == 0
    assert "callscribe_stage_seconds" in answer.text


def test_the_watcher_counts_a_poisoned_file_on_its_metrics_port(
    redis_url: str, data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    drop = tmp_path / "drop"
    (drop / "inbox").mkdir(parents=True)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "watch", str(drop), "--polling"]
        + ["--metrics-port", str(port)],
        cwd=ROOT,
        env={**os.environ, "CALLSCRIBE_WATCH_SETTLE_S": "0.2", "CALLSCRIBE_WATCH_POLL_S": "0.2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        (drop / "inbox" / "poisoned.json").mkdir()
        (drop / "inbox" / "poisoned.wav").write_bytes(b"RIFF")
        deadline = time.monotonic() + 60
        counted = 0.0
        while counted < 1:
            assert watcher.poll() is None, watcher.stderr.read() if watcher.stderr else ""
            assert time.monotonic() < deadline, "the watcher never counted the poisoned file"
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                found = _sample(text, "callscribe_watcher_errors_total", reason="sidecar")
                counted = found or 0.0
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    finally:
        watcher.terminate()
        try:
            watcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
        if watcher.stderr:
            watcher.stderr.close()
    assert (drop / "failed" / "poisoned.wav").exists()


def test_a_taken_metrics_port_is_one_clear_line(redis_url: str, data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["worker", "--burst", "--metrics-port", str(port)])
    assert result.exit_code == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


# -- callscribe doctor ---------------------------------------------------------------------


def _doctor(*args: str) -> tuple[Result, dict[str, str]]:
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["doctor", *args])
    lines: dict[str, str] = {}
    for line in result.stdout.splitlines():
        level, _, rest = line.partition(" ")
        name, _, _detail = rest.partition(": ")
        assert level in ("ok", "warn", "FAIL"), line
        lines[name] = line
    return result, lines


@pytest.fixture
def ready_host(
    redis_url: str, data_dir: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A migrated store, the packaged model joined, the tests' Redis: what a worker needs."""
    from callscribe.transcribe.model import join_packaged_base_model

    join_packaged_base_model(model_cache_dir)
    monkeypatch.setenv("CALLSCRIBE_CACHE", str(model_cache_dir))
    open_runtime(get_settings()).engine.dispose()
    return data_dir


def test_doctor_passes_on_a_ready_host(ready_host: Path, tmp_path: Path) -> None:
    drop = DropFolder.at(tmp_path / "drop").root
    result, lines = _doctor(str(drop))
    assert result.exit_code == 0, result.output
    for name in ("redis", "store", "model", "audio", "data", "drop-folder", "disk-data"):
        assert lines[name].startswith("ok "), lines.get(name)
    assert "(head)" in lines["store"]
    assert "verified" in lines["model"]
    assert "redis-persistence" in lines
    assert not any(p.name.startswith(".callscribe-doctor") for p in drop.rglob("*"))


def test_doctor_fails_on_a_broken_redis_and_an_unwritable_drop_folder(
    ready_host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret-password@127.0.0.1:1/0")
    drop = DropFolder.at(tmp_path / "drop")
    with _unwritable(drop.inbox):
        result, lines = _doctor(str(drop.inbox))
    assert result.exit_code == 1
    assert lines["redis"].startswith("FAIL redis: no answer at redis://127.0.0.1:1/0")
    assert lines["drop-folder"].startswith(f"FAIL drop-folder: {drop.root}: inbox/ is not writable")
    assert lines["store"].startswith("ok ")
    assert "s3cret" not in result.output


def test_doctor_fails_when_a_drop_subfolder_is_on_another_filesystem(
    ready_host: Path, tmp_path: Path
) -> None:
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or elsewhere.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    root = tmp_path / "drop"
    for name in ("inbox", "done", "failed"):
        (root / name).mkdir(parents=True)
    (root / "processing").symlink_to(elsewhere)
    result, lines = _doctor(str(root))
    assert result.exit_code == 1
    assert "processing on another filesystem than inbox" in lines["drop-folder"]


def test_doctor_fails_on_a_damaged_model(
    ready_host: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callscribe.transcribe.model import BASE_MODEL_NAME

    cache = tmp_path / "cache"
    (cache / BASE_MODEL_NAME).mkdir(parents=True)
    (cache / BASE_MODEL_NAME / "model.bin").write_bytes(b"not the published model")
    monkeypatch.setenv("CALLSCRIBE_CACHE", str(cache))
    result, lines = _doctor()
    assert result.exit_code == 1
    assert lines["model"].startswith("FAIL model:")
    assert "does not match" in lines["model"]


def test_doctor_tells_pending_migrations_from_a_newer_store(ready_host: Path) -> None:
    engine = sqlalchemy.create_engine(get_settings().database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = '0002'"))
        result, lines = _doctor()
        assert result.exit_code == 0
        assert lines["store"].startswith("warn store:") and "head is" in lines["store"]
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'ffff99'"))
        result, lines = _doctor()
        assert result.exit_code == 1
        assert "does not know" in lines["store"]
    finally:
        engine.dispose()


# -- structured logs -----------------------------------------------------------------------


def test_the_json_formatter_writes_one_parseable_line_per_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("callscribe.tests.jsonlog")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info("call %s: transcribed %.1fs of audio", "rec.2024.0001", 12.0)
        logger.warning("outbox: %d pending\nsecond line", 3, extra={"call_id": "c-9"})
        logger.info("no call here")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("call %s: failed", "c-3")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    assert records[0]["call_id"] == "rec.2024.0001"
    assert records[0]["message"] == "call rec.2024.0001: transcribed 12.0s of audio"
    assert records[0]["level"] == "INFO"
    assert records[0]["logger"] == "callscribe.tests.jsonlog"
    assert records[0]["time"].endswith("+00:00")
    assert records[1]["call_id"] == "c-9"
    assert "call_id" not in records[2]
    assert records[3]["call_id"] == "c-3" and "ValueError: boom" in records[3]["exception"]


def test_log_format_json_makes_every_stderr_line_json_with_the_call_id(data_dir: Path) -> None:
    runtime = open_runtime(get_settings())
    body = case_body("c-json-1")
    try:
        runtime.ledger.register(
            "c-json-1", audio_path="/nonexistent", source_name="x.wav", sha256="1" * 64
        )
        runtime.ledger.save_transcript("c-json-1", Transcript.from_dict(body["transcript"]))
        runtime.ledger.save_fields("c-json-1", CaseFields.from_dict(body["fields"]))
        runtime.ledger.set_status("c-json-1", CallStatus.WRITING_BACK)
    finally:
        runtime.engine.dispose()
    env = {**os.environ, "CALLSCRIBE_LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-m", "callscribe.cli", "--log-level", "INFO", "outbox", "--drain"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    about_call = [r for r in records if r.get("call_id") == "c-json-1"]
    assert about_call, done.stderr
    assert {"time", "level", "logger", "message"} <= about_call[0].keys()
    assert any("written back" in r["message"] for r in about_call)


def test_the_metrics_status_words_are_the_ledgers() -> None:
    words = {v for k, v in vars(CallStatus).items() if k.isupper() and isinstance(v, str)}
    assert words == set(CALL_STATUSES)


# -- helpers -------------------------------------------------------------------------------


class _unwritable:
    """Make a folder unwritable even for root: mode 0555, and the immutable flag when root."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.immutable = False

    def __enter__(self) -> Path:
        self.folder.chmod(0o555)
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(self.folder)], capture_output=True)
            if done.returncode != 0:
                self.folder.chmod(0o755)
                pytest.skip(f"root cannot make a folder unwritable here: {done.stderr!r}")
            self.immutable = True
        return self.folder

    def __exit__(self, *_exc: object) -> None:
        if self.immutable:
            subprocess.run(["chattr", "-i", str(self.folder)], check=True)
        self.folder.chmod(0o755)
