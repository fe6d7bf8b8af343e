"""Character error rate of a transcriber on a manifest of labelled clips.

Scoring removes punctuation and white space only. It does not convert Traditional to
Simplified or change anything else: a Traditional character in the output is an error, as it
would be for QA.
"""

from __future__ import annotations

import csv
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from callscribe.errors import ConfigurationError
from callscribe.transcribe.engine import Transcriber

__all__ = [
    "AsrReport",
    "ClipScore",
    "ManifestEntry",
    "character_errors",
    "evaluate_asr",
    "format_report",
    "normalise_for_scoring",
    "read_manifest",
]


@dataclass(frozen=True)
class ManifestEntry:
    """One labelled clip: its audio file (absolute) and reference transcript."""

    audio: Path
    transcript: str


@dataclass(frozen=True)
class ClipScore:
    """One clip's result."""

    file: str
    reference: str
    hypothesis: str
    errors: int
    ref_chars: int
    seconds: float
    audio_seconds: float

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else float(self.errors > 0)


@dataclass(frozen=True)
class AsrReport:
    """Every clip's score and the total (character errors over reference characters)."""

    clips: list[ClipScore]

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.clips)

    @property
    def ref_chars(self) -> int:
        return sum(c.ref_chars for c in self.clips)

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "clips": [{**asdict(c), "cer": round(c.cer, 4)} for c in self.clips],
            "errors": self.errors,
            "ref_chars": self.ref_chars,
            "cer": round(self.cer, 4),
        }


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Read a TSV manifest with columns ``file`` and ``transcript`` (paths relative to it).

    Raises:
        ConfigurationError: the file is missing, lacks a column, or names a missing clip.
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as err:
        raise ConfigurationError(f"{path}: cannot read the manifest: {err}") from err
    if not rows or not {"file", "transcript"} <= set(rows[0]):
        raise ConfigurationError(f"{path}: manifest needs the TSV columns 'file' and 'transcript'")
    entries = []
    for line, row in enumerate(rows, start=2):
        audio = path.parent / row["file"]
        if not audio.is_file():
            raise ConfigurationError(f"{path}:{line}: clip {row['file']} not found")
        entries.append(ManifestEntry(audio=audio, transcript=row["transcript"] or ""))
    return entries


def normalise_for_scoring(text: str) -> str:
    """Drop punctuation (Unicode P*) and separators/white space (Z*, Cc); keep everything else."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "Cc")))


def character_errors(reference: str, hypothesis: str) -> int:
    """Levenshtein distance in characters (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_ch in enumerate(reference, start=1):
        current = [i]
        for j, hyp_ch in enumerate(hypothesis, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_ch != hyp_ch))
            )
        previous = current
    return previous[-1]


def evaluate_asr(entries: list[ManifestEntry], transcriber: Transcriber) -> AsrReport:
    """Transcribe every clip and score it against its reference."""
    from callscribe.audio import decode_call_audio

    clips = []
    for entry in entries:
        audio = decode_call_audio(entry.audio)
        started = time.perf_counter()
        transcript = transcriber.transcribe(audio)
        elapsed = time.perf_counter() - started
        ref = normalise_for_scoring(entry.transcript)
        hyp = normalise_for_scoring(transcript.text)
        clips.append(
            ClipScore(
                file=entry.audio.name,
                reference=entry.transcript,
                hypothesis=transcript.text,
                errors=character_errors(ref, hyp),
                ref_chars=len(ref),
                seconds=elapsed,
                audio_seconds=audio.duration,
            )
        )
    return AsrReport(clips=clips)


def format_report(report: AsrReport) -> str:
    """One line per clip (CER, errors/characters, file, hypothesis), then the total."""
    lines = [
        f"{c.cer:7.2%}  {c.errors:>3}/{c.ref_chars:<3} {c.file}  {c.hypothesis}"
        for c in report.clips
    ]
    lines.append(
        f"TOTAL CER {report.cer:.2%} ({report.errors}/{report.ref_chars}) over "
        f"{len(report.clips)} clips"
    )
    return "\n".join(lines)
