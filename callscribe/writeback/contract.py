"""The write-back contract every case system implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from callscribe.schema import CaseFields, Transcript

__all__ = ["CaseSubmission", "CaseSystem", "StoredCase"]


@dataclass(frozen=True)
class CaseSubmission:
    """What the worker writes for one call. ``call_id`` is the idempotency key."""

    call_id: str
    fields: CaseFields
    transcript: Transcript
    status: str = "auto-filled"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredCase:
    """A case as the case system holds it."""

    case_id: str
    call_id: str
    status: str
    fields: dict[str, Any]
    transcript: dict[str, Any]
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "call_id": self.call_id,
            "status": self.status,
            "fields": self.fields,
            "transcript": self.transcript,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class CaseSystem(Protocol):
    """Create-or-update a case per call id; a repeated write updates, never duplicates."""

    def upsert_case(self, submission: CaseSubmission) -> StoredCase: ...

    def get_case(self, call_id: str) -> StoredCase | None: ...
