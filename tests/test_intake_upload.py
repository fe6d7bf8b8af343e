"""The upload API over real HTTP: uvicorn on a loopback port, httpx, real Redis and SQLite."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from callscribe.intake.queue import connect, job_id_for, open_queue
from callscribe.ledger import CallStatus
from callscribe.runtime import Runtime, open_runtime
from callscribe.settings import get_settings
from callscribe.web.api.calls import router
from tests.conftest import CALLS
from tests.desk_support import free_port

FORMATS = CALLS / "formats"
LIMIT = 200_000


def _serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def runtime(redis_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("CALLSCRIBE_MAX_UPLOAD_BYTES", str(LIMIT))
    get_settings.cache_clear()
    opened = open_runtime(get_settings())
    yield opened
    opened.engine.dispose()


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    app = FastAPI()
    app.state.settings = runtime.settings
    app.state.ledger = runtime.ledger
    app.include_router(router)
    yield from _serve(app)


def _post(base: str, path: Path, *, name: str | None = None, metadata: object = None):  # type: ignore[no-untyped-def]
    files = {"audio": (name or path.name, path.read_bytes(), "application/octet-stream")}
    data = {"metadata": metadata if isinstance(metadata, str) else json.dumps(metadata)}
    return httpx.post(f"{base}/calls", files=files, data=data if metadata is not None else None)


def test_upload_queues_once_and_reports_status(base_url: str, runtime: Runtime) -> None:
    first = _post(base_url, FORMATS / "turn_pcm16_8k.wav", metadata={"agent_id": "A1"})
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == CallStatus.QUEUED and len(body["call_id"]) == 64
    assert body["status_url"] == f"/calls/{body['call_id']}", "relative: no CALLSCRIBE_PUBLIC_URL"
    queue = open_queue(connect(runtime.settings.redis_url or ""), runtime.settings.queue)
    assert queue.get_job_ids() == [job_id_for(body["call_id"])]

    again = _post(base_url, FORMATS / "turn_pcm16_8k.wav", name="other-name.wav")
    assert again.status_code == 200 and again.json()["call_id"] == body["call_id"]
    assert len(queue.get_job_ids()) == 1

    status = httpx.get(base_url + body["status_url"])
    assert status.status_code == 200
    assert status.json() == {"call_id": body["call_id"], "status": "queued", "error": None}
    runtime.ledger.set_status(body["call_id"], CallStatus.FAILED, error="x.wav: all silence")
    assert httpx.get(base_url + body["status_url"]).json()["error"] == "x.wav: all silence"
    assert httpx.get(f"{base_url}/calls/nope").status_code == 404
    record = runtime.ledger.get(body["call_id"])
    assert record is not None and record.metadata["agent_id"] == "A1"
    assert record.source_name == "turn_pcm16_8k.wav"


def test_content_decides_and_raw_g711_needs_its_rate(base_url: str) -> None:
    mp3_as_wav = _post(base_url, FORMATS / "turn_mp3_8k.mp3", name="looks-like.wav")
    assert mp3_as_wav.status_code == 202
    raw = FORMATS / "turn_g711u_8k.ulaw"
    refused = _post(base_url, raw)
    assert refused.status_code == 415
    assert "not a recognised audio format" in refused.json()["detail"]
    accepted = _post(
        base_url, raw, metadata={"encoding": "ulaw", "sample_rate": 8000, "call_id": "RAW-9"}
    )
    assert accepted.status_code == 202 and accepted.json()["call_id"] == "RAW-9"


@pytest.mark.parametrize(
    ("content", "name", "metadata", "code", "reason"),
    [
        (b"", "empty.wav", None, 400, "empty.wav: file is empty"),
        (b"%PDF-1.7 not audio at all" * 10, "call.wav", None, 415, "not a recognised audio"),
        (None, "../../etc/cron.d/x.wav", None, 400, "file name holds '..'"),
        (None, "bell\x07.wav", None, 400, "control characters"),
        (None, "call.wav", "{bad json", 422, "metadata: bad JSON at line 1 column 2"),
        (None, "call.wav", '{"priority": "now"}', 422, "priority 'now' must be one of"),
        (b"RIFF" + bytes(LIMIT + 10), "big.wav", None, 413, "over the 200000 byte upload limit"),
    ],
)
def test_bad_uploads_are_refused_with_one_line(  # type: ignore[no-untyped-def]
    base_url: str, runtime: Runtime, content, name, metadata, code, reason
) -> None:
    payload = (FORMATS / "turn_pcm16_8k.wav").read_bytes() if content is None else content
    if name.isprintable():
        files = {"audio": (name, payload, "audio/wav")}
        data = {"metadata": metadata} if metadata is not None else None
        response = httpx.post(f"{base_url}/calls", files=files, data=data)
    else:  # httpx percent-escapes control characters; a careless client sends them raw
        body = (
            b'--b\r\nContent-Disposition: form-data; name="audio"; filename="'
            + name.encode()
            + b'"\r\nContent-Type: audio/wav\r\n\r\n'
            + payload
            + b"\r\n--b--\r\n"
        )
        headers = {"Content-Type": "multipart/form-data; boundary=b"}
        response = httpx.post(f"{base_url}/calls", content=body, headers=headers)
    assert response.status_code == code, response.text
    detail = response.json()["detail"]
    assert reason in detail and "\n" not in detail
    assert runtime.ledger.list() == []
    assert not any((runtime.settings.data / "uploads").glob("*/*"))


def test_the_real_app_mounts_the_router_behind_its_auth(runtime: Runtime) -> None:
    from callscribe.web.app import create_app

    app = create_app(runtime.settings)
    for url in _serve(app):
        response = _post(url, FORMATS / "turn_pcm16_8k.wav")
        assert response.status_code == 401
        head = (
            "POST /calls HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
        )
        assert _raw_request(url, head) == "HTTP/1.1 401 Unauthorized"
    assert runtime.ledger.list() == []


def _raw_request(base: str, headers: str) -> str:
    """Send only the request head (no body) and return the status line."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(headers.encode())
        return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


def test_a_declared_two_gigabyte_upload_is_refused_before_its_body_is_read(base_url: str) -> None:
    head = (
        "POST /calls HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {2 * 1024**3}\r\n\r\n"
    )
    assert _raw_request(base_url, head) == "HTTP/1.1 413 Request Entity Too Large"


def test_missing_audio_part_is_a_clear_422(base_url: str) -> None:
    response = httpx.post(f"{base_url}/calls", data={"metadata": "{}"}, files={"x": ("a", b"1")})
    assert response.status_code == 422
    assert response.json()["detail"] == "audio: a file part named 'audio' is required"
