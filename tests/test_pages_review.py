"""The operator review pages over HTTP (no browser): sign-in, roles, CSRF, conflicts, escaping,
bounded input. The browser flows are in test_browser_review.py."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from callscribe.desk.presenters import EDITABLE_FIELDS
from tests.pages_support import (
    DEMO_CALL_ID,
    PASSWORD,
    PagesDesk,
    SeededStore,
    demo_case,
    fresh_desk,
)

pytestmark = pytest.mark.model

CASE = f"/review/{DEMO_CALL_ID}"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture
def desk(seeded_pages_store: SeededStore, tmp_path: Path) -> Iterator[PagesDesk]:
    with fresh_desk(seeded_pages_store, tmp_path) as served:
        yield served


@contextmanager
def signed_in(desk: PagesDesk, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=desk.url, follow_redirects=False) as client:
        response = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        yield client


def hidden(page: str, name: str, form: str = "review-form") -> str:
    """A hidden input's value inside the form with id ``form``."""
    body = page.split(f'id="{form}"', 1)[1].split("</form>", 1)[0]
    match = re.search(rf'name="{name}" value="([^"]*)"', body)
    assert match, f"no hidden {name} in #{form}"
    return html.unescape(match.group(1))


def stored(desk: PagesDesk, call_id: str = DEMO_CALL_ID) -> dict[str, Any]:
    detail: dict[str, Any] = desk.app.state.desk.case_detail(call_id)
    return detail


def field_value(page: str, name: str) -> str:
    """What the form's control for ``name`` holds (input value, textarea text, selected option)."""
    start = page.index(f'id="f-{name}"')
    tag_start = page.rindex("<", 0, start)
    tag = page[tag_start : page.index(">", start) + 1]
    if tag.startswith("<input"):
        match = re.search(r' value="([^"]*)"', tag)
        return html.unescape(match.group(1)) if match else ""
    end_tag = "</textarea>" if tag.startswith("<textarea") else "</select>"
    body = page[tag_start + len(tag) : page.index(end_tag, start)]
    if tag.startswith("<textarea"):
        return html.unescape(body)
    selected = re.search(r"<option(?: value=\"([^\"]*)\")? selected>([^<]*)</option>", body)
    if not selected:
        return ""
    return html.unescape(selected.group(1) if selected.group(1) is not None else selected.group(2))


def test_pages_without_a_session_redirect_to_sign_in(desk: PagesDesk) -> None:
    with httpx.Client(base_url=desk.url) as anonymous:
        queue = anonymous.get("/review")
        assert queue.status_code == 303
        assert queue.headers["location"] == "/login?next=/review"
        case = anonymous.get(CASE)
        assert case.status_code == 303
        assert case.headers["location"] == f"/login?next={CASE}"
    assert stored(desk)["status"] == "auto-filled", "a redirected visit must not take the case"


@pytest.mark.parametrize("name", ["quinn", "rita"])
def test_qa_roles_get_a_403_page_and_take_nothing(desk: PagesDesk, name: str) -> None:
    with signed_in(desk, name) as client:
        for path in ("/review", CASE):
            response = client.get(path)
            assert response.status_code == 403, path
            assert response.headers["content-type"].startswith("text/html")
            assert "may not open this page" in response.text
        refused = client.post(f"{CASE}/confirm", data={"revision": "1"})
        assert refused.status_code == 403
    assert stored(desk)["status"] == "auto-filled"


def test_opening_a_case_takes_it_and_the_form_covers_every_field(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        page = olga.get(CASE)
        assert page.status_code == 200
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        for name in EDITABLE_FIELDS:
            assert f'name="{name}"' in page.text, name
        assert field_value(page.text, "category") == "交通管理"
        assert field_value(page.text, "needs_callback") == "yes"
        assert field_value(page.text, "street") == "东华门街道"
        assert 'data-start="9.2" data-segment="3"' in page.text, "caller_name's evidence"
        assert 'class="field low' in page.text
        assert hidden(page.text, "revision") == str(stored(desk)["revision"])
    case = stored(desk)
    assert (case["status"], case["reviewer"]) == ("in-review", "olga")


def test_confirm_without_the_csrf_token_is_refused_and_changes_nothing(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        revision = hidden(olga.get(CASE).text, "revision")
        before = stored(desk)
        for token in (None, "forged"):
            data = {"revision": revision, "category": "教育"}
            if token:
                data["csrf_token"] = token
            response = olga.post(f"{CASE}/confirm", data=data)
            assert response.status_code == 403
            assert "CSRF" in response.text
    after = stored(desk)
    assert (after["status"], after["revision"], after["fields"]) == (
        before["status"],
        before["revision"],
        before["fields"],
    )


def test_confirm_stores_the_operators_values_beside_the_machines(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        page = olga.get(CASE).text
        data = {
            "csrf_token": hidden(page, "csrf_token"),
            "revision": hidden(page, "revision"),
            "category": "公共服务",
            "caller_name": "陈晓文",
            "needs_callback": "no",
            "address": "  ",
        }
        response = olga.post(f"{CASE}/confirm", data=data)
        assert response.status_code == 303
        target = response.headers["location"]
        assert target.endswith(f"?done=confirmed&prev={DEMO_CALL_ID}")
        assert target.startswith("/review/") and DEMO_CALL_ID not in target.split("?")[0]
        next_case = olga.get(target)
        assert next_case.status_code == 200 and "已确认 confirmed" in next_case.text
        trail = olga.get(CASE).text
    case = stored(desk)
    assert case["status"] == "confirmed" and case["reviewer"] == "olga"
    assert case["fields"]["category"] == "公共服务"
    assert case["fields"]["needs_callback"] is False
    assert case["fields"]["address"] is None, "blank stays empty, it is no edit"
    assert case["machine_fields"]["category"] == "交通管理"
    edits = {e["field"]: e for e in case["history"] if e["action"] == "field-edit"}
    assert set(edits) == {"category", "caller_name", "needs_callback"}
    assert edits["category"]["machine_value"] == "交通管理"
    assert edits["category"]["new_value"] == "公共服务"
    history = trail.split('id="history"', 1)[1]
    assert '<td class="machine-value">交通管理</td>' in history
    assert '<td class="new-value">公共服务</td>' in history
    assert "read-only" in trail


def test_a_second_operator_gets_a_conflict_with_their_values_kept(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga, signed_in(desk, "oscar") as oscar:
        olga_page = olga.get(CASE).text
        oscar_page = oscar.get(CASE).text
        assert "taken by olga" in oscar_page
        queue = oscar.get("/review").text
        row = queue.split(f'data-call-id="{DEMO_CALL_ID}"', 1)[1].split("</tr>", 1)[0]
        assert "taken by olga" in row
        confirmed = olga.post(
            f"{CASE}/confirm",
            data={
                "csrf_token": hidden(olga_page, "csrf_token"),
                "revision": hidden(olga_page, "revision"),
                "category": "教育",
            },
        )
        assert confirmed.status_code == 303
        conflict = oscar.post(
            f"{CASE}/confirm",
            data={
                "csrf_token": hidden(oscar_page, "csrf_token"),
                "revision": hidden(oscar_page, "revision"),
                "category": "环境保护",
                "title": "oscar 的标题",
            },
        )
    assert conflict.status_code == 409
    assert "olga changed this case while you were editing" in conflict.text
    assert "reload to see their changes" in conflict.text
    assert field_value(conflict.text, "title") == "oscar 的标题"
    assert field_value(conflict.text, "category") == "环境保护"
    assert hidden(conflict.text, "revision") == hidden(oscar_page, "revision")
    case = stored(desk)
    assert case["fields"]["category"] == "教育"
    assert case["fields"]["title"] == demo_case()[0].title
    assert case["reviewer"] == "olga"


def test_an_invalid_value_rerenders_the_form_naming_the_field(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        page = olga.get(CASE).text
        before = stored(desk)
        response = olga.post(
            f"{CASE}/confirm",
            data={
                "csrf_token": hidden(page, "csrf_token"),
                "revision": hidden(page, "revision"),
                "callback_phone": "call me maybe",
                "title": "新标题",
            },
        )
    assert response.status_code == 422
    error = re.search(r'<p class="error form-error" role="alert">([^<]*)</p>', response.text)
    assert error and error.group(1).startswith("callback_phone:")
    assert field_value(response.text, "callback_phone") == "call me maybe"
    assert field_value(response.text, "title") == "新标题"
    assert 'id="field-callback_phone"' in response.text
    assert re.search(r'class="field[^"]* invalid[^"]*" id="field-callback_phone"', response.text)
    after = stored(desk)
    assert (after["revision"], after["fields"]) == (before["revision"], before["fields"])


def test_reject_needs_a_reason(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        page = olga.get(CASE).text
        data = {
            "csrf_token": hidden(page, "csrf_token", "reject-form"),
            "revision": hidden(page, "revision", "reject-form"),
            "reason": "   ",
        }
        empty = olga.post(f"{CASE}/reject", data=data)
        assert empty.status_code == 422
        assert "reason: say why the case is rejected" in empty.text
        assert '<details id="reject-box" open>' in empty.text
        assert stored(desk)["status"] == "in-review"
        rejected = olga.post(f"{CASE}/reject", data={**data, "reason": "重复来电 duplicate"})
        assert rejected.status_code == 303
    case = stored(desk)
    assert case["status"] == "rejected"
    assert case["history"][-1]["note"] == "重复来电 duplicate"


def test_hostile_text_is_shown_as_text(desk: PagesDesk) -> None:
    fields, transcript = demo_case()
    hostile = f"{SCRIPT}{IMG}"
    fields.caller_name = hostile
    fields.title = f"标题{hostile}"
    fields.summary = hostile
    fields.address = hostile
    fields.district = hostile
    fields.category = hostile
    fields.evidence["caller_name"][0].text = hostile
    transcript.segments[3].text = hostile
    desk.app.state.desk.put_case(
        "hostile-1",
        fields=fields.to_dict(),
        transcript=transcript.to_dict(),
        metadata={"agent_id": hostile, hostile: "key"},
        actor="worker",
    )
    escaped_script = "&lt;script&gt;alert(1)&lt;/script&gt;"
    escaped_img = "&lt;img src=x onerror=alert(1)&gt;"
    with signed_in(desk, "olga") as olga:
        for path in ("/review", "/review/hostile-1"):
            page = olga.get(path)
            assert page.status_code == 200, path
            assert SCRIPT not in page.text and IMG not in page.text, path
            assert "<img" not in page.text and "alert(1)</script>" not in page.text, path
            assert escaped_script in page.text and escaped_img in page.text, path
        case_page = page.text
    options = case_page.split('id="review-options">', 1)[1].split("</script>", 1)[0]
    assert "<" not in options and "\\u003cscript\\u003e" in options
    assert case_page.count(escaped_script) >= 6, "fields, evidence, transcript, metadata, title"


def test_the_queue_checks_and_bounds_its_query(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        unknown = olga.get("/review", params={"district": "火星区"})
        assert unknown.status_code == 400
        assert "district: &#39;火星区&#39; is not one of 东城区" in unknown.text
        assert 'id="queue"' not in unknown.text
        for params, message in (
            ({"limit": "1000"}, "limit: must be between 1 and 100"),
            ({"offset": "x"}, "offset: &#39;x&#39; is not a whole number"),
            ({"since": "2026-13-01"}, "since: &#39;2026-13-01&#39; is not a date"),
            ({"status": "lost"}, "status: &#39;lost&#39; is not one of waiting"),
            ({"category": "x" * 100}, "category: at most 64 characters"),
        ):
            response = olga.get("/review", params=params)
            assert response.status_code == 400 and message in response.text, params
        first = olga.get("/review", params={"limit": "1"}).text
        total = len(desk.call_ids)
        assert f"1–1 of {total}" in first
        assert 'href="/review?limit=1&amp;offset=1" rel="next"' in first
        assert 'rel="prev"' not in first
        second = olga.get("/review", params={"limit": "1", "offset": "1"}).text
        assert f"2–2 of {total}" in second and 'href="/review?limit=1" rel="prev"' in second
        demo_only = olga.get("/review", params={"category": "交通管理", "district": "东城区"})
        assert demo_only.text.count('class="queue-row') == 1
        assert f'data-call-id="{DEMO_CALL_ID}"' in demo_only.text
        none_yet = olga.get("/review", params={"status": "confirmed"}).text
        assert "No case matches" in none_yet
        later = olga.get("/review", params={"since": "2999-01-01"}).text
        assert "No case matches" in later


def test_form_input_is_bounded(desk: PagesDesk) -> None:
    with signed_in(desk, "olga") as olga:
        page = olga.get(CASE).text
        base = {"csrf_token": hidden(page, "csrf_token"), "revision": hidden(page, "revision")}
        too_many = olga.post(f"{CASE}/confirm", data={**base, **{f"x{i}": "1" for i in range(60)}})
        assert too_many.status_code == 400 and "Too many fields" in too_many.text
        too_long = olga.post(f"{CASE}/confirm", data={**base, "summary": "长" * 5000})
        assert too_long.status_code == 400 and "exceeded maximum size" in too_long.text
        no_revision = olga.post(f"{CASE}/confirm", data={"csrf_token": base["csrf_token"]})
        assert no_revision.status_code == 400 and "revision:" in no_revision.text
        missing = olga.get("/review/no-such-call")
        assert missing.status_code == 404
    assert stored(desk)["status"] == "in-review"
