"""The QA audit page in a real browser (Debian's chromium) over calls the real model processed.

QA signs in, draws a seeded sample, plays a call against its transcript, corrects lines with the
keyboard, and `callscribe eval qa` then scores that call; a redacted auditor sees nothing
personal and gets no audio. The screenshot for docs/screenshots/audit.png is taken on the way:
it is written there when UPDATE_SCREENSHOTS=1, else under the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect

from callscribe.cli import main
from callscribe.settings import get_settings
from tests.browser_support import launch_chromium
from tests.pages_support import (
    DEMO_CALL_ID,
    DEMO_ID_NUMBER,
    DEMO_NAME,
    DEMO_PHONE,
    PASSWORD,
    SeededStore,
    fresh_desk,
)

pytestmark = [pytest.mark.browser, pytest.mark.model]

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "audit.png"
WHEN_AUDIO_READY = """() => new Promise((resolve) => {
  const audio = document.getElementById("player");
  if (audio.readyState >= 1) { resolve(); }
  else { audio.addEventListener("loadedmetadata", resolve); }
})"""
AFTER_SEEK = """() => new Promise((resolve) => {
  const audio = document.getElementById("player");
  if (!audio.seeking) { resolve(audio.currentTime); }
  else { audio.addEventListener("seeked", () => resolve(audio.currentTime), { once: true }); }
})"""
"""Waits run in the page through evaluate: the CSP forbids the eval that wait_for_function uses."""
SRT_TIME = re.compile(r"^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$", re.M)


def sign_in(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}/audit")
    expect(page).to_have_url(re.compile(r"/login\?next=/audit$"))
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    expect(page).to_have_url(f"{base}/audit")


def test_qa_samples_plays_corrects_with_the_keyboard_and_exports(
    seeded_pages_store: SeededStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_desk(seeded_pages_store, tmp_path) as desk, launch_chromium() as browser:
        call_id = desk.call_ids[1]  # sample_call_mono16k.wav: PCM, which chromium plays
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        sign_in(page, desk.url, "quinn")

        page.select_option("#sample-by", "all")
        page.fill('input[name="n"]', "3")
        page.fill('input[name="seed"]', "4242")
        page.click('.sample-form button[type="submit"]')
        expect(page).to_have_url(re.compile(r"/audit\?batch=[0-9a-f-]+$"))
        expect(page.locator(".batch-calls tbody tr")).to_have_count(3)
        expect(page.locator(".audit-batch h2 .seed")).to_have_text("4242")
        page.click(f'.batch-calls a:text-is("{call_id}")')
        expect(page).to_have_url(re.compile(rf"/audit/{call_id}\?batch="))
        expect(page.locator(".audit-nav")).to_contain_text("/ 3")

        page.evaluate(WHEN_AUDIO_READY)
        line = page.locator("#line-1")
        start = float(line.get_attribute("data-start") or "nan")
        machine = line.locator(".text").inner_text()
        assert start > 0 and machine
        line.locator(".time").click()
        assert page.evaluate(AFTER_SEEK) == pytest.approx(start, abs=0.01)
        expect(line).to_have_class(re.compile(r"\bcurrent\b"))

        first = page.locator("#line-0")
        first.focus()
        page.keyboard.press("Enter")
        expect(first.locator("textarea")).to_be_focused()
        page.keyboard.type("不该保存")
        page.keyboard.press("Escape")
        expect(first.locator("form.edit")).to_be_hidden()
        expect(first).not_to_have_class(re.compile(r"\bcorrected\b"))

        corrected = "质检更正：这一行听写有误"
        line.focus()
        page.keyboard.press("Enter")
        area = line.locator("textarea")
        expect(area).to_be_focused()
        area.fill(corrected)
        page.keyboard.press("Control+Enter")
        expect(line.locator(".text")).to_have_text(corrected)
        expect(line.locator(".machine del")).to_have_text(machine)
        expect(line).to_have_class(re.compile(r"\bcorrected\b"))
        expect(line.locator("form.edit")).to_be_hidden()

        page.keyboard.press("ArrowDown")
        second = page.locator("#line-2")
        expect(second).to_be_focused()
        page.keyboard.press("Enter")
        second.locator("textarea").fill("第三行也改了")
        page.keyboard.press("Alt+s")
        expect(second.locator(".text")).to_have_text("第三行也改了")

        page.reload()
        expect(line.locator(".text")).to_have_text(corrected)
        expect(page.locator(".line.corrected")).to_have_count(2)
        expect(page.locator("#transcript-title")).to_contain_text("2 corrected")
        batch_url = page.url.split("?", 1)[1]

        monkeypatch.setenv("CALLSCRIBE_DATA", str(desk.settings.data))
        monkeypatch.setenv("CALLSCRIBE_DB_URL", desk.settings.database_url)
        get_settings.cache_clear()
        result = CliRunner().invoke(main, ["eval", "qa", "--json"])
        assert result.exit_code == 0, result.output
        scores = {c["call_id"]: c for c in json.loads(result.output)["calls"]}
        assert set(scores) == {call_id}
        assert scores[call_id]["segments_corrected"] == 2 and scores[call_id]["cer"] > 0

        srt = page.request.get(f"{desk.url}/audit/{call_id}/export?format=srt")
        assert srt.ok and srt.headers["content-disposition"].endswith(f'filename="{call_id}.srt"')
        assert corrected in srt.text() and machine not in srt.text()
        assert SRT_TIME.search(srt.text()) and srt.text().startswith("1\n00:00:")
        with page.expect_download() as download:
            page.click('.exports a[data-format="vtt"]')
        assert download.value.suggested_filename == f"{call_id}.vtt"
        assert corrected in Path(download.value.path()).read_text(encoding="utf-8")

        page.goto(f"{desk.url}/audit/{DEMO_CALL_ID}?{batch_url}")
        page.click("#field-category summary")
        page.fill('#field-category input[name="comment"]', "堵路占道应为城乡建设")
        page.click("#field-category .flag button")
        demo_line = page.locator("#line-5")
        demo_line.focus()
        page.keyboard.press("Enter")
        demo_line.locator("textarea").fill(
            "幺三九一二三四五六七八，也可以打一三八零零一三八零零零。"
        )
        page.keyboard.press("Control+Enter")
        expect(demo_line).to_have_class(re.compile(r"\bcorrected\b"))
        expect(page.locator("#corrected-count")).to_have_text("1")
        page.goto(f"{desk.url}/audit/{DEMO_CALL_ID}?{batch_url}")
        page.locator("#line-3 .time").click()
        take_screenshot(page, tmp_path)


def take_screenshot(page: Page, tmp_path: Path) -> None:
    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "audit.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    width, height = struct.unpack(">II", target.read_bytes()[16:24])
    assert (width, height) == (1440, 900)


DIGIT_RUN = re.compile(r"[0-9０-９]{7,}")
SPOKEN_PHONE = re.compile(r"[幺一二三四五六七八九零〇]{7,}")


def test_redacted_qa_sees_no_personal_data_and_no_audio(
    seeded_pages_store: SeededStore, tmp_path: Path
) -> None:
    with fresh_desk(seeded_pages_store, tmp_path) as desk, launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        sign_in(page, desk.url, "rita")
        page.goto(f"{desk.url}/audit/{DEMO_CALL_ID}")
        expect(page.locator(".redacted-note")).to_contain_text("not correct lines")
        page.click("#field-district summary")
        page.locator('#field-district .flag input[name="comment"]').fill("应为西城区")
        page.click("#field-district .flag button")
        expect(page).to_have_url(f"{desk.url}/audit/{DEMO_CALL_ID}#field-district")
        expect(page.locator("#notes .note")).to_contain_text("district flagged")

        text = page.evaluate("document.body.innerText")
        html = page.content()
        assert not DIGIT_RUN.search(text), DIGIT_RUN.search(text)
        for shown in (text, html):
            assert not SPOKEN_PHONE.search(shown), SPOKEN_PHONE.search(shown)
            assert not re.search(r"138\D{0,3}0013\D{0,3}8000", shown)
            for secret in (DEMO_PHONE, DEMO_ID_NUMBER, DEMO_NAME, "501室"):
                assert secret not in shown, secret
        assert "[电话]" in text and "[姓名]" in text and "[证件号]" in text and "[门牌]" in text
        assert page.locator("audio").count() == 0
        assert page.locator("form.edit").count() == 0

        page.locator("#line-3").focus()
        page.keyboard.press("Enter")
        assert page.locator("textarea:focus").count() == 0

        audio = page.request.get(f"{desk.url}/api/desk/cases/{DEMO_CALL_ID}/audio")
        assert audio.status == 403
        srt = page.request.get(f"{desk.url}/audit/{DEMO_CALL_ID}/export?format=srt").text()
        assert SRT_TIME.search(srt) and "[电话]" in srt and "[姓名]" in srt
        assert not DIGIT_RUN.search(srt) and not SPOKEN_PHONE.search(srt)
        for secret in (DEMO_PHONE, DEMO_ID_NUMBER, DEMO_NAME, "501室"):
            assert secret not in srt, secret
