"""The transcript as the extractors see it: numbered turns with speakers, times and clean text."""

from __future__ import annotations

from dataclasses import dataclass

from callscribe.schema import CaseFields, Evidence, Speaker, Transcript, Word

__all__ = ["Turn", "cite", "turns_of"]


@dataclass(frozen=True)
class Turn:
    """One transcript segment, numbered as in the transcript."""

    index: int
    speaker: Speaker | None
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    """Whisper's words with their probabilities, where the transcript kept them."""
    rehearing: str = ""
    """The turn's digits decoded again alone (``Segment.rehearing``): a second hearing of a
    number, read only by the callback-number rules."""
    name_rehearing: str = ""
    """The caller's answer to the name question decoded again alone (``Segment.name_rehearing``),
    read only by the name rules."""

    @property
    def from_caller(self) -> bool:
        """Facts come from the caller; with unknown speakers every turn may be the caller's."""
        return self.speaker != "agent"

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.index, round(self.start, 3), round(self.end, 3), self.text)


def turns_of(transcript: Transcript) -> list[Turn]:
    """Number the segments; whitespace inside Whisper text is kept (it separates words)."""
    return [
        Turn(
            i,
            seg.speaker,
            seg.text.strip(),
            seg.start,
            seg.end,
            tuple(seg.words or ()),
            (seg.rehearing or "").strip(),
            (seg.name_rehearing or "").strip(),
        )
        for i, seg in enumerate(transcript.segments)
    ]


def cite(fields: CaseFields, name: str, turns: list[Turn], confidence: float) -> None:
    """Record where ``name`` came from (each turn once, in order) and how sure we are."""
    seen: dict[int, Turn] = {t.index: t for t in turns}
    if seen:
        fields.evidence[name] = [seen[i].evidence for i in sorted(seen)]
    fields.confidence[name] = round(max(0.0, min(1.0, confidence)), 3)
