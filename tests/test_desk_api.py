"""The case desk over real HTTP (uvicorn on loopback), on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.web.openapi import openapi_document
from tests.conftest import CALLS
from tests.desk_support import BACKENDS, LiveDesk, case_body, live_desk


@pytest.fixture(params=BACKENDS)
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveDesk]:
    with live_desk(request.param, tmp_path, request) as running:
        yield running


def _put(desk: LiveDesk, call_id: str, role: str = "worker", **fields: object) -> httpx.Response:
    with desk.client(role) as client:
        return client.put(f"/api/cases/{call_id}", json=case_body(call_id, **fields))


def test_only_health_and_login_answer_without_a_token(desk: LiveDesk) -> None:
    routes = [
        (method.upper(), path)
        for path, operations in openapi_document(desk.app)["paths"].items()
        for method in operations
        if path not in ("/healthz", "/api/auth/login")
    ]
    routes.append(("HEAD", "/api/desk/cases/{call_id}/audio"))
    assert len(routes) >= 10
    with desk.client() as anon:
        assert anon.get("/healthz").json() == {"status": "ok"}
        for method, path in routes:
            answer = anon.request(method, path.replace("{call_id}", "c-1"))
            assert answer.status_code == 401, (method, path, answer.text)
            if method != "HEAD":
                assert answer.json()["detail"]
        wrong = anon.get("/api/cases/c-1", headers={"Authorization": "Bearer cst_not-a-token"})
        assert wrong.status_code == 401
        bad_login = anon.post("/api/auth/login", json={"username": "olga", "password": "guess"})
        assert bad_login.status_code == 401


def test_roles_are_enforced(desk: LiveDesk) -> None:
    assert _put(desk, "c-1").status_code == 201
    assert _put(desk, "c-2", role="settings-worker").status_code == 201
    for role in ("operator", "qa", "recorder"):
        assert _put(desk, "c-3", role=role).status_code == 403, role
    with desk.client("worker") as worker:
        assert worker.get("/api/cases/c-1").status_code == 200
        assert worker.get("/api/desk/cases").status_code == 403
        assert worker.get("/api/desk/cases/c-1").status_code == 403
        assert (
            worker.post("/api/desk/cases/c-1/status", json={"status": "in-review"}).status_code
            == 403
        )
    with desk.client("qa") as qa:
        assert qa.get("/api/desk/cases/c-1").status_code == 200
        assert qa.get("/api/auth/me").json() == {"name": "quinn", "role": "qa", "kind": "user"}
        edit = qa.patch("/api/desk/cases/c-1/fields", json={"fields": {"district": "西城区"}})
        assert edit.status_code == 403
        assert (
            qa.post("/api/desk/cases/c-1/status", json={"status": "in-review"}).status_code == 403
        )
    with desk.client("recorder") as recorder:
        assert recorder.get("/api/desk/cases").status_code == 403
        assert recorder.get("/api/cases/c-1").status_code == 403
    desk.app.state.auth.revoke_token("worker-1")
    assert _put(desk, "c-1").status_code == 401


def test_sign_out_ends_the_session_and_the_cookie_works(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as browser:
        login = browser.post(
            "/api/auth/login", json={"username": "olga", "password": "correct horse battery"}
        )
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        assert browser.get("/api/auth/me").json()["name"] == "olga"
        token = login.json()["token"]
        assert browser.post("/api/auth/logout").status_code == 403, "a cookie alone needs CSRF"
        bearer = {"Authorization": f"Bearer {token}"}
        assert browser.post("/api/auth/logout", headers=bearer).status_code == 204
        browser.cookies.clear()
        gone = browser.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 401


def test_repeated_put_updates_never_duplicates(desk: LiveDesk) -> None:
    first = _put(desk, "c-1")
    again = _put(desk, "c-1")
    changed = _put(desk, "c-1", title="新标题")
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 200)
    assert first.json()["case_id"] == again.json()["case_id"] == changed.json()["case_id"]
    assert changed.json()["fields"]["title"] == "新标题"
    assert set(first.json()) == {
        "case_id", "call_id", "status", "fields", "transcript", "created_at", "updated_at"
    }  # fmt: skip
    with desk.client("worker") as worker:
        assert worker.get("/api/cases/c-1").json() == changed.json()
        assert worker.get("/api/cases/c-404").status_code == 404
    history = _detail(desk, "c-1")["history"]
    assert [(e["action"], e["field"]) for e in history] == [
        ("created", None),
        ("machine-update", "title"),
    ]


def test_concurrent_first_writes_make_one_case(desk: LiveDesk) -> None:
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def write() -> None:
        barrier.wait()
        answers.append(_put(desk, "c-race"))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["case_id"] for a in answers}) == 1
    assert EmbeddedCaseDesk(desk.app.state.engine).count_cases("c-race") == 1


def _detail(desk: LiveDesk, call_id: str) -> dict[str, object]:
    with desk.client("operator") as operator:
        answer = operator.get(f"/api/desk/cases/{call_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def test_review_lifecycle_keeps_an_audit_trail(desk: LiveDesk) -> None:
    assert _put(desk, "c-1").status_code == 201
    with desk.client("operator") as operator:
        detail = operator.get("/api/desk/cases/c-1").json()
        assert detail["status"] == "auto-filled"
        assert detail["revision"] == 1
        assert detail["transcript"]["segments"][1]["speaker"] == "caller"
        assert detail["evidence"]["district"][0]["text"] == "东城区"

        edit = operator.patch(
            "/api/desk/cases/c-1/fields",
            json={"fields": {"district": "西城区", "street": "新街口街道"}, "revision": 1},
        )
        assert edit.status_code == 200, edit.text
        edited = edit.json()
        assert edited["status"] == "in-review"
        assert edited["reviewer"] == "olga"
        assert edited["fields"]["district"] == "西城区"
        assert edited["machine_fields"]["district"] == "东城区"
        assert sorted(edited["edited_fields"]) == ["district", "street"]
        edits = {e["field"]: e for e in edited["history"] if e["action"] == "field-edit"}
        assert edits["district"]["machine_value"] == "东城区"
        assert edits["district"]["new_value"] == "西城区"
        assert edits["district"]["actor"] == "olga"
        assert abs(datetime.fromisoformat(edits["district"]["at"]) - datetime.now(UTC)) < timedelta(
            minutes=1
        )

        stale = operator.patch(
            "/api/desk/cases/c-1/fields", json={"fields": {"title": "x"}, "revision": 1}
        )
        assert stale.status_code == 409
        assert "revision" in stale.json()["detail"]

        overwrite = _put(desk, "c-1", title="机器的新标题")
        assert overwrite.status_code == 409
        assert "in-review" in overwrite.json()["detail"]
        assert _put(desk, "c-1").status_code == 200  # an exact replay of the machine's write

        confirm = operator.post(
            "/api/desk/cases/c-1/status", json={"status": "confirmed", "revision": 2}
        )
        assert confirm.status_code == 200, confirm.text
        assert confirm.json()["status"] == "confirmed"
        assert (
            operator.patch(
                "/api/desk/cases/c-1/fields", json={"fields": {"title": "x"}}
            ).status_code
            == 409
        )
        assert (
            operator.post("/api/desk/cases/c-1/status", json={"status": "rejected"}).status_code
            == 409
        )
        reopened = operator.post(
            "/api/desk/cases/c-1/status", json={"status": "in-review", "note": "QA asked"}
        )
        assert reopened.json()["status"] == "in-review"
        reject = operator.post(
            "/api/desk/cases/c-1/status", json={"status": "rejected", "note": "重复来电"}
        )
        moves = [
            (e["from_status"], e["to_status"])
            for e in reject.json()["history"]
            if e["action"] == "status"
        ]
        assert moves == [
            ("auto-filled", "in-review"),
            ("in-review", "confirmed"),
            ("confirmed", "in-review"),
            ("in-review", "rejected"),
        ]
        assert reject.json()["history"][-1]["note"] == "重复来电"
    with desk.client("worker") as worker:
        stored = worker.get("/api/cases/c-1").json()
        assert stored["status"] == "rejected"
        assert stored["fields"]["district"] == "西城区"


def test_bad_input_gets_a_clear_422(desk: LiveDesk) -> None:
    with desk.client("worker") as worker:
        body = case_body("c-1")
        mismatch = worker.put("/api/cases/c-2", json=body)
        assert mismatch.status_code == 422
        assert "c-2" in mismatch.json()["detail"]
        body["fields"]["title"] = "bad\x00title"
        nul = worker.put("/api/cases/c-1", json=body)
        assert nul.status_code == 422
        assert "NUL" in nul.json()["detail"]
        assert worker.put("/api/cases/..%2Fetc", json=case_body("..%2Fetc")).status_code in (
            404,
            422,
        )
    assert _put(desk, "c-1").status_code == 201
    with desk.client("operator") as operator:
        bad = operator.patch("/api/desk/cases/c-1/fields", json={"fields": {"district": "火星区"}})
        assert bad.status_code == 422
        assert "fields.district" in bad.json()["detail"]
        assert (
            operator.patch(
                "/api/desk/cases/c-1/fields", json={"fields": {"extractor": "me"}}
            ).status_code
            == 422
        )


def test_lists_filter_and_page(desk: LiveDesk) -> None:
    districts = ["东城区", "西城区", "东城区", "海淀区", "东城区"]
    for i, district in enumerate(districts):
        assert _put(
            desk, f"c-{i}", district=district, category="交通管理" if i % 2 else "教育"
        ).is_success
    with desk.client("operator") as operator:
        operator.patch("/api/desk/cases/c-4/fields", json={"fields": {"title": "看过"}})
        everything = operator.get("/api/desk/cases").json()
        assert everything["total"] == 5
        assert [c["call_id"] for c in everything["items"]][0] == "c-4"  # newest first
        east = operator.get("/api/desk/cases", params={"district": "东城区"}).json()
        assert sorted(c["call_id"] for c in east["items"]) == ["c-0", "c-2", "c-4"]
        both = operator.get(
            "/api/desk/cases", params={"district": "东城区", "category": "教育"}
        ).json()
        assert both["total"] == 3
        review = operator.get("/api/desk/cases", params={"status": "in-review"}).json()
        assert [c["call_id"] for c in review["items"]] == ["c-4"]
        several = operator.get(
            "/api/desk/cases", params=[("status", "in-review"), ("status", "auto-filled")]
        ).json()
        assert several["total"] == 5
        page = operator.get("/api/desk/cases", params={"limit": 2, "offset": 2}).json()
        assert (len(page["items"]), page["next_offset"]) == (2, 4)
        last = operator.get("/api/desk/cases", params={"limit": 2, "offset": 4}).json()
        assert (len(last["items"]), last["next_offset"]) == (1, None)
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert operator.get("/api/desk/cases", params={"since": future}).json()["total"] == 0
        assert operator.get("/api/desk/cases", params={"until": future}).json()["total"] == 5
        beijing = (datetime.now(UTC) + timedelta(minutes=5)).astimezone().isoformat()
        assert operator.get("/api/desk/cases", params={"until": beijing}).json()["total"] == 5
        options = operator.get("/api/desk/options").json()
        assert "东城区" in options["districts"] and "in-review" in options["statuses"]


def _register_audio(desk: LiveDesk, call_id: str) -> bytes:
    source = CALLS / "call_stereo8k_mulaw.wav"
    if not source.exists():
        source = next(CALLS.glob("*.wav"))
    stored = desk.settings.data / "audio" / f"{call_id}.wav"
    stored.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, stored)
    desk.app.state.ledger.register(
        call_id, audio_path=str(stored), source_name=source.name, sha256="0" * 64
    )
    return stored.read_bytes()


def test_audio_is_served_with_range_requests(desk: LiveDesk) -> None:
    audio = _register_audio(desk, "c-audio")
    assert _put(desk, "c-audio").status_code == 201
    assert _put(desk, "c-silent").status_code == 201
    detail = _detail(desk, "c-audio")
    assert detail["audio_url"] == "/api/desk/cases/c-audio/audio"
    assert _detail(desk, "c-silent")["audio_url"] is None
    with desk.client("qa") as qa:
        whole = qa.get(detail["audio_url"])
        assert whole.status_code == 200
        assert whole.content == audio
        assert whole.headers["content-type"] == "audio/wav"
        assert whole.headers["accept-ranges"] == "bytes"
        part = qa.get(detail["audio_url"], headers={"Range": "bytes=100-1123"})
        assert part.status_code == 206
        assert part.content == audio[100:1124]
        assert part.headers["content-range"] == f"bytes 100-1123/{len(audio)}"
        tail = qa.get(detail["audio_url"], headers={"Range": "bytes=-500"})
        assert tail.status_code == 206 and tail.content == audio[-500:]
        outside = qa.get(detail["audio_url"], headers={"Range": f"bytes={len(audio) + 10}-"})
        assert outside.status_code == 416
        head = qa.head(detail["audio_url"])
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(audio)
        assert qa.get("/api/desk/cases/c-silent/audio").status_code == 404
        assert qa.get("/api/desk/cases/c-none/audio").status_code == 404
    with desk.client("worker") as worker:
        assert worker.get(detail["audio_url"]).status_code == 403


def test_audio_outside_the_data_directory_is_never_served(desk: LiveDesk, tmp_path: Path) -> None:
    """A ledger row naming a file elsewhere, directly or through a link, gets a 404."""
    outside = tmp_path / "elsewhere.wav"
    shutil.copyfile(CALLS / "call_stereo8k_mulaw.wav", outside)
    link = desk.settings.data / "audio" / "c-link.wav"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    ledger = desk.app.state.ledger
    ledger.register("c-out", audio_path=str(outside), source_name="x.wav", sha256="1" * 64)
    ledger.register("c-link", audio_path=str(link), source_name="x.wav", sha256="2" * 64)
    inside = _register_audio(desk, "c-in")
    for call_id in ("c-out", "c-link", "c-in"):
        assert _put(desk, call_id).status_code == 201
    with desk.client("qa") as qa:
        assert qa.get("/api/desk/cases/c-out/audio").status_code == 404
        assert qa.get("/api/desk/cases/c-link/audio").status_code == 404
        assert qa.get("/api/desk/cases/c-in/audio").content == inside


def test_secrets_are_stored_only_as_hashes_and_sessions_expire(desk: LiveDesk) -> None:
    import sqlalchemy

    from callscribe.desk.accounts import AuthStore

    engine = desk.app.state.engine
    with engine.connect() as conn:
        hashes = conn.execute(sqlalchemy.text("SELECT password_hash FROM users")).scalars().all()
        digests = conn.execute(sqlalchemy.text("SELECT token_hash FROM api_tokens")).scalars().all()
        sessions = (
            conn.execute(sqlalchemy.text("SELECT session_hash FROM sessions")).scalars().all()
        )
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any("correct horse" in h for h in hashes)
    stored = set(digests) | set(sessions)
    assert all(len(d) == 64 for d in stored)
    assert not stored & {desk.tokens["worker"], desk.tokens["operator"], desk.tokens["qa"]}

    brief = AuthStore(engine, session_hours=1e-7)
    signed = brief.sign_in("olga", "correct horse battery")
    assert signed is not None
    assert brief.authenticate(signed.token) is None
    with desk.client() as anon:
        expired = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {signed.token}"})
        assert expired.status_code == 401
