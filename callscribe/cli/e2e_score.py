"""How a call's transcript compares with what was said: CER, turn order, speaker sides.

Both texts are compared in Simplified characters without punctuation or spaces, as
``callscribe eval asr`` compares them after converting to Simplified (a Traditional character is
the clean-up's business, measured by ``eval asr``; here the question is what the later stages
get to read).

Turn order: each reference turn is looked for in the transcript's segments (the segment that
shares the most characters with it, more than half of the turn's); a found turn is in order
when it belongs to the longest run of found turns whose places in the transcript only move
forward. A transcript that put the caller's whole side after the agent's finds every turn but
keeps only about half in order.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callscribe.schema import Speaker, Transcript

__all__ = ["TranscriptScore", "score_transcript", "summarise_transcripts"]


@dataclass(frozen=True)
class TranscriptScore:
    """One call's transcript against its reference turns.

    Attributes:
        errors: character edits between the reference turns joined and the transcript.
        ref_chars: characters of the reference (normalised).
        turns: reference turns with any characters.
        located: turns found in the transcript.
        in_order: found turns in the longest forward-moving run.
        right_party: found turns whose segment has the turn's speaker.
    """

    errors: int
    ref_chars: int
    turns: int
    located: int
    in_order: int
    right_party: int

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else float(self.errors > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cer": round(self.cer, 4),
            "errors": self.errors,
            "ref_chars": self.ref_chars,
            "turns": self.turns,
            "located": self.located,
            "in_order": self.in_order,
            "right_party": self.right_party,
        }


def _norm(text: str) -> str:
    from callscribe.transcribe.evaluate import normalise_for_scoring
    from callscribe.transcribe.postprocess import to_simplified

    return normalise_for_scoring(to_simplified(text))


def score_transcript(
    turns: Sequence[tuple[Speaker | None, str]], transcript: Transcript
) -> TranscriptScore:
    """Score ``transcript`` against the reference ``turns`` ([role, text] in spoken order)."""
    from callscribe.transcribe.evaluate import character_errors

    reference = _norm("".join(text for _role, text in turns))
    hypothesis = _norm(transcript.text)
    segments = [(s.speaker, _norm(s.text)) for s in transcript.segments]
    places: list[tuple[int, int]] = []
    right_party = 0
    wanted = [(role, norm) for role, text in turns if (norm := _norm(text))]
    for role, text in wanted:
        found = _locate(text, segments, places[-1] if places else (0, 0))
        if found is None:
            continue
        places.append(found)
        right_party += int(role is not None and segments[found[0]][0] == role)
    return TranscriptScore(
        errors=character_errors(reference, hypothesis),
        ref_chars=len(reference),
        turns=len(wanted),
        located=len(places),
        in_order=_longest_forward_run(places),
        right_party=right_party,
    )


def _locate(
    text: str, segments: list[tuple[Speaker | None, str]], after: tuple[int, int]
) -> tuple[int, int] | None:
    """(segment index, offset in it) where ``text`` is best found; None when nowhere.

    Among segments sharing equally many characters (a short 好的 is in many), the first one
    at or after ``after`` is taken, so that an ambiguous turn does not count against the order.
    """
    candidates: list[tuple[int, tuple[int, int]]] = []
    for index, (_speaker, segment) in enumerate(segments):
        matcher = difflib.SequenceMatcher(None, text, segment, autojunk=False)
        blocks = [b for b in matcher.get_matching_blocks() if b.size]
        shared = sum(b.size for b in blocks)
        if blocks and 2 * shared > len(text):
            largest = max(blocks, key=lambda b: b.size)
            candidates.append((shared, (index, max(0, largest.b - largest.a))))
    if not candidates:
        return None
    most = max(shared for shared, _place in candidates)
    best = [place for shared, place in candidates if shared == most]
    return next((place for place in best if place >= after), best[0])


def _longest_forward_run(places: list[tuple[int, int]]) -> int:
    """Length of the longest non-decreasing subsequence of ``places``."""
    tails: list[tuple[int, int]] = []
    for place in places:
        at = bisect.bisect_right(tails, place)
        if at == len(tails):
            tails.append(place)
        else:
            tails[at] = place
    return len(tails)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarise_transcripts(scores: list[TranscriptScore]) -> dict[str, Any]:
    """Totals over calls: CER as total edits over total reference characters; turn shares."""
    errors = sum(s.errors for s in scores)
    ref_chars = sum(s.ref_chars for s in scores)
    located = sum(s.located for s in scores)
    in_order = sum(s.in_order for s in scores)
    right = sum(s.right_party for s in scores)
    return {
        "cer": {"cer": _share(errors, ref_chars), "errors": errors, "ref_chars": ref_chars},
        "turns": {
            "total": sum(s.turns for s in scores),
            "located": located,
            "in_order": in_order,
            "in_order_share": _share(in_order, located),
            "right_party": right,
            "right_party_share": _share(right, located),
        },
    }
