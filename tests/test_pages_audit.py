"""The QA audit page over HTTP: who may open it, CSRF, reproducible samples, corrections, flags,
exports and masking. No model: the desk holds the demo hotline case (over real audio) and a
few small cases of its own; the browser tests (tests/test_browser_audit.py) use the real one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callscribe.desk.audit import AuditDesk
from callscribe.intake.register import register_call_file
from callscribe.schema import CaseFields, Segment, Transcript
from callscribe.settings import Settings
from callscribe.subtitles import to_srt, to_text, to_vtt
from callscribe.web.app import create_app
from tests.conftest import CALLS
from tests.pages_support import (
    DEMO_AUDIO,
    DEMO_CALL_ID,
    DEMO_ID_NUMBER,
    DEMO_NAME,
    DEMO_PHONE,
    PASSWORD,
    demo_case,
)

HOSTILE = "hostile-1"
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
WORDY = "wordy-1"
SMALL_CALLS = tuple(f"small-{i:02d}" for i in range(12))


@dataclass
class Desk:
    app: FastAPI
    audit: AuditDesk

    def client(self, user: str | None = None) -> TestClient:
        client = TestClient(self.app, base_url="http://127.0.0.1", follow_redirects=False)
        if user:
            signed = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
            assert signed.status_code == 200, signed.text
        return client


def csrf_of(client: TestClient) -> str:
    page = client.get("/audit")
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _small_case(text: str) -> tuple[dict[str, object], dict[str, object]]:
    transcript = Transcript(
        duration=4.0,
        segments=[
            Segment(0.0, 2.0, "您好，12345。", "agent", 0.9),
            Segment(2.0, 4.0, text, "caller", 0.5),
        ],
    )
    return CaseFields(title=text, category="环境保护").to_dict(), transcript.to_dict()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    data = tmp_path / "data"
    settings = Settings(data=data, db_url=f"sqlite:///{data / 'c.db'}", desk_secure_cookies=False)
    app = create_app(settings)
    register_call_file(
        CALLS / DEMO_AUDIO,
        ledger=app.state.ledger,
        data_dir=data,
        metadata={"call_id": DEMO_CALL_ID, "caller_number": DEMO_PHONE},
    )
    fields, transcript = demo_case()
    put = app.state.desk.put_case
    put(
        DEMO_CALL_ID,
        fields=fields.to_dict(),
        transcript=transcript.to_dict(),
        metadata={"caller_number": DEMO_PHONE, "agent_id": "A07"},
        actor="worker",
    )
    for call_id in SMALL_CALLS:
        small_fields, small_transcript = _small_case(f"{call_id} 路灯不亮")
        put(call_id, fields=small_fields, transcript=small_transcript, metadata={}, actor="worker")
    hostile_fields, hostile_transcript = _small_case(f"{SCRIPT}{IMG}")
    hostile_fields["address"] = IMG
    put(
        HOSTILE,
        fields=hostile_fields,
        transcript=hostile_transcript,
        metadata={"note": SCRIPT},
        actor="worker",
    )
    wordy = Transcript(
        duration=2.0,
        segments=[
            Segment(0.0, 2.0, "路灯坏了", "caller", 0.8, words=[]),
        ],
    ).to_dict()
    wordy["segments"][0]["words"] = [
        {"start": 0.0, "end": 0.6, "word": "路灯", "probability": 0.95},
        {"start": 0.6, "end": 1.4, "word": "坏", "probability": 0.21},
        {"start": 1.4, "end": 2.0, "word": "了", "probability": 0.9},
    ]
    put(WORDY, fields=CaseFields().to_dict(), transcript=wordy, metadata={}, actor="worker")
    for name, role in (("olga", "operator"), ("quinn", "qa"), ("rita", "qa-redacted")):
        app.state.auth.add_user(name, role, PASSWORD)
    try:
        yield Desk(app, AuditDesk(app.state.engine))
    finally:
        app.state.engine.dispose()


def draw(
    client: TestClient, csrf: str, *, by: str = "all", value: str = "", n: int, seed: int | str
) -> httpx.Response:
    return client.post(
        "/audit/samples",
        data={"csrf_token": csrf, "by": by, "value": value, "n": str(n), "seed": str(seed)},
    )


def batch_calls(html: str) -> list[str]:
    table = html.split('class="batch-calls"', 1)[1]
    return re.findall(r'<a href="/audit/([^"?]+)\?batch=', table)


def test_without_a_session_the_pages_send_to_the_sign_in_form(desk: Desk) -> None:
    client = desk.client()
    for path in ("/audit", f"/audit/{DEMO_CALL_ID}", f"/audit/{DEMO_CALL_ID}/export?format=srt"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/audit"), path
    refused = client.post(f"/audit/{DEMO_CALL_ID}/segments/0", json={"text": "x"})
    assert refused.status_code == 303
    assert desk.audit.corrections(DEMO_CALL_ID) == {}


def test_an_operator_may_not_audit(desk: Desk) -> None:
    client = desk.client("olga")
    for path in ("/audit", f"/audit/{DEMO_CALL_ID}", f"/audit/{DEMO_CALL_ID}/export?format=srt"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "may not open this page" in response.text


def test_posts_without_the_csrf_token_are_refused_and_store_nothing(desk: Desk) -> None:
    client = desk.client("quinn")
    good = csrf_of(client)
    segment = f"/audit/{DEMO_CALL_ID}/segments/1"
    assert client.post(segment, json={"text": "改了"}).status_code == 403
    assert (
        client.post(segment, json={"text": "改了"}, headers={"X-CSRF-Token": "0" * 64}).status_code
        == 403
    )
    assert client.post(segment, data={"text": "改了"}).status_code == 403
    assert draw(client, "nope", n=3, seed=1).status_code == 403
    flag = client.post(f"/audit/{DEMO_CALL_ID}/flags", data={"field": "district"})
    comment = client.post(f"/audit/{DEMO_CALL_ID}/comments", data={"text": "hi"})
    assert flag.status_code == comment.status_code == 403
    assert desk.audit.corrections(DEMO_CALL_ID) == {}
    assert desk.audit.notes(DEMO_CALL_ID) == []
    assert desk.audit.batches() == []
    # and with the token, the same requests go through
    saved = client.post(segment, json={"text": "改了"}, headers={"X-CSRF-Token": good})
    assert saved.status_code == 200 and saved.json()["corrected_text"] == "改了"
    assert desk.audit.corrections(DEMO_CALL_ID)[1].actor == "quinn"


def test_the_same_seed_draws_the_same_sample(desk: Desk) -> None:
    client = desk.client("quinn")
    csrf = csrf_of(client)
    samples = []
    for seed in (20261124, 20261124, 7):
        response = draw(client, csrf, by="category", value="环境保护", n=5, seed=seed)
        assert response.status_code == 303
        samples.append(batch_calls(client.get(response.headers["location"]).text))
    assert len(samples[0]) == 5 and set(samples[0]) <= set(SMALL_CALLS) | {HOSTILE}
    assert samples[0] == samples[1]
    assert samples[2] != samples[0]
    listing = client.get("/audit").text
    assert listing.count("seed 20261124") == 2 and "seed 7 " in listing
    newest = desk.audit.batches()[0]
    assert newest.rule.seed == 7 and list(newest.call_ids) == samples[2]


def test_a_rule_that_does_not_fit_is_refused_with_its_reason(desk: Desk) -> None:
    client = desk.client("quinn")
    csrf = csrf_of(client)
    bad_day = draw(client, csrf, by="day", value="24.11.2026", n=3, seed=1)
    assert bad_day.status_code == 422
    assert "is not a day as YYYY-MM-DD" in bad_day.text
    assert 'value="24.11.2026"' in bad_day.text
    assert "seed: 'x' is not a whole number" in unescape(draw(client, csrf, n=3, seed="x").text)
    assert desk.audit.batches() == []


def test_a_qa_correction_is_kept_beside_the_machine_text_and_shown(desk: Desk) -> None:
    client = desk.client("quinn")
    csrf = csrf_of(client)
    machine = demo_case()[1].segments[2].text
    by_form = client.post(
        f"/audit/{DEMO_CALL_ID}/segments/2?batch=abc-123",
        data={"csrf_token": csrf, "text": "请问您贵姓？\r\n"},
    )
    assert by_form.status_code == 303
    assert by_form.headers["location"] == f"/audit/{DEMO_CALL_ID}?batch=abc-123#line-2"
    by_fetch = client.post(
        f"/audit/{DEMO_CALL_ID}/segments/3",
        json={"text": "我姓陈，叫陈晓文。"},
        headers={"X-CSRF-Token": csrf},
    )
    assert by_fetch.status_code == 200
    assert by_fetch.json()["machine_text"] == demo_case()[1].segments[3].text
    fixes = desk.audit.corrections(DEMO_CALL_ID)
    assert fixes[2].corrected_text == machine == fixes[2].machine_text
    assert fixes[3].corrected_text == "我姓陈，叫陈晓文。"
    page = client.get(f"/audit/{DEMO_CALL_ID}").text
    line = page.split('id="line-3"', 1)[1].split('id="line-4"', 1)[0]
    assert '<div class="text">我姓陈，叫陈晓文。</div>' in line
    assert "<del>我姓陈，耳东陈，叫陈晓雯。</del>" in line and "quinn ·" in line
    assert '<span id="corrected-count">2</span> corrected' in page
    listing = client.get(draw(client, csrf, n=50, seed=1).headers["location"]).text
    row = listing.split(f'<a href="/audit/{DEMO_CALL_ID}?batch=', 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge good">2</span>' in row


def test_a_bad_correction_answers_why(desk: Desk) -> None:
    client = desk.client("quinn")
    headers = {"X-CSRF-Token": csrf_of(client)}
    beyond = client.post(f"/audit/{DEMO_CALL_ID}/segments/9", json={"text": "x"}, headers=headers)
    assert beyond.status_code == 422
    assert beyond.json()["detail"].startswith("segment 9: the transcript of call hotline-demo has")
    not_text = client.post(f"/audit/{DEMO_CALL_ID}/segments/1", json={"txt": 1}, headers=headers)
    assert not_text.status_code == 422 and not_text.json()["detail"].startswith("text:")
    huge = client.post(
        f"/audit/{DEMO_CALL_ID}/segments/1", json={"text": "字" * 9000}, headers=headers
    )
    assert huge.status_code == 422 and "at most" in huge.json()["detail"]
    unknown = client.post("/audit/no-such-call/segments/0", json={"text": "x"}, headers=headers)
    assert unknown.status_code == 404
    assert desk.audit.corrections(DEMO_CALL_ID) == {}


def test_flags_and_comments_show_in_the_notes(desk: Desk) -> None:
    client = desk.client("quinn")
    csrf = csrf_of(client)
    flagged = client.post(
        f"/audit/{DEMO_CALL_ID}/flags",
        data={"csrf_token": csrf, "field": "category", "comment": "应为城乡建设"},
    )
    assert flagged.status_code == 303
    assert flagged.headers["location"] == f"/audit/{DEMO_CALL_ID}#field-category"
    commented = client.post(
        f"/audit/{DEMO_CALL_ID}/comments", data={"csrf_token": csrf, "text": "坐席未核对地址"}
    )
    assert commented.headers["location"] == f"/audit/{DEMO_CALL_ID}#notes"
    bad = client.post(f"/audit/{DEMO_CALL_ID}/flags", data={"csrf_token": csrf, "field": "nope"})
    assert bad.status_code == 422 and "field: &#39;nope&#39; is not one of" in bad.text
    page = client.get(f"/audit/{DEMO_CALL_ID}").text
    notes = page.split('id="notes"', 1)[1]
    assert "category flagged" in notes and "应为城乡建设" in notes and "坐席未核对地址" in notes
    assert "已标记 flagged ×1" in page.split('id="field-category"', 1)[1].split("</form>", 1)[0]
    assert [n["kind"] for n in desk.audit.notes(DEMO_CALL_ID)] == ["flag", "comment"]
    listing = client.get(draw(client, csrf, n=50, seed=1).headers["location"]).text
    row = listing.split(f'<a href="/audit/{DEMO_CALL_ID}?batch=', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r"<td>(?:<span class=\"badge \w+\">)?(\d+)(?:</span>)?</td>", row)[-3:] == [
        "0",
        "1",
        "1",
    ]


def test_exports_in_each_format_with_corrections_by_default(desk: Desk) -> None:
    client = desk.client("quinn")
    client.post(
        f"/audit/{DEMO_CALL_ID}/segments/0",
        json={"text": "您好，北京12345。"},
        headers={"X-CSRF-Token": csrf_of(client)},
    )
    expected = {
        "srt": ("application/x-subrip; charset=utf-8", "srt"),
        "vtt": ("text/vtt; charset=utf-8", "vtt"),
        "json": ("application/json", "json"),
        "text": ("text/plain; charset=utf-8", "txt"),
    }
    for fmt, (media_type, ext) in expected.items():
        response = client.get(f"/audit/{DEMO_CALL_ID}/export", params={"format": fmt})
        assert response.status_code == 200, fmt
        assert response.headers["content-type"] == media_type
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{DEMO_CALL_ID}.{ext}"'
        )
        assert "您好，北京12345。" in response.text, fmt
    srt = client.get(f"/audit/{DEMO_CALL_ID}/export?format=srt").text
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,500\n坐席：您好，北京12345。\n")
    data = json.loads(client.get(f"/audit/{DEMO_CALL_ID}/export?format=json").text)
    assert data["segments"][0]["text"] == "您好，北京12345。" and len(data["segments"]) == 9
    machine = client.get(f"/audit/{DEMO_CALL_ID}/export?format=text&corrected=0").text
    assert "您好，12345市民服务热线，请讲。" in machine and "北京12345" not in machine
    bad = client.get(f"/audit/{DEMO_CALL_ID}/export?format=docx")
    assert bad.status_code == 422
    assert "format: &#39;docx&#39; is not one of json, srt, vtt, text" in bad.text
    assert client.get("/audit/no-such-call/export?format=srt").status_code == 404


def test_hostile_text_shows_as_text(desk: Desk) -> None:
    client = desk.client("quinn")
    csrf = csrf_of(client)
    client.post(f"/audit/{HOSTILE}/segments/0", json={"text": IMG}, headers={"X-CSRF-Token": csrf})
    client.post(f"/audit/{HOSTILE}/comments", data={"csrf_token": csrf, "text": SCRIPT})
    client.post(
        f"/audit/{HOSTILE}/flags", data={"csrf_token": csrf, "field": "title", "comment": IMG}
    )
    draw(client, csrf, by="category", value="环境保护", n=13, seed=3)
    for html in (client.get(f"/audit/{HOSTILE}").text, client.get("/audit").text):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js">'] + (
            ['<script src="/static/audit.js">'] if "audit.js" in html else []
        )
    vtt = client.get(f"/audit/{HOSTILE}/export?format=vtt").text
    assert "&lt;script&gt;" in vtt and "<script>" not in vtt


def test_low_confidence_lines_and_words_stand_out(desk: Desk) -> None:
    client = desk.client("quinn")
    page = client.get(f"/audit/{WORDY}").text
    assert '<span class="word low" title="p=0.21">坏</span>' in page
    assert '<span class="word" title="p=0.95">路灯</span>' in page
    demo = client.get(f"/audit/{DEMO_CALL_ID}").text
    low = re.findall(r'<div class="line (\w+)( low)?( corrected)?"\s+id="line-(\d)"', demo)
    assert [int(i) for _who, is_low, _c, i in low if is_low] == [5]  # confidence 0.42 < 0.6


def test_redacted_qa_sees_masks_no_audio_and_may_not_correct(desk: Desk) -> None:
    quinn = desk.client("quinn")
    quinn_csrf = csrf_of(quinn)
    quinn.post(
        f"/audit/{DEMO_CALL_ID}/segments/4",
        json={"text": f"您的联系电话是{DEMO_PHONE}？"},
        headers={"X-CSRF-Token": quinn_csrf},
    )
    quinn.post(
        f"/audit/{DEMO_CALL_ID}/comments",
        data={"csrf_token": quinn_csrf, "text": f"坐席读出了{DEMO_NAME}的号码{DEMO_PHONE}"},
    )
    assert (
        quinn.get(
            f"/api/desk/cases/{DEMO_CALL_ID}/audio", headers={"Range": "bytes=0-9"}
        ).status_code
        == 206
    )
    assert '<audio id="player"' in quinn.get(f"/audit/{DEMO_CALL_ID}").text

    rita = desk.client("rita")
    csrf = csrf_of(rita)
    page = rita.get(f"/audit/{DEMO_CALL_ID}").text
    for secret in (DEMO_PHONE, DEMO_NAME, DEMO_ID_NUMBER, "501室", "13800138000", "138 0013 8000"):
        assert secret not in page, secret
    assert "<audio" not in page and "/audio" not in page
    assert "[电话]" in page and "[姓名]" in page and "[证件号]" in page
    assert 'class="edit"' not in page and "may flag fields and comment, but not correct" in page
    assert rita.get(f"/api/desk/cases/{DEMO_CALL_ID}/audio").status_code == 403
    assert rita.get(f"/api/desk/cases/{DEMO_CALL_ID}").status_code == 403
    refused = rita.post(
        f"/audit/{DEMO_CALL_ID}/segments/1", json={"text": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 403 and "redacted QA may not correct" in refused.json()["detail"]
    assert (
        rita.post(
            f"/audit/{DEMO_CALL_ID}/segments/1", data={"csrf_token": csrf, "text": "x"}
        ).status_code
        == 403
    )
    assert set(desk.audit.corrections(DEMO_CALL_ID)) == {4}
    flagged = rita.post(
        f"/audit/{DEMO_CALL_ID}/flags", data={"csrf_token": csrf, "field": "street"}
    )
    assert flagged.status_code == 303
    assert [n["actor"] for n in desk.audit.notes(DEMO_CALL_ID)] == ["quinn", "rita"]
    assert "坐席读出了[姓名]的号码[电话]" in rita.get(f"/audit/{DEMO_CALL_ID}").text
    for fmt in ("srt", "vtt", "json", "text", "srt&corrected=0"):
        export = rita.get(f"/audit/{DEMO_CALL_ID}/export?format={fmt}").text
        assert DEMO_PHONE not in export and DEMO_NAME not in export, fmt
        assert DEMO_ID_NUMBER not in export and "138 0013 8000" not in export, fmt
        assert "[电话]" in export, fmt


def test_a_cue_stays_on_one_line_whatever_the_text() -> None:
    transcript = Transcript(
        duration=2.0, segments=[Segment(0.0, 1.5, "第一句\r\n\n第二句 --> <b>&", "caller", 0.9)]
    )
    srt = to_srt(transcript)
    assert srt == "1\n00:00:00,000 --> 00:00:01,500\n来电人：第一句 第二句 --> <b>&\n"
    vtt = to_vtt(transcript)
    assert vtt.endswith("<v 来电人>第一句 第二句 --&gt; &lt;b&gt;&amp;\n")
    assert to_text(transcript) == "[   0.00 ->    1.50] caller: 第一句 第二句 --> <b>&"
