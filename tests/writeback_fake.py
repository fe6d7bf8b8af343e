"""A fake EXTERNAL case system: a real HTTP server on a loopback port speaking our contract.

It keeps cases by call id like a real one (PUT creates or updates, GET reads, 409 for cases an
operator confirmed), checks the bearer token, and misbehaves on demand: each request first takes
the next step of :attr:`FakeCaseSystem.plan` (a 500, a 503, a 429 with Retry-After, a 400, a
dropped connection, or a "slow" answer that applies the PUT and then answers too late), and
answers normally once the plan is used up.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

TOKEN = "fake-worker-token"


@dataclass
class Step:
    """What the fake does with one request: ``ok``, ``slow``, ``drop`` or an HTTP status."""

    kind: str
    retry_after: str | None = None
    detail: str = ""


@dataclass
class Seen:
    method: str
    call_id: str | None
    answered: int | None
    at: float


@dataclass
class FakeCaseSystem:
    token: str = TOKEN
    slow_s: float = 1.0
    """How late a ``slow`` step answers (longer than the client's timeout)."""
    hold_s: float = 0.0
    """Pause after applying every PUT, before answering."""
    block_after_puts: int | None = None
    """Once this many PUTs are applied, hold every answer until :attr:`unblock` is set (to kill
    a client between the server applying its PUT and the client hearing of it)."""
    unblock: threading.Event = field(default_factory=threading.Event)
    plan: deque[Step] = field(default_factory=deque)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    creations: Counter[str] = field(default_factory=Counter)
    confirmed: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    applied: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeCaseSystem:
        fake = self

        class Handler(_Handler):
            system = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def puts(self, call_id: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == "PUT" and call_id in (None, s.call_id)]

    def next_step(self) -> Step:
        with self.lock:
            return self.plan.popleft() if self.plan else Step("ok")

    def upsert(self, call_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            now = datetime.now(UTC).isoformat()
            case = self.cases.get(call_id)
            created = case is None
            if case is None:
                case = {"case_id": str(uuid.uuid4()), "call_id": call_id, "created_at": now}
                self.cases[call_id] = case
                self.creations[call_id] += 1
            case.update(
                status=body["status"],
                fields=body["fields"],
                transcript=body["transcript"],
                metadata=body.get("metadata", {}),
                updated_at=now,
            )
            stored = {k: case[k] for k in _STORED_KEYS}
        self.applied.release()
        return (201 if created else 200), stored


_STORED_KEYS = ("case_id", "call_id", "status", "fields", "transcript", "created_at", "updated_at")


class _Handler(BaseHTTPRequestHandler):
    system: FakeCaseSystem

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
            return
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        call_id = self._call_id()
        seen = Seen(method, call_id, None, time.monotonic())
        with self.system.lock:
            self.system.seen.append(seen)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        step = self.system.next_step()
        if step.kind == "drop":
            self.close_connection = True
            return
        if step.kind not in ("ok", "slow"):
            headers = {"Retry-After": step.retry_after} if step.retry_after else {}
            seen.answered = int(step.kind)
            self._answer(int(step.kind), {"detail": step.detail or "planned failure"}, headers)
            return
        if self.headers.get("Authorization") != f"Bearer {self.system.token}":
            seen.answered = 401
            self._answer(401, {"detail": "invalid or missing bearer token"})
            return
        if call_id is None:
            self._answer(404, {"detail": "not found"})
            return
        status, body = self._apply(method, call_id, raw)
        seen.answered = status
        if step.kind == "slow":
            time.sleep(self.system.slow_s)
        elif method == "PUT" and self.system.hold_s:
            time.sleep(self.system.hold_s)
        if method == "PUT" and self.system.block_after_puts is not None:
            with self.system.lock:
                applied = sum(self.system.creations.values())
            if applied >= self.system.block_after_puts:
                self.system.unblock.wait(timeout=30)
        try:
            self._answer(status, body)
        except OSError:
            pass

    def _apply(self, method: str, call_id: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if method == "GET":
            with self.system.lock:
                case = self.system.cases.get(call_id)
            if case is None:
                return 404, {"detail": f"no case for call {call_id}"}
            return 200, {k: case[k] for k in _STORED_KEYS}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"detail": "body is not JSON"}
        missing = [k for k in ("call_id", "status", "fields", "transcript") if k not in body]
        if missing or body["call_id"] != call_id:
            return 422, {"detail": f"bad case body (missing {missing})"}
        if call_id in self.system.confirmed:
            return 409, {"detail": f"case of call {call_id} is confirmed by an operator"}
        return self.system.upsert(call_id, body)

    def _call_id(self) -> str | None:
        prefix = "/api/cases/"
        if not self.path.startswith(prefix):
            return None
        return unquote(self.path[len(prefix) :])

    def _answer(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
