"""The desk tried as a hostile client would: huge and endless uploads, deep metadata, junk in
the write-back contract, a login flood, forged Host headers, personal data in query strings.

Real uvicorn on loopback, real Redis (the test's own database) and SQLite throughout.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from callscribe.callids import job_id_for
from callscribe.intake.queue import connect, open_queue
from callscribe.settings import Settings
from callscribe.web.app import create_app
from tests.conftest import CALLS
from tests.desk_support import PASSWORD, WORKER_TOKEN, LiveDesk, case_body, free_port, serve

WAV = CALLS / "formats" / "turn_pcm16_8k.wav"
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}
MB = 1024 * 1024


@contextmanager
def running_desk(tmp_path: Path, redis_url: str, **overrides: Any) -> Iterator[LiveDesk]:
    """The real app on loopback with an operator, a recorder token and the settings' worker."""
    data = tmp_path / "var"
    settings = Settings(
        data=data,
        db_url=f"sqlite:///{data / 'callscribe.db'}",
        redis_url=redis_url,
        desk_worker_token=WORKER_TOKEN,
        desk_secure_cookies=False,
        **overrides,
    )
    app = create_app(settings)
    app.state.auth.add_user("olga", "operator", PASSWORD)
    tokens = {
        "recorder": app.state.auth.add_token("recorder-1", "recorder"),
        "worker": WORKER_TOKEN,
    }
    try:
        with serve(app) as base:
            signed = httpx.post(
                f"{base}/api/auth/login", json={"username": "olga", "password": PASSWORD}
            )
            tokens["operator"] = signed.json()["token"]
            yield LiveDesk(base, app, settings, tokens)
    finally:
        app.state.engine.dispose()


def _leftovers(data: Path) -> list[Path]:
    """Files an upload may leave behind: its spool and any stored audio (a folder removed
    while it is walked is skipped, as ``os.walk`` does)."""
    return [
        Path(root, name)
        for folder in ("uploads", "audio")
        for root, dirs, files in os.walk(data / folder)
        for name in dirs + files
    ]


# --- uploads -----------------------------------------------------------------------------------


def test_an_endless_chunked_upload_is_cut_off_at_the_limit_and_leaves_nothing(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """80 MB sent chunked (no Content-Length) against a 1 MB limit: refused while it streams,
    never spooled to TMPDIR, nothing left in the data directory."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    temporary_files: list[object] = []
    real_temporary_file = tempfile.TemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        temporary_files.append(args)
        return real_temporary_file(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)  # where SpooledTemporaryFile rolls over
    sent = [0]

    def body() -> Iterator[bytes]:
        yield (
            b'--b\r\nContent-Disposition: form-data; name="audio"; filename="big.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\nRIFF"
        )
        chunk = bytes(64 * 1024)
        for _ in range(80 * 16):
            sent[0] += len(chunk)
            yield chunk
        yield b"\r\n--b--\r\n"

    with running_desk(tmp_path, redis_url, max_upload_bytes=MB) as desk:
        started = time.monotonic()
        with desk.client("recorder") as recorder:
            answer = recorder.post("/calls", content=body(), headers=MULTIPART)
        elapsed = time.monotonic() - started
        assert answer.status_code == 413, answer.text
        detail = answer.json()["detail"]
        assert "over the 1048576 byte upload limit" in detail and "\n" not in detail
        assert sent[0] < 40 * MB, f"the server read on to {sent[0]} bytes"
        assert elapsed < 15
        assert temporary_files == [] and list(tmpdir.iterdir()) == []
        assert _leftovers(desk.settings.data) == []
        assert desk.app.state.ledger.list() == []


def test_a_client_that_goes_away_mid_upload_leaves_nothing(tmp_path: Path, redis_url: str) -> None:
    with running_desk(tmp_path, redis_url, max_upload_bytes=MB) as desk:
        host, port = desk.url.removeprefix("http://").split(":")
        part = (
            b'--b\r\nContent-Disposition: form-data; name="audio"; filename="cut.wav"\r\n\r\n'
            + WAV.read_bytes()[:300_000]
        )
        head = (
            "POST /calls HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {desk.tokens['recorder']}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 900000\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(head.encode() + part)
            deadline = time.monotonic() + 5
            while not list((desk.settings.data / "uploads").glob("*/cut.wav")):
                assert time.monotonic() < deadline, "the upload was never spooled in the data dir"
                time.sleep(0.02)
        deadline = time.monotonic() + 10
        while _leftovers(desk.settings.data):
            assert time.monotonic() < deadline, _leftovers(desk.settings.data)
            time.sleep(0.05)
        assert desk.app.state.ledger.list() == []


def _part(name: str, content: bytes, filename: str | None = "call.wav", extra: str = "") -> bytes:
    shown = f'; filename="{filename}"' if filename is not None else ""
    return (
        f'--b\r\nContent-Disposition: form-data; name="{name}"{shown}\r\n{extra}\r\n'.encode()
        + content
        + b"\r\n"
    )


def test_malformed_multipart_is_refused_in_one_line_never_a_500(
    tmp_path: Path, redis_url: str
) -> None:
    audio = _part("audio", WAV.read_bytes())
    cases: list[tuple[str, bytes, int]] = [
        ("multipart/form-data; boundary=" + "b" * 200, audio + b"--b--\r\n", 400),
        ("multipart/form-data", audio + b"--b--\r\n", 422),
        ("application/json", b'{"audio": "x"}', 422),
        ("multipart/form-data; boundary=b", audio, 400),
        ("multipart/form-data; boundary=b", b"garbage" * 1000, 400),
        ("multipart/form-data; boundary=b", audio + b"--b--\r\n" + b"x" * 100, 202),
        ("multipart/form-data; boundary=b", _part("audio", b"x", extra="X: y\r\n" * 9), 400),
        ("multipart/form-data; boundary=b", _part("audio", b"RIFF", None) + b"--b--\r\n", 422),
        ("multipart/form-data; boundary=b", audio + audio + b"--b--\r\n", 422),
        ("multipart/form-data; boundary=b", _part("x", b"1") * 5 + audio + b"--b--\r\n", 422),
        (
            "multipart/form-data; boundary=b",
            _part("metadata", b"{}", None) * 2 + audio + b"--b--\r\n",
            422,
        ),
    ]
    with running_desk(tmp_path, redis_url) as desk, desk.client("recorder") as recorder:
        for content_type, body, code in cases:
            answer = recorder.post("/calls", content=body, headers={"Content-Type": content_type})
            assert answer.status_code == code, (content_type[:40], body[:80], answer.text)
            assert "\n" not in answer.text
        assert len(desk.app.state.ledger.list()) == 1
        assert not list((desk.settings.data / "uploads").iterdir())


BAD_METADATA = [
    ('{"a":' * 5000 + "1" + "}" * 5000, "metadata"),
    ("[" * 5000 + "]" * 5000, "metadata"),
    (json.dumps({"note": "x" * 70_000}), "65536"),
    (json.dumps({"call_id": "../../etc/passwd"}), "call_id"),
    (json.dumps({"call_id": "rec-1\n"}), "call_id"),
    (json.dumps({"call_id": "x" * 129}), "call_id"),
    (json.dumps({"call_id": ["a"]}), "call_id"),
]


def test_unusable_upload_metadata_is_a_one_line_422(tmp_path: Path, redis_url: str) -> None:
    """Nested 5,000 deep (a 500 before), too large, or a call_id off the pattern."""
    with running_desk(tmp_path, redis_url) as desk, desk.client("recorder") as recorder:
        for metadata, reason in BAD_METADATA:
            files = {"audio": ("call.wav", WAV.read_bytes(), "audio/wav")}
            answer = recorder.post("/calls", files=files, data={"metadata": metadata})
            assert answer.status_code == 422, (metadata[:40], answer.text)
            detail = answer.json()["detail"]
            assert reason in detail and "\n" not in detail and len(detail) < 300, detail
        assert desk.app.state.ledger.list() == []
        assert _leftovers(desk.settings.data) == []


def test_a_dotted_call_id_is_queued_under_a_job_id_rq_accepts(
    tmp_path: Path, redis_url: str
) -> None:
    with running_desk(tmp_path, redis_url) as desk, desk.client("recorder") as recorder:
        files = {"audio": ("call.wav", WAV.read_bytes(), "audio/wav")}
        metadata = json.dumps({"call_id": "rec.2024.0001"})
        answer = recorder.post("/calls", files=files, data={"metadata": metadata})
        assert answer.status_code == 202, answer.text
        assert answer.json()["call_id"] == "rec.2024.0001"
        queue = open_queue(connect(redis_url), desk.settings.queue)
        assert queue.get_job_ids() == [job_id_for("rec.2024.0001")]


def test_status_url_never_comes_from_the_host_header(tmp_path: Path, redis_url: str) -> None:
    forged = {"Host": "evil.example"}
    files = {"audio": ("call.wav", WAV.read_bytes(), "audio/wav")}
    with running_desk(tmp_path / "a", redis_url) as desk, desk.client("recorder") as recorder:
        answer = recorder.post("/calls", files=files, headers=forged)
        assert answer.status_code == 202, answer.text
        call_id = answer.json()["call_id"]
        assert answer.json()["status_url"] == f"/calls/{call_id}"
        assert recorder.get(answer.json()["status_url"]).json()["status"] == "queued"
    public = "https://desk.example.org/hotline/"
    with (
        running_desk(tmp_path / "b", redis_url, public_url=public) as desk,
        desk.client("recorder") as recorder,
    ):
        answer = recorder.post("/calls", files=files, headers=forged)
        assert answer.json()["status_url"] == f"{public}calls/{call_id}"


def test_the_public_url_is_checked_at_start_up(tmp_path: Path) -> None:
    for bad in ("desk.example.org", "ftp://desk.example.org/", "https://x.org/?next=evil"):
        with pytest.raises(ValueError, match="public_url"):
            Settings(data=tmp_path, public_url=bad)


# --- the write-back contract -------------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _segment(text: str = "您好。") -> dict[str, Any]:
    return {"start": 0.0, "end": 1.0, "text": text, "speaker": "agent", "confidence": 0.9}


def _evidence() -> dict[str, Any]:
    return {"segment": 1, "start": 2.0, "end": 4.5, "text": "东城区"}


JUNK: list[tuple[str, str, Any, str]] = [
    ("fields", "district", "<script>alert(1)</script>", "fields.district"),
    ("fields", "category", "火星事务", "fields.category"),
    ("fields", "appeal_type", "x", "fields.appeal_type"),
    ("fields", "urgency", "very", "fields.urgency"),
    ("fields", "street", "街" * 65, "fields.street"),
    ("fields", "title", "x" * 101, "fields.title"),
    ("fields", "summary", "诉" * 2001, "fields.summary"),
    ("fields", "evidence", {"district": [_evidence()] * 51}, "fields.evidence"),
    ("fields", "confirmed", ["x" * 65], "fields.confirmed"),
    ("fields", "added_later", "x" * 20_000, "fields"),
    ("transcript", "segments", [_segment()] * 5001, "transcript.segments"),
    ("transcript", "segments", [_segment("x" * 2001)], "transcript.segments.0.text"),
    ("transcript", "text", "字" * 500_001, "transcript.text"),
    ("transcript", "language", "zh" * 20, "transcript.language"),
    ("", "metadata", _nested(40), "metadata"),
    ("", "metadata", {"note": "x" * 140_000}, "metadata"),
    ("", "metadata", _nested(500), "body: JSON nested more than"),
]


def test_the_write_back_contract_refuses_junk_naming_the_field(
    tmp_path: Path, redis_url: str
) -> None:
    with running_desk(tmp_path, redis_url) as desk, desk.client("worker") as worker:
        for place, key, value, named in JUNK:
            body = case_body("c-1")
            (body[place] if place else body)[key] = value
            answer = worker.put("/api/cases/c-1", json=body)
            assert answer.status_code == 422, (key, answer.text[:300])
            detail = answer.json()["detail"]
            assert named in detail and "\n" not in detail, (key, detail[:300])
        assert worker.get("/api/cases/c-1").status_code == 404, "nothing was stored"
        assert worker.put("/api/cases/c-1", json=case_body("c-1")).status_code == 201


def test_a_huge_write_back_is_refused_while_it_streams(tmp_path: Path, redis_url: str) -> None:
    """A 30 MB summary: refused from its Content-Length, and without one after 8 MiB read."""
    body = case_body("c-1")
    body["fields"]["summary"] = "诉" * (10 * MB)
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert len(raw) > 30 * MB
    sent = [0]

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            sent[0] += 64 * 1024
            yield raw[start : start + 64 * 1024]

    headers = {"Content-Type": "application/json"}
    with running_desk(tmp_path, redis_url) as desk, desk.client("worker") as worker:
        declared = worker.put("/api/cases/c-1", content=raw, headers=headers)
        assert declared.status_code == 413, declared.text[:300]
        assert declared.json()["detail"] == "body: over the 8388608 byte limit"
        streamed = worker.put("/api/cases/c-1", content=chunked(), headers=headers)
        assert streamed.status_code == 413, streamed.text[:300]
        assert sent[0] < 24 * MB, f"the server read on to {sent[0]} bytes"
        assert worker.get("/api/cases/c-1").status_code == 404
        with desk.client("operator") as operator:
            assert operator.get("/api/desk/cases").json()["total"] == 0


# --- the access log ----------------------------------------------------------------------------


def test_callscribe_serve_logs_requests_without_their_query_string(
    data_dir: Path, redis_url: str
) -> None:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "CALLSCRIBE_LOG_LEVEL": "INFO"}
    server = subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/healthz?caller=13912345678&name=张三").status_code == 200
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert httpx.get(f"{base}/api/desk/cases?q=13987654321").status_code == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    text = output.decode(errors="replace")
    assert "13912345678" not in text and "13987654321" not in text and "张三" not in text, text
    assert "%E5" not in text and "?caller" not in text and "?q=" not in text, text
    lines = [line for line in text.splitlines() if "callscribe.web.access_log" in line]
    assert any(line.endswith(" ms") and "GET /healthz 200 " in line for line in lines), text
    assert any("GET /api/desk/cases 401 " in line for line in lines), text


# --- a sign-in flood ---------------------------------------------------------------------------


def _flood_and_watch_health(base: str, attempts: int) -> tuple[list[httpx.Response], float]:
    """``attempts`` concurrent wrong-password sign-ins, each for another user name, from one
    address; meanwhile ``/healthz`` is asked every 50 ms. Returns the answers and the slowest
    health check in seconds."""
    answers: list[httpx.Response] = []

    async def flood() -> None:
        limits = httpx.Limits(max_connections=attempts + 5)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
            answers.extend(
                await asyncio.gather(
                    *(
                        client.post(
                            "/api/auth/login",
                            json={"username": f"guess-{n}", "password": "not the password"},
                        )
                        for n in range(attempts)
                    )
                )
            )

    flooding = threading.Thread(target=asyncio.run, args=(flood(),))
    slowest = 0.0
    with httpx.Client(base_url=base, timeout=60) as health:
        health.get("/healthz").raise_for_status()
        flooding.start()
        while flooding.is_alive() or not slowest:
            started = time.monotonic()
            assert health.get("/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.05)
        flooding.join()
    assert len(answers) == attempts
    return answers, slowest


@pytest.fixture
def checks_at_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts argon2 verifications running at once; returns [most seen]."""
    from callscribe.desk import accounts

    real_verify = accounts._verify
    running = [0]
    most = [0]
    lock = threading.Lock()

    def counting(password_hash: str, password: str) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return real_verify(password_hash, password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(accounts, "_verify", counting)
    return most


def test_a_sign_in_flood_is_throttled_and_health_stays_fast(
    tmp_path: Path, redis_url: str, checks_at_once: list[int]
) -> None:
    with running_desk(tmp_path, redis_url) as desk:
        answers, slowest = _flood_and_watch_health(desk.url, 80)
        codes = [a.status_code for a in answers]
        assert set(codes) <= {401, 429, 503}, codes
        assert codes.count(401) <= 5 + 2, "only the first failures' passwords were checked"
        assert codes.count(429) + codes.count(503) >= 70, codes
        assert slowest < 2.0, f"/healthz took {slowest:.2f} s during the flood"
        assert checks_at_once[0] <= 2
        locked = httpx.post(
            f"{desk.url}/api/auth/login", json={"username": "olga", "password": PASSWORD}
        )
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


def test_password_checks_are_bounded_even_without_the_throttle(
    tmp_path: Path, redis_url: str, checks_at_once: list[int]
) -> None:
    with running_desk(
        tmp_path, redis_url, desk_login_max_failures=1000, desk_login_queue=4
    ) as desk:
        answers, slowest = _flood_and_watch_health(desk.url, 80)
        codes = [a.status_code for a in answers]
        assert set(codes) <= {401, 503}, codes
        busy = [a for a in answers if a.status_code == 503]
        assert len(busy) >= 40, codes
        assert all(a.headers["retry-after"] == "1" for a in busy)
        assert "\n" not in busy[0].json()["detail"]
        assert checks_at_once[0] <= 2, f"{checks_at_once[0]} password checks ran at once"
        assert slowest < 2.0, f"/healthz took {slowest:.2f} s during the flood"
        signed = httpx.post(
            f"{desk.url}/api/auth/login", json={"username": "olga", "password": PASSWORD}
        )
        assert signed.status_code == 200, signed.text
