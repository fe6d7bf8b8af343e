"""The desk's published contract and its store: OpenAPI in docs/, schemathesis, migrations, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from callscribe.cli import main
from callscribe.db import Base, make_engine, upgrade_database
from callscribe.schema import CaseFields, Transcript
from callscribe.settings import Settings
from callscribe.web.app import create_app
from callscribe.web.openapi import openapi_text
from callscribe.writeback.contract import CaseSubmission
from tests.conftest import ROOT
from tests.desk_support import BACKENDS, LiveDesk, case_body, free_port, live_desk, store_url

OPENAPI = ROOT / "docs" / "openapi.json"


@pytest.fixture(params=BACKENDS)
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveDesk]:
    with live_desk(request.param, tmp_path, request) as running:
        yield running


def test_published_openapi_is_up_to_date(tmp_path: Path) -> None:
    app = create_app(Settings(data=tmp_path, db_url=f"sqlite:///{tmp_path / 'o.db'}"))
    try:
        current = openapi_text(app)
    finally:
        app.state.engine.dispose()
    assert OPENAPI.read_text(encoding="utf-8") == current, (
        "docs/openapi.json is stale: run `callscribe openapi --output docs/openapi.json`"
    )
    put = __import__("json").loads(current)["paths"]["/api/cases/{call_id}"]["put"]
    assert {"200", "201", "401", "403", "409", "422"} <= set(put["responses"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_exactly_the_models(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with store_url(backend, tmp_path, request) as url:
        engine = make_engine(url)
        try:
            upgrade_database(engine)
            upgrade_database(engine)  # a second run is a no-op
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                drift = compare_metadata(context, Base.metadata)
                version = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version"))
                assert version.scalar_one() == "0003"
        finally:
            engine.dispose()
    assert drift == [], f"models and migrations differ; add a migration: {drift}"


def test_a_skeleton_store_is_stamped_and_keeps_its_cases(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE calls (call_id VARCHAR(128) PRIMARY KEY, status VARCHAR(32) NOT NULL, "
            "error TEXT, audio_path TEXT NOT NULL, source_name VARCHAR(255) NOT NULL, "
            "sha256 VARCHAR(64) NOT NULL, metadata JSON NOT NULL, transcript JSON, fields JSON, "
            "case_ref VARCHAR(128), attempts INTEGER NOT NULL, created_at DATETIME NOT NULL, "
            "updated_at DATETIME NOT NULL)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE cases (case_id VARCHAR(36) PRIMARY KEY, call_id VARCHAR(128) NOT NULL "
            "UNIQUE, status VARCHAR(32) NOT NULL, fields JSON NOT NULL, transcript JSON NOT NULL, "
            "created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO cases VALUES ('k-1', 'c-old', 'auto-filled', '{\"district\": \"东城区\"}',"
            " '{\"segments\": []}', '2026-11-01 08:00:00', '2026-11-01 08:00:00')"
        )
    upgrade_database(engine)
    from callscribe.desk import EmbeddedCaseDesk

    desk = EmbeddedCaseDesk(engine)
    detail = desk.case_detail("c-old")
    engine.dispose()
    assert detail["fields"]["district"] == "东城区"
    assert detail["machine_fields"]["district"] == "东城区"
    assert detail["revision"] == 1
    assert detail["created_at"] == "2026-11-01T08:00:00+00:00"


def test_schemathesis_finds_no_server_error(desk: LiveDesk, tmp_path: Path, redis_url: str) -> None:
    """Fuzz every operation from the published OpenAPI against the live desk, once per role
    that may use it (a token without the role only ever meets 401/403)."""
    _put = httpx.put(
        f"{desk.url}/api/cases/call-0001",
        json=case_body("call-0001"),
        headers={"Authorization": f"Bearer {desk.tokens['worker']}"},
    )
    assert _put.status_code == 201
    runs = [
        ("worker", ["--include-path-regex", "^/api/cases/"]),
        ("operator", ["--exclude-path", "/api/auth/logout"]),
        ("recorder", ["--include-path-regex", "^/calls"]),
    ]
    for role, selection in runs:
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(OPENAPI),
                "--url",
                desk.url,
                "--header",
                f"Authorization: Bearer {desk.tokens[role]}",
                "--checks",
                "not_a_server_error",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "15",
                "--seed",
                "12345",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                *selection,
            ],  # fmt: skip
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"},
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"schemathesis as {role}:\n{output[-6000:]}"
        assert "passed" in output.lower(), output[-2000:]
        print(f"schemathesis as {role}: {time.monotonic() - started:.1f}s")


def test_http_client_writes_to_the_desk(desk: LiveDesk) -> None:
    """The worker's write-back client and the desk agree on the contract."""
    from callscribe.writeback.http_client import HttpCaseSystem

    submission = CaseSubmission(
        call_id="c-client",
        fields=CaseFields.from_dict(case_body("c-client")["fields"]),
        transcript=Transcript.from_dict(case_body("c-client")["transcript"]),
    )
    with HttpCaseSystem(desk.url, desk.tokens["worker"]) as client:
        first = client.upsert_case(submission)
        again = client.upsert_case(submission)
        fetched = client.get_case("c-client")
        assert client.get_case("c-missing") is None
    assert first.case_id == again.case_id
    assert fetched is not None and fetched.fields["district"] == "东城区"
    assert fetched.status == "auto-filled"


def test_cli_users_tokens_and_serve(data_dir: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(
        main, ["users", "add", "olga", "--role", "operator"], input="long password\n" * 2
    )
    assert added.exit_code == 0, added.output
    taken = runner.invoke(main, ["users", "add", "olga", "--role", "qa"], input="pw-pw-pw-pw\n" * 2)
    assert taken.exit_code != 0 and "exists already" in taken.output
    weak = runner.invoke(main, ["users", "add", "bob", "--role", "qa"], input="short\n" * 2)
    assert weak.exit_code != 0 and "at least 8" in weak.output
    made = runner.invoke(main, ["tokens", "add", "worker-a", "--role", "worker"])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    assert token.startswith("cst_") and len(token) > 40
    listed = runner.invoke(main, ["tokens", "list"])
    assert "worker-a\tworker\tactive" in listed.output
    assert token not in listed.output
    assert "olga\toperator\tactive" in runner.invoke(main, ["users", "list"]).output

    port = free_port()
    env = {**os.environ, "CALLSCRIBE_DATA": str(data_dir)}
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
                assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        put = httpx.put(f"{base}/api/cases/c-cli", json=case_body("c-cli"), headers=headers)
        assert put.status_code == 201, put.text
        revoked = runner.invoke(main, ["tokens", "revoke", "worker-a"])
        assert revoked.exit_code == 0
        assert httpx.get(f"{base}/api/cases/c-cli", headers=headers).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=20)
    shown = runner.invoke(main, ["show", "c-cli"])
    assert '"status": "auto-filled"' in shown.output
