"""Optional LLM extractor over any OpenAI-compatible chat-completions endpoint.

The model sees the numbered transcript and the rules' draft, and must answer with JSON that
follows a schema whose enums are ours. Its answer only refines the rules' result: a field whose
value is invalid (outside an enum, a phone that was never said, a street not in the district)
keeps the rules' value; any transport or format error returns the rules' result unchanged; and a
phone number or district the caller confirmed is never replaced.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from typing import Any

import httpx

from callscribe.schema import APPEAL_TYPES, CATEGORIES, DISTRICTS, URGENCIES, CaseFields, Transcript
from callscribe.summarize.dialogue import cite, turns_of
from callscribe.summarize.gazetteer import gazetteer
from callscribe.summarize.phone import spoken_numbers

__all__ = ["LlmExtractor", "extractor_from_settings", "response_schema"]

log = logging.getLogger(__name__)

_LLM_CONFIDENCE = 0.75
_NAME = re.compile(r"[\u4e00-\u9fff]{1,4}(先生|女士)?")
_PROTECTED = ("callback_phone", "district")
_SYSTEM = (
    "你是北京12345热线的工单填写助手。根据通话记录填写工单字段，只依据来电人所说的内容，"
    "不要编造。电话只写数字；区用16个区的全称；街道用官方名称（如望京街道）；"
    "标题不超过30字；摘要不超过200字，格式为“来电人反映：…。诉求：…。”。"
    "rules_draft 是规则引擎的初稿，可修正其中的错误。只输出符合 JSON schema 的 JSON。"
)


def response_schema() -> dict[str, Any]:
    """The JSON schema the model must follow; its enums are the work order's."""
    text = {"type": ["string", "null"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "caller_name": text,
            "callback_phone": {"type": ["string", "null"], "pattern": r"^(1[3-9]\d{9}|\d{8})$"},
            "district": {"enum": [*DISTRICTS, None]},
            "street": text,
            "community": text,
            "address": text,
            "appeal_type": {"enum": list(APPEAL_TYPES)},
            "category": {"enum": list(CATEGORIES)},
            "urgency": {"enum": list(URGENCIES)},
            "needs_callback": {"type": ["boolean", "null"]},
            "confidential": {"type": ["boolean", "null"]},
            "title": {"type": "string", "maxLength": 30},
            "summary": {"type": "string", "maxLength": 200},
        },
        "required": [
            "caller_name", "callback_phone", "district", "street", "community", "address",
            "appeal_type", "category", "urgency", "needs_callback", "confidential", "title",
            "summary",
        ],
    }  # fmt: skip


class LlmExtractor:
    """Refines the rules' fields with a chat model behind an OpenAI-compatible API."""

    def __init__(
        self, url: str, model: str, *, key: str | None = None, timeout_s: float = 20.0
    ) -> None:
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    def refine(self, transcript: Transcript, offline: CaseFields) -> CaseFields:
        """The rules' ``offline`` fields, improved where the model's answer is valid."""
        try:
            answer = self._ask(transcript, offline)
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as err:
            log.warning("LLM extractor failed (%s: %s); keeping the rules' fields",
                        type(err).__name__, str(err)[:200])  # fmt: skip
            return offline
        return merge_answer(transcript, offline, answer, model=self.model)

    def _ask(self, transcript: Transcript, offline: CaseFields) -> dict[str, Any]:
        lines = [
            f"[{i}] {s.speaker or '未知'}: {s.text}" for i, s in enumerate(transcript.segments)
        ]
        draft = {k: v for k, v in offline.to_dict().items() if k not in ("evidence", "confidence")}
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {
                    "role": "user",
                    "content": "通话记录：\n" + "\n".join(lines)
                    + "\n\nrules_draft: " + json.dumps(draft, ensure_ascii=False),
                },
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "case_fields", "strict": True, "schema": response_schema()},
            },
        }  # fmt: skip
        response = httpx.post(
            self.endpoint, json=body, headers=self._headers, timeout=self.timeout_s
        )
        response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
        answer = json.loads(content)
        if not isinstance(answer, dict):
            raise ValueError("the model's answer is not a JSON object")
        return answer


def _said_digits(transcript: Transcript) -> set[str]:
    return {n.digits for seg in transcript.segments for n in spoken_numbers(seg.text)}


def _valid(name: str, value: Any, transcript: Transcript, district: str | None) -> bool:
    if name in ("appeal_type", "category", "urgency"):
        enum = {"appeal_type": APPEAL_TYPES, "category": CATEGORIES, "urgency": URGENCIES}[name]
        return value in enum
    if value is None:
        return False
    if name == "district":
        return value in DISTRICTS
    if name == "callback_phone":
        return isinstance(value, str) and value in _said_digits(transcript)
    if name == "street":
        return isinstance(value, str) and district in gazetteer().streets.get(value, [])
    if name in ("needs_callback", "confidential"):
        return isinstance(value, bool)
    if name == "caller_name":
        return isinstance(value, str) and _NAME.fullmatch(value) is not None
    limits = {"title": 30, "summary": 200, "community": 40, "address": 80}
    return isinstance(value, str) and 0 < len(value) <= limits.get(name, 0)


def merge_answer(
    transcript: Transcript, offline: CaseFields, answer: dict[str, Any], *, model: str
) -> CaseFields:
    """Take each valid, unprotected field of ``answer`` over ``offline``."""
    fields = copy.deepcopy(offline)
    turns = turns_of(transcript)
    taken = []
    order = ["district", *[k for k in response_schema()["properties"] if k != "district"]]
    for name in order:
        if name not in answer:
            continue
        value = answer[name]
        if value == getattr(fields, name):
            continue
        if name in _PROTECTED and name in offline.confirmed and getattr(offline, name):
            log.info("LLM answer for %s ignored: the caller confirmed the rules' value", name)
            continue
        if not _valid(name, value, transcript, fields.district):
            log.info("LLM answer for %s rejected as invalid", name)
            continue
        setattr(fields, name, value)
        source = [t for t in turns if isinstance(value, str) and value in t.text]
        if source:
            cite(fields, name, source[:3], _LLM_CONFIDENCE)
        else:
            fields.confidence[name] = _LLM_CONFIDENCE
        taken.append(name)
    fields.extractor = f"llm:{model}" if taken else "rules"
    return fields


def extractor_from_settings() -> LlmExtractor | None:
    """An extractor configured by CALLSCRIBE_LLM_URL/_MODEL/_KEY/_TIMEOUT_S, or None."""
    from callscribe.settings import get_settings

    settings = get_settings()
    if not settings.llm_url:
        return None
    key = settings.llm_key.get_secret_value() if settings.llm_key else None
    return LlmExtractor(
        settings.llm_url, settings.llm_model or "default", key=key, timeout_s=settings.llm_timeout_s
    )
