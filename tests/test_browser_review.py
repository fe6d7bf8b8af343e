"""The operator review pages in a real Chromium: the queue, evidence playback, a keyboard-only
review, two operators on one case, and the documentation screenshot.

Set ``UPDATE_SCREENSHOTS=1`` to write ``docs/screenshots/review.png``; otherwise the
screenshot goes to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from callscribe.desk.store import CaseFilter
from tests.browser_support import launch_chromium
from tests.pages_support import (
    DEMO_CALL_ID,
    PASSWORD,
    PagesDesk,
    SeededStore,
    demo_case,
    fresh_desk,
)

pytestmark = [pytest.mark.model, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
CASE = f"/review/{DEMO_CALL_ID}"
URGENT = "紧急"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def desk(seeded_pages_store: SeededStore, tmp_path: Path) -> Iterator[PagesDesk]:
    with fresh_desk(seeded_pages_store, tmp_path) as served:
        yield served


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        made.close()


def sign_in(context: BrowserContext, desk: PagesDesk, name: str, path: str) -> Page:
    """Ask for ``path``, get sent to the sign-in form, sign in, and land on ``path``."""
    page = context.new_page()
    page.goto(desk.url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(desk.url + path)
    return page


def wait_until(page: Page, condition: str, timeout_ms: int = 10_000) -> None:
    """Wait for a JavaScript condition to hold in the page.

    Playwright's ``wait_for_function`` polls with an in-page eval, which the desk's CSP
    refuses; here the condition is part of the function ``evaluate`` compiles itself.
    """
    message = json.dumps(f"timed out waiting for: {condition}")
    page.evaluate(
        f"""() => new Promise((resolve, reject) => {{
  const deadline = Date.now() + {timeout_ms};
  const check = () => {{
    if ({condition}) {{ resolve(true); return; }}
    if (Date.now() > deadline) {{ reject(new Error({message})); return; }}
    setTimeout(check, 20);
  }};
  check();
}})"""
    )


def open_case(context: BrowserContext, desk: PagesDesk, name: str) -> Page:
    page = sign_in(context, desk, name, CASE)
    wait_until(page, "document.getElementById('player').readyState >= 1")
    return page


def audio_time(page: Page) -> float:
    seconds: float = page.evaluate("document.getElementById('player').currentTime")
    return seconds


def focused(page: Page) -> str:
    element_id: str = page.evaluate("document.activeElement.id")
    return element_id


def test_the_queue_lists_urgent_first_then_oldest(desk: PagesDesk, context: BrowserContext) -> None:
    fields, transcript = demo_case()
    fields.urgency = URGENT
    fields.title = "燃气泄漏 最新来电"
    desk.app.state.desk.put_case(
        "urgent-latest",
        fields=fields.to_dict(),
        transcript=transcript.to_dict(),
        metadata={},
        actor="worker",
    )
    waiting, _ = desk.app.state.desk.list_cases(
        CaseFilter(status=("auto-filled", "in-review")), limit=50
    )
    expected = [
        c["call_id"]
        for c in sorted(waiting, key=lambda c: (c["urgency"] != URGENT, c["created_at"]))
    ]
    assert expected[0] == "urgent-latest" and set(desk.call_ids) < set(expected)

    page = sign_in(context, desk, "olga", "/review")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(len(expected))
    assert [rows.nth(i).get_attribute("data-call-id") for i in range(len(expected))] == expected
    expect(rows.first).to_have_class(re.compile(r"\burgent\b"))
    demo = page.locator(f'tr[data-call-id="{DEMO_CALL_ID}"]')
    expect(demo.locator(".badge.confidence")).to_have_text("45%")
    expect(demo.locator(".badge.confidence")).to_have_class(re.compile(r"\blow\b"))
    expect(page.locator(".queue-count")).to_contain_text(f"of {len(expected)}")

    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.closest('tr').dataset.callId") == expected[1]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{desk.url}/review/{expected[1]}")


def test_evidence_plays_the_call_from_its_moment(desk: PagesDesk, context: BrowserContext) -> None:
    page = open_case(context, desk, "olga")
    name_start = demo_case()[1].segments[3].start
    page.click("#field-caller_name .evidence-play")
    assert abs(audio_time(page) - name_start) <= 0.3
    line = page.locator('#transcript .line[data-index="3"]')
    expect(line).to_have_class(re.compile(r"\bhighlight\b"))
    expect(page.locator("#transcript .line.highlight")).to_have_count(1)

    phone_line = page.locator('#transcript .line[data-index="5"]')
    phone_line.click()
    assert abs(audio_time(page) - 13.2) <= 0.3
    expect(phone_line).to_have_class(re.compile(r"\bhighlight\b"))
    wait_until(page, "document.querySelector('#transcript .line.current')?.dataset.index === '5'")

    page.keyboard.press("Alt+P")
    wait_until(page, "document.getElementById('player').paused")
    paused_at = audio_time(page)
    assert paused_at >= 13.2
    page.keyboard.press("Alt+R")
    assert abs(audio_time(page) - (paused_at - 5)) <= 0.3


def test_street_and_community_choices_follow_the_district(
    desk: PagesDesk, context: BrowserContext
) -> None:
    page = open_case(context, desk, "olga")
    street = page.locator("#f-street option")
    community = page.locator("#f-community option")
    expect(community.filter(has_text="南池子社区")).to_have_count(1)
    page.select_option("#f-district", "西城区")
    expect(page.locator("#f-street")).to_have_value("")
    expect(street.filter(has_text="广安门外街道")).to_have_count(1)
    expect(street.filter(has_text="东华门街道")).to_have_count(0)
    expect(community).to_have_count(1)
    page.select_option("#f-street", "广安门外街道")
    expect(community.filter(has_text="三义里社区")).to_have_count(1)
    expect(community.filter(has_text="南池子社区")).to_have_count(0)
    expect(page.locator("#field-district")).to_have_class(re.compile(r"\bedited\b"))
    page.select_option("#f-district", "东城区")
    page.select_option("#f-street", "东华门街道")
    expect(community.filter(has_text="南池子社区")).to_have_count(1)
    expect(page.locator("#field-district")).not_to_have_class(re.compile(r"\bedited\b"))


def test_a_case_reviewed_with_the_keyboard_only(desk: PagesDesk, context: BrowserContext) -> None:
    page = open_case(context, desk, "olga")
    keys = page.keyboard
    keys.press("n")
    assert focused(page) == "f-caller_name", "the first low-confidence field"
    keys.press("Enter")
    expect(page.locator("#field-caller_name")).to_have_class(re.compile(r"\baccepted\b"))
    assert focused(page) == "f-callback_phone"
    keys.press("Tab")
    assert focused(page) == "f-district", "Tab goes field to field"
    keys.press("Shift+Tab")
    keys.press("Alt+ArrowDown")
    assert focused(page) == "f-district"
    keys.press("Alt+ArrowUp")
    assert focused(page) == "f-callback_phone"
    keys.press("Alt+N")
    assert focused(page) == "f-category", "caller_name is accepted, category is next"
    keys.press("ArrowDown")
    expect(page.locator("#f-category")).to_have_value("公共服务")
    expect(page.locator("#field-category")).to_have_class(re.compile(r"\bedited\b"))
    keys.press("Alt+A")
    expect(page.locator("#field-category")).to_have_class(re.compile(r"\baccepted\b"))
    assert focused(page) == "f-urgency"
    keys.press("Control+Enter")
    page.wait_for_url(re.compile(rf"/review/[^?]+\?done=confirmed&prev={DEMO_CALL_ID}$"))
    expect(page.locator(".notice")).to_contain_text("已确认 confirmed")

    page.goto(desk.url + CASE)
    edit = page.locator("#history tr.event-field-edit")
    expect(edit).to_have_count(1)
    expect(edit.locator("td").nth(1)).to_have_text("olga")
    expect(edit.locator("td").nth(3)).to_have_text("category")
    expect(edit.locator(".machine-value")).to_have_text("交通管理")
    expect(edit.locator(".new-value")).to_have_text("公共服务")
    expect(page.locator(".decided")).to_contain_text("confirmed by olga")
    case = desk.app.state.desk.case_detail(DEMO_CALL_ID)
    assert case["status"] == "confirmed"
    assert case["fields"]["category"] == "公共服务"
    assert case["fields"]["caller_name"] == case["machine_fields"]["caller_name"]


def test_a_second_operator_cannot_overwrite_the_first(
    desk: PagesDesk, browser: Browser, context: BrowserContext
) -> None:
    olga = open_case(context, desk, "olga")
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        oscar = open_case(other, desk, "oscar")
        expect(oscar.locator(".taken-notice")).to_contain_text("taken by olga")

        olga.select_option("#f-category", "教育")
        olga.click("#confirm-button")
        olga.wait_for_url(re.compile(r"\?done=confirmed"))

        oscar.select_option("#f-category", "环境保护")
        oscar.fill("#f-title", "oscar 改的标题")
        with oscar.expect_response(lambda r: r.url.endswith("/confirm")) as answer:
            oscar.click("#confirm-button")
        assert answer.value.status == 409
        expect(oscar.locator(".conflict")).to_contain_text(
            "olga changed this case while you were editing"
        )
        expect(oscar.locator("#f-title")).to_have_value("oscar 改的标题")
        expect(oscar.locator("#f-category")).to_have_value("环境保护")
    finally:
        other.close()
    case = desk.app.state.desk.case_detail(DEMO_CALL_ID)
    assert case["fields"]["category"] == "教育"
    assert case["fields"]["title"] == demo_case()[0].title
    assert [e["actor"] for e in case["history"] if e["action"] == "field-edit"] == ["olga"]


def test_screenshot_of_a_case_under_review(
    desk: PagesDesk, context: BrowserContext, tmp_path: Path
) -> None:
    page = open_case(context, desk, "olga")
    page.keyboard.press("n")
    page.keyboard.press("Enter")
    page.click("#field-category .evidence-play")
    page.keyboard.press("Alt+P")
    wait_until(page, "document.getElementById('player').paused")
    page.keyboard.press("Alt+N")
    assert focused(page) == "f-category"
    update = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    target = ROOT / "docs/screenshots/review.png" if update else tmp_path / "review.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    png = target.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1440, 900)
