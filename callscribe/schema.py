"""The data passed between stages, declared once.

Results are plain dataclasses; options are frozen. ``to_dict`` gives the JSON shapes of the
command-line contract (keys may be added, never renamed or removed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "APPEAL_TYPES",
    "CATEGORIES",
    "DISTRICTS",
    "URGENCIES",
    "CallAudio",
    "CaseFields",
    "Evidence",
    "Segment",
    "Speaker",
    "Transcript",
    "Word",
]

Speaker = Literal["agent", "caller"]

APPEAL_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬", "其他")
CATEGORIES = (
    "住房物业",
    "城乡建设",
    "交通管理",
    "公共服务",
    "环境保护",
    "市场管理",
    "劳动和社会保障",
    "医疗卫生",
    "教育",
    "社会秩序",
    "政务服务",
    "其他",
)
URGENCIES = ("一般", "紧急")
DISTRICTS = (
    "东城区",
    "西城区",
    "朝阳区",
    "丰台区",
    "石景山区",
    "海淀区",
    "门头沟区",
    "房山区",
    "通州区",
    "顺义区",
    "昌平区",
    "大兴区",
    "怀柔区",
    "平谷区",
    "密云区",
    "延庆区",
)


@dataclass
class CallAudio:
    """A decoded call: float32 mono channels at 16 kHz, kept apart when the recorder split them.

    Attributes:
        source: the file it came from (for messages; never shown to clients).
        channels: one array per channel, each float32 in [-1, 1] at ``sample_rate``.
        sample_rate: always 16 kHz after decoding.
        original_sample_rate: what the recorder wrote (8 kHz is normal on phone lines).
        speakers: the role of each channel, or None where it is unknown (mono calls).
        sha256: fingerprint of the file's bytes, the call id when no sidecar gives one.
    """

    source: str
    channels: list[npt.NDArray[np.float32]]
    sample_rate: int
    original_sample_rate: int
    speakers: list[Speaker | None]
    sha256: str
    codec: str = ""

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.channels[0]) / self.sample_rate if self.channels else 0.0

    def mono(self) -> npt.NDArray[np.float32]:
        """All channels mixed down to one."""
        if len(self.channels) == 1:
            return self.channels[0]
        mixed: npt.NDArray[np.float32] = np.mean(np.stack(self.channels), axis=0).astype(np.float32)
        return mixed


@dataclass
class Word:
    """One word (for Mandarin usually one or two characters) with its timing."""

    start: float
    end: float
    word: str
    probability: float


@dataclass
class Segment:
    """One stretch of speech by one speaker."""

    start: float
    end: float
    text: str
    speaker: Speaker | None = None
    confidence: float = 0.0
    words: list[Word] | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    rehearing: str | None = None
    """The digits of this turn decoded again alone (transcribe/rehear.py), where it says a
    number; stored with the words, as evidence for the extractor, not as transcript text."""
    name_rehearing: str | None = None
    """This caller turn, the answer to the agent's name question, decoded again alone; stored
    like ``rehearing``, read only by the name rules."""

    def to_dict(self, *, words: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "speaker": self.speaker,
            "text": self.text,
            "confidence": round(self.confidence, 4),
        }
        if words and self.words is not None:
            out["words"] = [asdict(w) for w in self.words]
        if words and self.rehearing is not None:
            out["rehearing"] = self.rehearing
        if words and self.name_rehearing is not None:
            out["name_rehearing"] = self.name_rehearing
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        raw_words = data.get("words")
        return cls(
            start=float(data.get("start", 0.0)),
            end=float(data.get("end", 0.0)),
            text=str(data.get("text", "")),
            speaker=data.get("speaker"),
            confidence=float(data.get("confidence", 0.0)),
            words=[Word(**w) for w in raw_words] if raw_words else None,
            rehearing=str(data["rehearing"]) if data.get("rehearing") else None,
            name_rehearing=str(data["name_rehearing"]) if data.get("name_rehearing") else None,
        )


@dataclass
class Transcript:
    """What the transcription stage hands on: the call's text, turn by turn."""

    duration: float
    segments: list[Segment]
    language: str = "zh"
    engine: str = ""
    model: str = ""

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def to_dict(self, *, words: bool = False) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 3),
            "language": self.language,
            "text": self.text,
            "segments": [s.to_dict(words=words) for s in self.segments],
            "engine": self.engine,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            duration=float(data.get("duration", 0.0)),
            language=str(data.get("language", "zh")),
            segments=[Segment.from_dict(s) for s in data.get("segments", [])],
            engine=str(data.get("engine", "")),
            model=str(data.get("model", "")),
        )


@dataclass
class Evidence:
    """Where in the transcript a field's value was found."""

    segment: int
    start: float
    end: float
    text: str


FIELD_MAX_CHARS: dict[str, int] = {
    "caller_name": 64,
    "callback_phone": 32,
    "street": 64,
    "community": 64,
    "address": 200,
    "title": 100,
    "summary": 2000,
}
"""The longest value each free-text work-order field may hold, wherever it is written: the
worker's write and an operator's edit through the API, and the review page. One table, so a
value the page accepts is never one the API refuses."""


@dataclass
class CaseFields:
    """The work-order (工单) fields filled from one call, each with evidence and confidence."""

    caller_name: str | None = None
    callback_phone: str | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    address: str | None = None
    appeal_type: str = "其他"
    category: str = "其他"
    urgency: str = "一般"
    needs_callback: bool | None = None
    confidential: bool | None = None
    title: str = ""
    summary: str = ""
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    extractor: str = "rules"
    confirmed: list[str] = field(default_factory=list)
    """Fields the caller confirmed (said, or agreed to the agent's read-back)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseFields:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["evidence"] = {
            name: [Evidence(**e) for e in items]
            for name, items in (data.get("evidence") or {}).items()
        }
        return cls(**known)
