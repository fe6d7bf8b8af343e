"""``callscribe eval e2e``: the whole pipeline on labelled recordings, scored end to end.

Each line of the manifest names a recording and what was said and meant in it::

    {"id": "call-01", "audio": "call-01.flac", "agent_channel": "left",
     "turns": [["agent", "您好，北京12345。"], ["caller", "…"]],
     "labels": {"district": "朝阳区", "callback_phone": null}}

``audio`` is relative to the manifest and must stay inside its folder; ``agent_channel`` is
optional (default ``CALLSCRIBE_AGENT_CHANNEL``). Other keys are ignored. The audio is decoded and
transcribed as ``callscribe process`` does it, the fields are extracted from that transcript and
scored as ``callscribe eval fields`` scores them, and the transcript is scored against the turns
(e2e_score.py). The manifest comes from outside: its size and each line are bounded, and a
bad line or a call that fails is reported with its line number; the other calls go on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callscribe.cli._common import echo_json, reported, settings_or_exit
from callscribe.cli.e2e_score import TranscriptScore, score_transcript, summarise_transcripts
from callscribe.errors import ConfigurationError, ModelError, error_line, one_line

if TYPE_CHECKING:
    from callscribe.schema import Speaker, Transcript
    from callscribe.settings import Settings
    from callscribe.summarize.evaluate import FieldScore
    from callscribe.transcribe import Transcriber

__all__ = ["CallResult", "Entry", "Failure", "eval_e2e", "read_e2e_manifest", "run_e2e"]

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
"""A line holds one call's reference text and labels: a 30-minute call is under 100 KB."""
MAX_CALLS = 10_000
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Call ids name the stored transcript file (ID.json), so they are kept to safe file names."""
_ROLES = ("agent", "caller", None)


@dataclass(frozen=True)
class Entry:
    """One valid manifest line."""

    line: int
    where: str
    """``MANIFEST:LINE``, for messages."""
    id: str
    audio: Path
    agent_channel: str
    turns: tuple[tuple[Speaker | None, str], ...]
    labels: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """A manifest line that could not be scored, with a one-line reason that names the line."""

    line: int
    id: str | None
    reason: str


@dataclass(frozen=True)
class CallResult:
    """One call scored: its transcript against the turns, and where the transcript came from."""

    entry: Entry
    transcript: TranscriptScore
    stored: bool
    """True when the transcript was read from ``--transcripts`` instead of decoded now."""


def read_e2e_manifest(path: Path, default_channel: str) -> list[Entry | Failure]:
    """Every line of the manifest, as an entry or as the reason it cannot be one.

    Raises:
        ConfigurationError: the manifest as a whole cannot be read or is over the size limits.
    """
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ConfigurationError(
                f"{path.name}: manifest is {size} bytes, over the limit of {MAX_MANIFEST_BYTES}"
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as err:
        raise ConfigurationError(f"{path.name}: cannot read the manifest: {err}") from err
    if len(data) > MAX_MANIFEST_BYTES:
        raise ConfigurationError(f"{path.name}: manifest is over the limit of {MAX_MANIFEST_BYTES}")
    lines = [(n, raw) for n, raw in enumerate(data.split(b"\n"), 1) if raw.strip()]
    if len(lines) > MAX_CALLS:
        raise ConfigurationError(f"{path.name}: {len(lines)} calls, over the limit of {MAX_CALLS}")
    if not lines:
        raise ConfigurationError(f"{path.name}: the manifest has no calls")
    folder = path.parent.resolve()
    out: list[Entry | Failure] = []
    seen: set[str] = set()
    for number, raw in lines:
        try:
            entry = _entry(f"{path.name}:{number}", number, raw, folder, default_channel)
            if entry.id in seen:
                raise ValueError(f"call id {entry.id!r} appears twice")
            seen.add(entry.id)
            out.append(entry)
        except ValueError as err:
            out.append(Failure(number, _loose_id(raw), f"{path.name}:{number}: {error_line(err)}"))
    return out


def _loose_id(raw: bytes) -> str | None:
    """The line's id for the report when the line is otherwise unusable, if it has a safe one."""
    if len(raw) > MAX_LINE_BYTES:
        return None
    try:
        value = json.loads(raw).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _entry(where: str, number: int, raw: bytes, folder: Path, default_channel: str) -> Entry:
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"line is {len(raw)} bytes, over the limit of {MAX_LINE_BYTES}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError("not UTF-8 text") from err
    except RecursionError as err:
        raise ValueError("not JSON: nested too deeply") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON: {err.msg} at column {err.colno}") from err
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    call_id = data.get("id")
    if not isinstance(call_id, str) or not _ID.fullmatch(call_id):
        raise ValueError(
            "id must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    channel = data.get("agent_channel", default_channel)
    if channel not in ("left", "right"):
        raise ValueError(
            f"agent_channel must be 'left' or 'right', not {one_line(str(channel), 20)!r}"
        )
    labels = data.get("labels")
    if not isinstance(labels, dict):
        raise ValueError("labels must be a JSON object")
    audio = _audio(data.get("audio"), folder)
    return Entry(number, where, call_id, audio, channel, _turns(data), labels)


def _audio(value: object, folder: Path) -> Path:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValueError("audio must be a file name relative to the manifest")
    if os.path.isabs(value):
        raise ValueError("audio must be relative to the manifest, not an absolute path")
    audio = (folder / value).resolve()
    if not audio.is_relative_to(folder):
        raise ValueError(f"audio {one_line(value, 80)!r} is outside the manifest's folder")
    if not audio.is_file():
        raise ValueError(f"audio {one_line(value, 80)!r} is not a file")
    return audio


def _turns(data: dict[str, Any]) -> tuple[tuple[Speaker | None, str], ...]:
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ValueError("turns must be a non-empty list of [role, text]")
    out: list[tuple[Speaker | None, str]] = []
    for i, turn in enumerate(turns):
        if (
            not isinstance(turn, list)
            or len(turn) != 2
            or turn[0] not in _ROLES
            or not isinstance(turn[1], str)
        ):
            raise ValueError(f"turn {i} must be [role, text] with role agent, caller or null")
        out.append((turn[0], turn[1]))
    return tuple(out)


def _stored(directory: Path | None, entry: Entry) -> Transcript | None:
    """The transcript kept from an earlier run, if there is a readable one."""
    from callscribe.schema import Transcript

    if directory is None:
        return None
    path = directory / f"{entry.id}.json"
    if not path.is_file():
        return None
    try:
        return Transcript.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as err:
        log.warning("call %s: stored transcript unusable, transcribing again: %s", entry.id, err)
        return None


def _store(directory: Path, call_id: str, transcript: Transcript) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(transcript.to_dict(words=True), ensure_ascii=False)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=directory, suffix=".part", delete=False
    ) as handle:
        handle.write(text)
    Path(handle.name).replace(directory / f"{call_id}.json")


def run_e2e(
    entries: list[Entry | Failure],
    transcriber: Callable[[], Transcriber],
    settings: Settings,
    *,
    transcripts: Path | None = None,
) -> tuple[list[CallResult], list[Failure], dict[str, FieldScore]]:
    """Decode, transcribe (or read the stored transcript), extract and score every entry.

    ``transcriber`` is a factory: a run whose transcripts are all stored loads no model.
    A call that fails at any stage becomes a :class:`Failure`; the others go on.
    """
    from callscribe.audio import decode_call_audio
    from callscribe.summarize.evaluate import score_call
    from callscribe.summarize.fields import extract_case_fields

    results: list[CallResult] = []
    failures: list[Failure] = []
    scores: dict[str, FieldScore] = {}
    for entry in entries:
        if isinstance(entry, Failure):
            failures.append(entry)
            continue
        try:
            transcript = _stored(transcripts, entry)
            stored = transcript is not None
            if transcript is None:
                audio = decode_call_audio(
                    entry.audio,
                    agent_channel=entry.agent_channel,
                    max_seconds=settings.max_call_seconds,
                    display_name=f"call {entry.id}",
                )
                transcript = transcriber().transcribe(audio)
                if transcripts is not None:
                    _store(transcripts, entry.id, transcript)
            fields = extract_case_fields(transcript)
        except ModelError:
            raise  # no call can be transcribed: the run stops with the reason
        # One call's failure, whatever its kind, is a finding of the measurement, reported with
        # the call's line; it must not stop the other calls from being measured.
        except Exception as err:  # noqa: BLE001
            log.warning("call %s: failed: %s", entry.id, type(err).__name__)
            failures.append(
                Failure(entry.line, entry.id, f"{entry.where} ({entry.id}): {error_line(err)}")
            )
            continue
        score_call(scores, entry.id, entry.labels, fields)
        results.append(CallResult(entry, score_transcript(entry.turns, transcript), stored))
    return results, failures, scores


def e2e_report(
    manifest: Path,
    results: list[CallResult],
    failures: list[Failure],
    scores: dict[str, FieldScore],
) -> dict[str, Any]:
    """JSON-ready report: fields as ``eval fields`` gives them, the transcript figures, failures."""
    from callscribe.summarize.evaluate import SCORED, field_report

    return {
        "manifest": manifest.name,
        "calls": len(results) + len(failures),
        "scored": len(results),
        "stored_transcripts": sum(r.stored for r in results),
        "fields": field_report({n: scores[n] for n in SCORED if n in scores}),
        **summarise_transcripts([r.transcript for r in results]),
        "per_call": [
            {"id": r.entry.id, "stored": r.stored, **r.transcript.to_dict()} for r in results
        ],
        "failed": [{"line": f.line, "id": f.id, "reason": f.reason} for f in failures],
    }


def _percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _print(result: dict[str, Any], misses: bool) -> None:
    from callscribe.summarize.evaluate import format_field_lines

    click.echo(
        f"{result['calls']} calls from {result['manifest']}: {result['scored']} scored "
        f"({result['stored_transcripts']} from stored transcripts), {len(result['failed'])} failed"
    )
    for line in format_field_lines(result["fields"], misses=misses):
        click.echo(line)
    cer, turns = result["cer"], result["turns"]
    click.echo(f"  CER {_percent(cer['cer'], 2)} ({cer['errors']}/{cer['ref_chars']})")
    click.echo(
        f"  turns in order {_percent(turns['in_order_share'])} ({turns['in_order']}/"
        f"{turns['located']} found of {turns['total']}), on the right side "
        f"{_percent(turns['right_party_share'])} ({turns['right_party']}/{turns['located']})"
    )
    for call in result["per_call"] if misses else []:
        click.echo(
            f"      {call['id']}: CER {call['cer']:.2%}, turns in order "
            f"{call['in_order']}/{call['located']} of {call['turns']}"
        )
    if result["failed"]:
        click.echo("failed:")
    for failure in result["failed"]:
        click.echo(f"  {failure['reason']}")


@click.command(name="e2e")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--transcripts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep each call's transcript here as ID.json, and reuse it when it is there.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--misses", is_flag=True, help="List each wrong value and each call's figures.")
def eval_e2e(manifest: Path, transcripts: Path | None, as_json: bool, misses: bool) -> None:
    """Fields, CER and turn order of the whole pipeline on MANIFEST.jsonl (audio + labels).

    Exits with status 1 when a call failed (after reporting the others).
    """
    from callscribe.transcribe.loader import transcriber_from_settings

    settings = settings_or_exit()
    with reported():
        entries = read_e2e_manifest(manifest, settings.agent_channel)
        results, failures, scores = run_e2e(
            entries, lambda: transcriber_from_settings(settings), settings, transcripts=transcripts
        )
    result = e2e_report(manifest, results, failures, scores)
    if as_json:
        echo_json(result)
    else:
        _print(result, misses)
    if failures:
        raise SystemExit(1)
