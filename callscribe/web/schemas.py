"""Request and response bodies of the case desk's HTTP API (they make the published OpenAPI).

Case bodies mirror :class:`callscribe.schema.CaseFields` and :class:`~callscribe.schema.Transcript`
and accept keys added later (``extra="allow"``, a few and small). Text may not contain NUL
characters (PostgreSQL cannot store them) and numbers must be finite.

The write-back contract is bounded: enumerated fields take only the work order's values, every
text and list has a cap well above what the worker writes (a two-hour call included), and the
metadata is held to the intake's own limits. A body past a cap is refused (422 naming the field)
rather than stored and then shown on every list page.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callscribe.callids import CALL_ID_PATTERN
from callscribe.intake.metadata import METADATA_MAX_BYTES, METADATA_MAX_DEPTH
from callscribe.schema import APPEAL_TYPES, CATEGORIES, DISTRICTS, FIELD_MAX_CHARS, URGENCIES

__all__ = [
    "CALL_ID_PATTERN",
    "CaseDetail",
    "CaseFieldsBody",
    "CasePage",
    "CaseSummary",
    "CaseWrite",
    "Credentials",
    "DeskOptions",
    "ErrorBody",
    "FieldEditRequest",
    "PrincipalBody",
    "SignInBody",
    "StatusChange",
    "StoredCaseBody",
    "TranscriptBody",
    "depth_over",
]


SEGMENTS_MAX = 5000
"""Segments in one transcript: a two-hour call has about 2,000."""
SEGMENT_TEXT_MAX = 2000
"""Characters in one segment (Whisper writes at most a few hundred)."""
TRANSCRIPT_TEXT_MAX = 500_000
"""Characters in a whole transcript."""
WORDS_MAX = 2000
"""Timed words in one segment."""
EVIDENCE_ITEMS_MAX = 50
"""Evidence items for one field."""
NAMES_MAX = 32
"""Keys in the evidence and confidence maps, entries in ``confirmed``."""
EXTRA_KEYS_MAX = 16
"""Keys an object may carry beyond those it declares (keys added later)."""
EXTRA_BYTES_MAX = 16 * 1024
"""Bytes of JSON of those extra keys' values, all together."""
CASE_METADATA_BYTES_MAX = 2 * METADATA_MAX_BYTES
"""Bytes of the metadata as JSON: what intake accepted (64 KiB read) plus what it added,
re-encoded (numbers may lengthen: ``1e2`` becomes ``100.0``)."""


def _reject_nul(value: Any) -> Any:
    """Refuse NUL in any string, key or value, at any depth (iteratively: no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text may not contain NUL characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels (the value is 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _reject_nul(data)


class _Open(_Body):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    @model_validator(mode="after")
    def _small_extras(self) -> _Open:
        extra = self.model_extra or {}
        if len(extra) > EXTRA_KEYS_MAX:
            raise ValueError(f"at most {EXTRA_KEYS_MAX} keys beyond the declared ones")
        if extra and (
            depth_over(extra, METADATA_MAX_DEPTH) or _json_bytes(extra) > EXTRA_BYTES_MAX
        ):
            raise ValueError(
                f"keys beyond the declared ones may hold at most {EXTRA_BYTES_MAX} bytes of "
                f"JSON, {METADATA_MAX_DEPTH} levels deep"
            )
        return self


class ErrorBody(BaseModel):
    """Every error: a human-readable ``detail``; validation errors also list ``errors``."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class EvidenceBody(_Open):
    segment: int = Field(ge=0, le=SEGMENTS_MAX)
    start: float
    end: float
    text: str = Field(max_length=SEGMENT_TEXT_MAX)


class _WorkOrderFields(BaseModel):
    """The work-order fields as both the worker's write and an operator's edit carry them:
    district, appeal type, category and urgency only from the allowed values, text capped."""

    caller_name: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["caller_name"])
    callback_phone: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["callback_phone"])
    district: str | None = Field(default=None, json_schema_extra={"enum": [*DISTRICTS, None]})
    street: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["street"])
    community: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["community"])
    address: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["address"])
    appeal_type: str = Field(default="其他", json_schema_extra={"enum": list(APPEAL_TYPES)})
    category: str = Field(default="其他", json_schema_extra={"enum": list(CATEGORIES)})
    urgency: str = Field(default="一般", json_schema_extra={"enum": list(URGENCIES)})
    needs_callback: bool | None = None
    confidential: bool | None = None
    title: str = Field(default="", max_length=FIELD_MAX_CHARS["title"])
    summary: str = Field(default="", max_length=FIELD_MAX_CHARS["summary"])

    @field_validator("district", check_fields=False)
    @classmethod
    def _district(cls, value: str | None) -> str | None:
        return _one_of(DISTRICTS, value, nullable=True)

    @field_validator("appeal_type", check_fields=False)
    @classmethod
    def _appeal_type(cls, value: str) -> str:
        return str(_one_of(APPEAL_TYPES, value, nullable=False))

    @field_validator("category", check_fields=False)
    @classmethod
    def _category(cls, value: str) -> str:
        return str(_one_of(CATEGORIES, value, nullable=False))

    @field_validator("urgency", check_fields=False)
    @classmethod
    def _urgency(cls, value: str) -> str:
        return str(_one_of(URGENCIES, value, nullable=False))


class CaseFieldsBody(_Open, _WorkOrderFields):
    """The work-order fields as the machine filled them (``CaseFields.to_dict()``).

    Enumerated fields take the work order's values only; text is capped as an operator's edits
    are (:class:`FieldEdits`).
    """

    evidence: dict[str, list[EvidenceBody]] = Field(default_factory=dict, max_length=NAMES_MAX)
    confidence: dict[str, float] = Field(default_factory=dict, max_length=NAMES_MAX)
    extractor: str = Field(default="rules", max_length=64)
    confirmed: list[str] = Field(default_factory=list, max_length=NAMES_MAX)

    @field_validator("evidence")
    @classmethod
    def _evidence(cls, value: dict[str, list[EvidenceBody]]) -> dict[str, list[EvidenceBody]]:
        for name, items in value.items():
            _check_name(name)
            if len(items) > EVIDENCE_ITEMS_MAX:
                raise ValueError(f"{name}: at most {EVIDENCE_ITEMS_MAX} items")
        return value

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            _check_name(name)
        return value

    @field_validator("confirmed")
    @classmethod
    def _confirmed(cls, value: list[str]) -> list[str]:
        for name in value:
            _check_name(name)
        return value


class WordBody(_Open):
    start: float
    end: float
    word: str = Field(max_length=64)
    probability: float


class SegmentBody(_Open):
    start: float
    end: float
    text: str = Field(max_length=SEGMENT_TEXT_MAX)
    speaker: Literal["agent", "caller"] | None = None
    confidence: float = 0.0
    words: list[WordBody] | None = Field(default=None, max_length=WORDS_MAX)


class TranscriptBody(_Open):
    """The call's transcript (``Transcript.to_dict()``)."""

    duration: float = Field(default=0.0, ge=0)
    language: str = Field(default="zh", max_length=16)
    text: str = Field(default="", max_length=TRANSCRIPT_TEXT_MAX)
    segments: list[SegmentBody] = Field(default_factory=list, max_length=SEGMENTS_MAX)
    engine: str = Field(default="", max_length=64)
    model: str = Field(default="", max_length=1024)


class CaseWrite(_Body):
    """``PUT /api/cases/{call_id}``: the worker's write-back of one call."""

    call_id: str = Field(pattern=CALL_ID_PATTERN)
    status: Literal["auto-filled"] = "auto-filled"
    fields: CaseFieldsBody
    transcript: TranscriptBody
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"The call's metadata: at most {CASE_METADATA_BYTES_MAX} bytes of JSON, "
        f"{METADATA_MAX_DEPTH} levels deep.",
    )

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if depth_over(value, METADATA_MAX_DEPTH):
            raise ValueError(f"nested more than {METADATA_MAX_DEPTH} levels deep")
        if _json_bytes(value) > CASE_METADATA_BYTES_MAX:
            raise ValueError(f"over {CASE_METADATA_BYTES_MAX} bytes of JSON")
        return value


def _check_name(name: str) -> None:
    if not 0 < len(name) <= 64:
        raise ValueError("field names are 1-64 characters")


class StoredCaseBody(BaseModel):
    """A case as stored (the write-back contract's answer)."""

    case_id: str
    call_id: str
    status: str
    fields: dict[str, Any]
    transcript: dict[str, Any]
    created_at: str
    updated_at: str


def _one_of(allowed: tuple[str, ...], value: str | None, *, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return value


class FieldEdits(_Body, _WorkOrderFields):
    """An operator's corrections; only the fields sent are changed (``null`` clears one)."""

    callback_phone: str | None = Field(
        default=None, max_length=FIELD_MAX_CHARS["callback_phone"], pattern=r"^[0-9+\- ]*$"
    )


class FieldEditRequest(_Body):
    """``PATCH /api/desk/cases/{call_id}/fields``."""

    fields: FieldEdits
    revision: int | None = Field(
        default=None, ge=1, le=2**31, description="The revision edited; 409 if it moved on."
    )
    note: str | None = Field(default=None, max_length=500)


class StatusChange(_Body):
    """``POST /api/desk/cases/{call_id}/status``: take for review, confirm, reject, reopen."""

    status: Literal["in-review", "confirmed", "rejected"]
    revision: int | None = Field(default=None, ge=1, le=2**31)
    note: str | None = Field(default=None, max_length=500)


class CaseSummary(BaseModel):
    case_id: str
    call_id: str
    status: str
    revision: int
    reviewer: str | None
    title: str
    summary: str
    district: str | None
    category: str | None
    appeal_type: str | None
    urgency: str | None
    duration: float | None
    created_at: str
    updated_at: str


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class CaseEventBody(BaseModel):
    at: str
    actor: str
    action: Literal["created", "machine-update", "field-edit", "status"]
    field: str | None
    machine_value: Any
    old_value: Any
    new_value: Any
    from_status: str | None
    to_status: str | None
    note: str | None


class SegmentView(BaseModel):
    index: int
    start: float | None
    end: float | None
    speaker: str | None
    text: str | None
    confidence: float | None


class TranscriptView(BaseModel):
    duration: float | None
    language: str | None
    text: str | None
    segments: list[SegmentView]


class CaseDetail(CaseSummary):
    """One case for a review page: fields (current and machine), evidence, transcript, history."""

    fields: dict[str, Any]
    machine_fields: dict[str, Any]
    edited_fields: list[str]
    evidence: dict[str, Any]
    confidence: dict[str, Any]
    extractor: str | None
    confirmed: list[str]
    transcript: TranscriptView
    metadata: dict[str, Any]
    audio_url: str | None
    allowed_statuses: list[str]
    history: list[CaseEventBody]


class DeskOptions(BaseModel):
    """Values the pages offer in their filters and drop-downs."""

    statuses: list[str]
    districts: list[str]
    categories: list[str]
    appeal_types: list[str]
    urgencies: list[str]


class Credentials(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class PrincipalBody(BaseModel):
    name: str
    role: str
    kind: Literal["user", "service"]


class SignInBody(BaseModel):
    token: str
    expires_at: str
    user: PrincipalBody
