"""People sign in through a browser now: CSRF, sign-in throttling, headers and cookies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callscribe.settings import Settings
from callscribe.web.security import CONTENT_SECURITY_POLICY, LoginThrottle, csrf_token_for
from tests.desk_support import PASSWORD, LiveDesk, live_desk


@pytest.fixture
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveDesk]:
    with live_desk("sqlite", tmp_path, request) as running:
        yield running


def _login_form(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    match = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return client.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": match[1], "next": "/"},
    )


def test_every_response_carries_the_security_headers(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as client:
        for path in ("/login", "/healthz", "/api/desk/cases", "/static/app.css"):
            headers = client.get(path).headers
            assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["x-content-type-options"] == "nosniff", path
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY


def test_no_page_template_holds_inline_script_or_handlers() -> None:
    """The CSP would block them, so a page that relied on one would silently break."""
    templates = Path(__file__).resolve().parent.parent / "callscribe" / "web" / "templates"
    for path in templates.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text)
        assert inline == [], path.name
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        assert not re.search(r"\sstyle\s*=", text), path.name


def test_the_session_cookie_is_httponly_strict_and_secure_by_default(tmp_path: Path) -> None:
    assert Settings(data=tmp_path).desk_secure_cookies is True


def test_a_cookie_signed_request_needs_the_csrf_token(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as browser:
        signed = browser.post(
            "/api/auth/login", json={"username": "olga", "password": PASSWORD}
        ).json()
        body = {"fields": {"title": "改了"}}
        refused = browser.patch("/api/desk/cases/nope/fields", json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        wrong = browser.patch(
            "/api/desk/cases/nope/fields", json=body, headers={"X-CSRF-Token": "0" * 64}
        )
        assert wrong.status_code == 403
        right = browser.patch(
            "/api/desk/cases/nope/fields",
            json=body,
            headers={"X-CSRF-Token": csrf_token_for(signed["token"])},
        )
        assert right.status_code == 404, "past the CSRF check, the case is simply unknown"
        assert browser.get("/api/desk/cases").status_code == 200, "reads need no token"


def test_the_sign_in_form_has_its_own_csrf_and_lands_by_role(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as client:
        forged = client.post(
            "/login", data={"username": "olga", "password": PASSWORD, "login_csrf": "x"}
        )
        assert forged.status_code == 403 and "callscribe_session" not in client.cookies
        landed = _login_form(client, "olga", PASSWORD)
        assert landed.status_code == 303 and landed.headers["location"] == "/review"
        cookie = landed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
    with httpx.Client(base_url=desk.url) as client:
        assert _login_form(client, "quinn", PASSWORD).headers["location"] == "/audit"


def test_a_page_without_a_session_sends_you_to_sign_in(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as client:
        answer = client.get("/review?status=in-review")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/review%3Fstatus%3Din-review"
        offsite = client.get("/login?next=//evil.example/x")
        assert 'name="next" value="/"' in offsite.text


def test_five_failures_lock_the_user_out_with_retry_after(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as client:
        for _ in range(5):
            wrong = client.post("/api/auth/login", json={"username": "olga", "password": "no"})
            assert wrong.status_code == 401
        locked = client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
        assert locked.status_code == 429
        assert 0 < int(locked.headers["retry-after"]) <= 900
        page = _login_form(client, "olga", PASSWORD)
        assert page.status_code == 429 and "retry-after" in page.headers
        other = client.post("/api/auth/login", json={"username": "quinn", "password": PASSWORD})
        assert other.status_code == 429, "the address is locked out too"


def test_the_throttle_counts_per_user_and_per_address_and_forgets() -> None:
    now = [1000.0]
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=lambda: now[0])
    olga = throttle.keys("Olga", "10.0.0.1")
    for _ in range(3):
        assert throttle.retry_after(olga) == 0
        throttle.failed(olga)
        now[0] += 1
    assert throttle.retry_after(olga) == 57
    assert throttle.retry_after(throttle.keys("olga", "10.0.0.9")) == 57, "same user, new address"
    assert throttle.retry_after(throttle.keys("quinn", "10.0.0.1")) == 57, "same address"
    assert throttle.retry_after(throttle.keys("quinn", "10.0.0.2")) == 0
    now[0] += 57
    assert throttle.retry_after(olga) == 0


def test_page_errors_are_pages_and_api_errors_stay_json(desk: LiveDesk) -> None:
    with httpx.Client(base_url=desk.url) as client:
        _login_form(client, "olga", PASSWORD)
        page = client.get("/review/no-such-call")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "no-such-call" in page.text and "<h1>404</h1>" in page.text
        api = client.get("/api/desk/cases/no-such-call")
        assert api.status_code == 404 and api.json()["detail"]
