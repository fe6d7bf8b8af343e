"""No phone number or name reaches a log line, whatever path a call takes through the worker
and the desk. (The watcher's side: tests/test_intake_hostile.py.)

A recording named after the caller, with the caller's number and name in its metadata, goes
through registration, the queue, a real worker with the real model, the case desk's pages and
APIs (queries carrying the number) and a failing call; every record any logger emits (ours, rq,
uvicorn) is read back, message and traceback.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import httpx
import pytest
from rq.serializers import JSONSerializer

from callscribe.errors import PermanentError
from callscribe.intake.queue import connect, enqueue_call, open_queue
from callscribe.intake.register import register_call_file
from callscribe.runtime import open_runtime
from callscribe.settings import get_settings
from callscribe.web.access_log import AccessLog
from callscribe.web.app import create_app
from callscribe.worker.worker import CallWorker
from tests.conftest import SPEECH
from tests.desk_support import PASSWORD, serve

PHONE = "13912345678"
NAME = "张三丰"


def _everything_logged(records: list[logging.LogRecord]) -> str:
    """Every record as a handler would write it, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


@pytest.mark.model
def test_a_call_named_after_its_caller_leaves_no_trace_in_any_log(
    redis_url: str, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = get_settings()
    runtime = open_runtime(settings)
    clip = next(iter(sorted(SPEECH.glob("*.wav"))))
    good = tmp_path / f"{PHONE}_{NAME}.wav"
    shutil.copyfile(clip, good)
    broken = tmp_path / f"{NAME}_{PHONE}_坏.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64)
    metadata = {"caller_number": PHONE, "caller_name": NAME, "note": f"{NAME}先生 {PHONE}"}
    queue = open_queue(connect(redis_url), settings.queue)
    call_ids = []
    for path in (good, broken):
        try:
            record, _ = register_call_file(
                path, ledger=runtime.ledger, data_dir=settings.data, metadata=metadata
            )
        except PermanentError:
            continue
        enqueue_call(queue, record.call_id, retry_intervals_s=[])
        call_ids.append(record.call_id)
    CallWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    statuses = {runtime.ledger.get(c).status for c in call_ids}  # type: ignore[union-attr]
    assert "done" in statuses

    app = create_app(settings.model_copy(update={"desk_secure_cookies": False}))
    app.state.auth.add_user("olga", "operator", PASSWORD)
    with serve(AccessLog(app)) as base, httpx.Client(base_url=base) as client:  # type: ignore[arg-type]
        client.post("/api/auth/login", json={"username": f"{NAME}{PHONE}", "password": "x"})
        token = client.post(
            "/api/auth/login", json={"username": "olga", "password": PASSWORD}
        ).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.get("/api/desk/cases", params={"district": PHONE}).status_code == 200
        client.get("/api/desk/cases", params={"since": f"{PHONE}{NAME}"})
        client.get("/review", params={"category": NAME, "q": PHONE})
        for call_id in call_ids:
            client.get(f"/api/desk/cases/{call_id}", params={"phone": PHONE})
            client.get(f"/calls/{call_id}")
    app.state.engine.dispose()
    runtime.engine.dispose()

    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = _everything_logged(ours)  # the test's own HTTP client logs its URLs: not ours
    assert any(c in logged for c in call_ids), "the logs name calls by their id"
    assert "GET /api/desk/cases 200" in logged, "the access log was captured"
    for secret in (PHONE, NAME, "一三九一二三四五六七八"):
        assert secret not in logged, secret
