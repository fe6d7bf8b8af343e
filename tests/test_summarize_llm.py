"""The LLM extractor against a fake OpenAI-compatible endpoint: a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from callscribe.schema import APPEAL_TYPES, CATEGORIES, Segment, Transcript
from callscribe.settings import get_settings
from callscribe.summarize import extract_case_fields
from callscribe.summarize.fields import extract_offline
from callscribe.summarize.llm import LlmExtractor

CALL = Transcript(
    duration=24.0,
    segments=[
        Segment(0, 4, "您好，北京12345。", "agent"),
        Segment(4, 8, "你好，朝阳区望京西园三区的电梯又坏了，物业一直不修。", "caller"),
        Segment(8, 12, "您贵姓？电话多少？", "agent"),
        Segment(12, 16, "我叫赵建国，电话一三八一二三四五六七八。", "caller"),
        Segment(16, 20, "一三八一二三四五六七八，对吗？", "agent"),
        Segment(20, 24, "对。", "caller"),
    ],
)
GOOD = {
    "caller_name": "赵建国",
    "callback_phone": "13812345678",
    "district": "朝阳区",
    "street": "望京街道",
    "community": "望京西园三区社区",
    "address": "朝阳区望京西园三区",
    "appeal_type": "投诉",
    "category": "住房物业",
    "urgency": "一般",
    "needs_callback": None,
    "confidential": None,
    "title": "望京西园三区电梯反复故障物业不修",
    "summary": "来电人反映：朝阳区望京西园三区电梯反复故障，物业一直不修。诉求：尽快修复电梯。",
}


class FakeLLM(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions as ``mode`` says; keeps the requests it got."""

    mode: ClassVar[str] = "good"
    answer: ClassVar[dict[str, Any]] = GOOD
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLLM.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                 "body": body})  # fmt: skip
        if FakeLLM.mode == "slow":
            time.sleep(1.0)
        if FakeLLM.mode == "500":
            self._send(500, b'{"error": "overloaded"}')
            return
        content = json.dumps(FakeLLM.answer, ensure_ascii=False)
        if FakeLLM.mode == "not-json":
            content = "好的，以下是工单：……"
        reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        self._send(200, json.dumps(reply, ensure_ascii=False).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def llm_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def reset_fake() -> None:
    FakeLLM.mode, FakeLLM.answer, FakeLLM.requests = "good", dict(GOOD), []


def _refine(url: str, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    offline = extract_offline(CALL)
    return offline, LlmExtractor(url, "fake-model", key="sk-test", timeout_s=timeout_s).refine(
        CALL, offline
    )


def test_good_answer_is_taken_and_the_request_is_schema_constrained(llm_url: str) -> None:
    offline, fields = _refine(llm_url)
    assert fields.extractor == "llm:fake-model"
    assert fields.title == GOOD["title"]
    assert fields.summary == GOOD["summary"]
    assert fields.confidence["title"] == 0.75
    (request,) = FakeLLM.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    schema = request["body"]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["category"]["enum"] == list(CATEGORIES)
    assert schema["properties"]["appeal_type"]["enum"] == list(APPEAL_TYPES)
    assert "一三八一二三四五六七八" in request["body"]["messages"][1]["content"]
    assert offline.title != fields.title


def test_invalid_enum_keeps_the_rules_value(llm_url: str) -> None:
    FakeLLM.answer = {**GOOD, "category": "物业纠纷", "appeal_type": "抱怨", "urgency": "很急"}
    offline, fields = _refine(llm_url)
    assert (fields.category, fields.appeal_type, fields.urgency) == (
        offline.category, offline.appeal_type, offline.urgency,
    )  # fmt: skip
    assert fields.category == "住房物业"
    assert fields.title == GOOD["title"]


def test_timeout_falls_back_to_the_rules(llm_url: str) -> None:
    FakeLLM.mode = "slow"
    started = time.perf_counter()
    offline, fields = _refine(llm_url, timeout_s=0.2)
    assert time.perf_counter() - started < 0.9
    assert fields == offline
    assert fields.extractor == "rules"


@pytest.mark.parametrize("mode", ["500", "not-json"])
def test_server_error_or_prose_falls_back(llm_url: str, mode: str) -> None:
    FakeLLM.mode = mode
    offline, fields = _refine(llm_url)
    assert len(FakeLLM.requests) == 1
    assert fields == offline


def test_unreachable_endpoint_falls_back() -> None:
    offline, fields = _refine("http://127.0.0.1:9/v1", timeout_s=0.5)
    assert fields == offline


def test_confirmed_phone_and_district_are_never_overridden(llm_url: str) -> None:
    FakeLLM.answer = {**GOOD, "callback_phone": "13999999999", "district": "海淀区"}
    offline, fields = _refine(llm_url)
    assert {"callback_phone", "district"} <= set(offline.confirmed)
    assert fields.callback_phone == "13812345678"
    assert fields.district == "朝阳区"
    assert fields.title == GOOD["title"]


def test_a_phone_never_said_is_rejected_even_when_unconfirmed(llm_url: str) -> None:
    call = Transcript(
        duration=4, segments=[Segment(0, 4, "路灯坏了，我电话一三八一二三四五六七八")]
    )
    FakeLLM.answer = {**GOOD, "callback_phone": "13700000000"}
    offline = extract_offline(call)
    assert offline.confirmed == []
    fields = LlmExtractor(llm_url, "m").refine(call, offline)
    assert fields.callback_phone == "13812345678"


def test_extract_case_fields_uses_the_configured_endpoint(
    llm_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSCRIBE_LLM_URL", llm_url)
    monkeypatch.setenv("CALLSCRIBE_LLM_MODEL", "qwen-test")
    get_settings.cache_clear()
    fields = extract_case_fields(CALL)
    assert fields.extractor == "llm:qwen-test"
    assert FakeLLM.requests[0]["body"]["model"] == "qwen-test"
    assert FakeLLM.requests[0]["auth"] is None


def test_without_configuration_no_request_is_made(llm_url: str) -> None:
    fields = extract_case_fields(CALL)
    assert fields.extractor == "rules"
    assert FakeLLM.requests == []
