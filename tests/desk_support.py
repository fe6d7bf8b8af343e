"""Helpers for the case desk tests: a real uvicorn on a loopback port over SQLite or PostgreSQL.

Each PostgreSQL test gets a schema of its own (dropped afterwards), so tests never collide.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
import uvicorn
from fastapi import FastAPI

from callscribe.settings import Settings
from callscribe.web.app import create_app

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Parametrise a fixture with these to run a test on both stores."""

WORKER_TOKEN = "worker-token-from-settings-0123456789"
PASSWORD = "correct horse battery"


@dataclass
class LiveDesk:
    """A running desk: its URL, app, and a signed-in client per role."""

    url: str
    app: FastAPI
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'callscribe.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"desk_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread on a free loopback port; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="desk-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def live_desk(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveDesk]:
    """A desk with an operator, a QA auditor, a worker token and a recorder token."""
    with store_url(backend, tmp_path, request) as url:
        settings = Settings(
            data=tmp_path / "var",
            db_url=url,
            desk_worker_token=WORKER_TOKEN,
            desk_secure_cookies=False,  # plain HTTP on loopback; httpx sends Secure ones on https
        )
        app = create_app(settings)
        auth = app.state.auth
        auth.add_user("olga", "operator", PASSWORD)
        auth.add_user("quinn", "qa", PASSWORD)
        tokens = {
            "worker": auth.add_token("worker-1", "worker"),
            "recorder": auth.add_token("recorder-1", "recorder"),
            "settings-worker": WORKER_TOKEN,
        }
        try:
            with serve(app) as base:
                desk = LiveDesk(base, app, settings, tokens)
                with httpx.Client(base_url=base) as anon:
                    for name in ("olga", "quinn"):
                        answer = anon.post(
                            "/api/auth/login", json={"username": name, "password": PASSWORD}
                        )
                        answer.raise_for_status()
                        role = answer.json()["user"]["role"]
                        desk.tokens[role] = answer.json()["token"]
                yield desk
        finally:
            app.state.engine.dispose()


def case_body(call_id: str, **fields: Any) -> dict[str, Any]:
    """A write-back body as the worker sends it (CaseFields / Transcript ``to_dict`` shapes)."""
    from callscribe.schema import CaseFields, Evidence, Segment, Transcript

    case_fields = CaseFields(
        callback_phone="13912345678",
        district="东城区",
        appeal_type="投诉",
        category="城乡建设",
        title="胡同口车辆堵路",
        summary="来电人反映：东城区某胡同口长期有车辆停放堵路。诉求：尽快处理。",
        evidence={"district": [Evidence(segment=1, start=2.0, end=4.5, text="东城区")]},
        confidence={"district": 0.9},
    )
    for name, value in fields.items():
        setattr(case_fields, name, value)
    transcript = Transcript(
        duration=6.0,
        segments=[
            Segment(0.0, 2.0, "您好，北京12345。", speaker="agent", confidence=0.9),
            Segment(2.0, 6.0, "我在东城区，胡同口老有车堵着。", speaker="caller", confidence=0.8),
        ],
        engine="faster-whisper",
        model="base",
    )
    return {
        "call_id": call_id,
        "status": "auto-filled",
        "fields": case_fields.to_dict(),
        "transcript": transcript.to_dict(),
        "metadata": {"agent_id": "a-7"},
    }


def free_port() -> int:
    """A loopback port nothing listens on right now (for a server started in a subprocess)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
