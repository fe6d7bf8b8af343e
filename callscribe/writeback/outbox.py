"""The write-back outbox: cases the ledger holds that the case system does not have yet.

The pipeline stores each call's transcript and fields in the ledger before it writes back, so
the outbox needs no store of its own: a call is pending write-back while the ledger has its
fields and its status is neither ``done`` nor ``failed``. That covers a write-back the queue is
still retrying, one the queue gave up on while the case system stayed down (the job leaves it
``writing-back``), and one whose process died mid-request. Draining sends each again from the
ledger; the call id is the case system's idempotency key, so a case that did arrive before the
crash is updated, never duplicated, and nothing is ever transcribed again.

Outcomes of one write-back, recorded in the ledger:

- stored (200/201): ``done`` with the case id.
- 409, the case is past the worker's reach (an operator confirmed it): ``done`` with the
  existing case id, the server's message kept as the call's note.
- any other 4xx: ``failed`` with the server's message (by the caller; see :func:`write_back`).
- unavailable after the client's retries: stays pending, the reason kept as the call's note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from callscribe.errors import (
    CaseSystemUnavailable,
    WriteBackConflict,
    WriteBackRejected,
)
from callscribe.ledger import CallLedger, CallRecord, CallStatus
from callscribe.observability import observe_call_finished, set_outbox_depth
from callscribe.writeback.contract import CaseSubmission, CaseSystem, StoredCase

__all__ = ["DrainReport", "Outbox", "PendingWriteBack", "write_back"]

log = logging.getLogger(__name__)

PENDING_STATUSES = (
    CallStatus.WRITING_BACK,
    CallStatus.QUEUED,
    CallStatus.EXTRACTING,
    CallStatus.TRANSCRIBING,
)
"""Ledger statuses in which a call that already has its fields is still owed a write-back."""

SCAN_LIMIT = 100_000
"""Most calls looked at per status when listing the outbox."""


def write_back(
    ledger: CallLedger, case_system: CaseSystem, submission: CaseSubmission
) -> StoredCase:
    """Write one call's case and record the outcome in the ledger.

    Returns the stored case, also on 409 (then the case the case system kept).

    Raises:
        WriteBackRejected: refused; the caller marks the call failed with the message.
        CaseSystemUnavailable: still unavailable after the client's retries; the call stays in
            the outbox with the reason as its note.
    """
    return _write_back(ledger, case_system, submission)[0]


def _write_back(
    ledger: CallLedger, case_system: CaseSystem, submission: CaseSubmission
) -> tuple[StoredCase, str | None]:
    """:func:`write_back`, also returning the case system's message when it kept its case."""
    call_id = submission.call_id
    try:
        stored = case_system.upsert_case(submission)
    except WriteBackConflict as err:
        kept = case_system.get_case(call_id)
        if kept is None:
            raise WriteBackRejected(f"{err}; yet it holds no case for the call") from err
        ledger.mark_done(call_id, kept.case_id)
        ledger.set_status(call_id, CallStatus.DONE, error=str(err))
        log.warning("call %s: case %s kept by the case system: %s", call_id, kept.case_id, err)
        return kept, str(err)
    except CaseSystemUnavailable as err:
        ledger.set_status(call_id, CallStatus.WRITING_BACK, error=str(err))
        raise
    ledger.mark_done(call_id, stored.case_id)
    log.info("call %s: case %s written back", call_id, stored.case_id)
    return stored, None


@dataclass(frozen=True)
class PendingWriteBack:
    """One call whose case the case system does not have yet."""

    call_id: str
    source_name: str
    status: str
    attempts: int
    note: str | None
    since: datetime


@dataclass
class DrainReport:
    """What one drain did. ``remaining`` is what is still pending afterwards."""

    delivered: list[str] = field(default_factory=list)
    kept_by_case_system: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    remaining: list[str] = field(default_factory=list)
    stopped_because: str | None = None


class Outbox:
    """Lists and drains pending write-backs, reading everything it sends from the ledger."""

    def __init__(self, ledger: CallLedger, case_system: CaseSystem) -> None:
        self.ledger = ledger
        self.case_system = case_system

    def pending(self) -> list[PendingWriteBack]:
        """Calls with stored fields and no case yet, oldest first."""
        records = [
            record
            for status in PENDING_STATUSES
            for record in self.ledger.list(status=status, limit=SCAN_LIMIT)
            if _owed(record)
        ]
        records.sort(key=lambda r: r.created_at)
        set_outbox_depth(len(records))
        return [
            PendingWriteBack(
                call_id=r.call_id,
                source_name=r.source_name,
                status=r.status,
                attempts=r.attempts,
                note=r.error,
                since=r.updated_at,
            )
            for r in records
        ]

    def deliver(self, call_id: str) -> StoredCase:
        """Write back one pending call from what the ledger holds (see :meth:`_deliver`)."""
        return self._deliver(call_id)[0]

    def _deliver(self, call_id: str) -> tuple[StoredCase, str | None]:
        """Write back one pending call from what the ledger holds.

        Returns the stored case and, on 409, the case system's message.

        Raises:
            KeyError: the ledger has no such call, or no fields for it yet.
            WriteBackRejected: refused; the call is marked failed with the server's message.
            CaseSystemUnavailable: still down; the call stays pending.
        """
        record = self.ledger.get(call_id)
        if record is None or record.transcript is None or record.fields is None:
            raise KeyError(f"call {call_id} has no stored transcript and fields to write back")
        self.ledger.begin_attempt(call_id)
        self.ledger.set_status(call_id, CallStatus.WRITING_BACK)
        submission = CaseSubmission(
            call_id=call_id,
            fields=record.fields,
            transcript=record.transcript,
            metadata=record.metadata,
        )
        try:
            delivered = _write_back(self.ledger, self.case_system, submission)
        except WriteBackRejected as err:
            self.ledger.set_status(call_id, CallStatus.FAILED, error=str(err))
            observe_call_finished(CallStatus.FAILED)
            log.warning("call %s: failed: %s", call_id, err)
            raise
        observe_call_finished(CallStatus.DONE)
        return delivered

    def drain(self) -> DrainReport:
        """Deliver every pending call, oldest first; stop at the first sign the system is down.

        Each call is delivered and recorded on its own, so a drain killed at any point loses
        nothing: what it did not record as done is still pending, and sending it again updates
        the same case.
        """
        report = DrainReport()
        for item in self.pending():
            try:
                _stored, conflict = self._deliver(item.call_id)
            except CaseSystemUnavailable as err:
                report.stopped_because = str(err)
                break
            except WriteBackRejected as err:
                report.rejected[item.call_id] = str(err)
                continue
            if conflict is None:
                report.delivered.append(item.call_id)
            else:
                report.kept_by_case_system.append(item.call_id)
        report.remaining = [item.call_id for item in self.pending()]
        return report


def _owed(record: CallRecord) -> bool:
    return record.transcript is not None and record.fields is not None
