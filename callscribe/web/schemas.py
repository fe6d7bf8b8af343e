"""Request and response bodies of the case desk's HTTP API (they make the published OpenAPI).

Case bodies mirror :class:`callscribe.schema.CaseFields` and :class:`~callscribe.schema.Transcript`
and accept keys added later (``extra="allow"``). Text may not contain NUL characters (PostgreSQL
cannot store them) and numbers must be finite.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callscribe.schema import APPEAL_TYPES, CATEGORIES, DISTRICTS, URGENCIES

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
]

CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Call ids as intake makes them: a sidecar id or the SHA-256 of the audio."""


def _reject_nul(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _reject_nul(data)


class _Open(_Body):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """Every error: a human-readable ``detail``; validation errors also list ``errors``."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class EvidenceBody(_Open):
    segment: int
    start: float
    end: float
    text: str


class CaseFieldsBody(_Open):
    """The work-order fields as the machine filled them (``CaseFields.to_dict()``)."""

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
    evidence: dict[str, list[EvidenceBody]] = Field(default_factory=dict)
    confidence: dict[str, float] = Field(default_factory=dict)
    extractor: str = "rules"
    confirmed: list[str] = Field(default_factory=list)


class WordBody(_Open):
    start: float
    end: float
    word: str
    probability: float


class SegmentBody(_Open):
    start: float
    end: float
    text: str
    speaker: Literal["agent", "caller"] | None = None
    confidence: float = 0.0
    words: list[WordBody] | None = None


class TranscriptBody(_Open):
    """The call's transcript (``Transcript.to_dict()``)."""

    duration: float = Field(default=0.0, ge=0)
    language: str = "zh"
    text: str = ""
    segments: list[SegmentBody] = Field(default_factory=list)
    engine: str = ""
    model: str = ""


class CaseWrite(_Body):
    """``PUT /api/cases/{call_id}``: the worker's write-back of one call."""

    call_id: str = Field(pattern=CALL_ID_PATTERN)
    status: Literal["auto-filled"] = "auto-filled"
    fields: CaseFieldsBody
    transcript: TranscriptBody
    metadata: dict[str, Any] = Field(default_factory=dict)


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


class FieldEdits(_Body):
    """An operator's corrections; only the fields sent are changed (``null`` clears one)."""

    caller_name: str | None = Field(default=None, max_length=64)
    callback_phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+\- ]*$")
    district: str | None = Field(default=None, json_schema_extra={"enum": [*DISTRICTS, None]})
    street: str | None = Field(default=None, max_length=64)
    community: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200)
    appeal_type: str = Field(default="其他", json_schema_extra={"enum": list(APPEAL_TYPES)})
    category: str = Field(default="其他", json_schema_extra={"enum": list(CATEGORIES)})
    urgency: str = Field(default="一般", json_schema_extra={"enum": list(URGENCIES)})
    needs_callback: bool | None = None
    confidential: bool | None = None
    title: str = Field(default="", max_length=100)
    summary: str = Field(default="", max_length=2000)

    @field_validator("district")
    @classmethod
    def _district(cls, value: str | None) -> str | None:
        return _one_of(DISTRICTS, value, nullable=True)

    @field_validator("appeal_type")
    @classmethod
    def _appeal_type(cls, value: str) -> str:
        return str(_one_of(APPEAL_TYPES, value, nullable=False))

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return str(_one_of(CATEGORIES, value, nullable=False))

    @field_validator("urgency")
    @classmethod
    def _urgency(cls, value: str) -> str:
        return str(_one_of(URGENCIES, value, nullable=False))


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
