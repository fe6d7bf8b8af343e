"""Run the stages for one call, resuming from whatever the ledger already holds.

Used in-process by `callscribe process` and by the rq job. Each stage stores its result before
the next starts, and each is idempotent on the call id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from callscribe import defaults
from callscribe.audio import decode_call_audio
from callscribe.ledger import CallLedger, CallRecord, CallStatus
from callscribe.observability import observe_call_finished, observe_stage
from callscribe.schema import CaseFields, Transcript
from callscribe.summarize import extract_case_fields
from callscribe.transcribe import Transcriber
from callscribe.writeback.contract import CaseSubmission, CaseSystem, StoredCase
from callscribe.writeback.outbox import write_back

__all__ = ["DurationCallback", "ProgressCallback", "run_call"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str], None]
"""Called with the status word each time a stage starts."""

DurationCallback = Callable[[float], None]
"""Called with the audio's duration in seconds once it is decoded, before transcription."""


def run_call(
    call_id: str,
    *,
    ledger: CallLedger,
    transcriber: Callable[[], Transcriber],
    case_system: CaseSystem,
    agent_channel: str = "left",
    max_call_seconds: float = defaults.MAX_CALL_SECONDS,
    progress: ProgressCallback | None = None,
    on_audio_duration: DurationCallback | None = None,
) -> StoredCase:
    """Transcribe, extract and write back one registered call.

    ``transcriber`` is a factory so that a call resuming after transcription, or whose audio does
    not decode, never loads a model.
    ``on_audio_duration`` lets the rq job raise its time limit once the duration is known.
    Errors propagate unchanged; the caller records them.
    """
    started = time.perf_counter()
    record = _require(ledger, call_id)
    ledger.begin_attempt(call_id)

    def stage(status: str) -> None:
        ledger.set_status(call_id, status)
        if progress is not None:
            progress(status)

    transcript = record.transcript
    transcribed_now = transcript is None
    if transcript is None:
        stage(CallStatus.TRANSCRIBING)
        transcript = _transcribe(
            record, transcriber, agent_channel, max_call_seconds, on_audio_duration
        )
        ledger.save_transcript(call_id, transcript)

    fields = record.fields
    if fields is None:
        stage(CallStatus.EXTRACTING)
        fields = _extract(call_id, transcript)
        ledger.save_fields(call_id, fields)

    stage(CallStatus.WRITING_BACK)
    writing = time.perf_counter()
    stored = write_back(
        ledger,
        case_system,
        CaseSubmission(
            call_id=call_id, fields=fields, transcript=transcript, metadata=record.metadata
        ),
    )
    observe_stage(CallStatus.WRITING_BACK, time.perf_counter() - writing)
    observe_call_finished(
        CallStatus.DONE,
        audio_seconds=transcript.duration if transcribed_now else None,
        processing_seconds=time.perf_counter() - started,
    )
    if progress is not None:
        progress(CallStatus.DONE)
    return stored


def _require(ledger: CallLedger, call_id: str) -> CallRecord:
    record = ledger.get(call_id)
    if record is None:
        raise KeyError(f"unknown call id {call_id}")
    return record


def _transcribe(
    record: CallRecord,
    transcriber: Callable[[], Transcriber],
    agent_channel: str,
    max_seconds: float,
    on_audio_duration: DurationCallback | None,
) -> Transcript:
    started = time.perf_counter()
    audio = decode_call_audio(
        Path(record.audio_path),
        agent_channel=agent_channel,
        max_seconds=max_seconds,
        metadata=record.metadata,
        # Errors travel into logs and rq's tracebacks: name the call, not its file, whose
        # name may hold the caller's number.
        display_name=f"call {record.call_id}",
    )
    decoded = time.perf_counter()
    observe_stage("decoding", decoded - started)
    if on_audio_duration is not None:
        on_audio_duration(audio.duration)
    transcript = transcriber().transcribe(audio)
    observe_stage(CallStatus.TRANSCRIBING, time.perf_counter() - decoded)
    log.info(
        "call %s: transcribed %.1fs of audio in %.1fs (%d segments)",
        record.call_id,
        audio.duration,
        time.perf_counter() - started,
        len(transcript.segments),
    )
    return transcript


def _extract(call_id: str, transcript: Transcript) -> CaseFields:
    started = time.perf_counter()
    fields = extract_case_fields(transcript)
    elapsed = time.perf_counter() - started
    observe_stage(CallStatus.EXTRACTING, elapsed)
    log.info("call %s: extracted fields in %.0f ms", call_id, elapsed * 1e3)
    return fields
