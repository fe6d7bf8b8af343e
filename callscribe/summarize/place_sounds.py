"""Place names heard with other characters: the sound-alike passes of address resolution.

The recogniser often writes a place with characters of the same or a close sound (海电区 for
海淀区, 是一区 for 顺义区, 劳工桥街道 for 卢沟桥街道). :mod:`callscribe.summarize.address`
first takes the names said in the gazetteer's own characters; the passes here then match the
rest of each turn by sound (:mod:`callscribe.summarize.phonetic`):

1. the same sound as a gazetteer key of three syllables or more (海电区, 东指门街道), and a
   two-syllable district said without 区 when its characters are not a word (严庆 for 延庆);
2. before a spoken suffix (区, 街道, 地区), a stem one or two half-syllables off, preferring
   the districts said elsewhere in the call.

They live apart from the address module so that resolving (votes, picks, the address as said)
reads on its own. :class:`Mention` is defined here because these passes build mentions too;
the address module re-exports it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.gazetteer import Place, sound_index, street_stem
from callscribe.summarize.name_cues import segmenter
from callscribe.summarize.phonetic import syllable_cost, syllables

__all__ = ["Match", "Mention", "find_sound_mentions", "with_sound_alikes"]

Match = Literal["exact", "sound", "near"]
# How much a mention counts, by how it matched: the characters, the same sound, a sound off.
_MATCH_WEIGHT: dict[Match, float] = {"exact": 1.0, "sound": 0.8, "near": 0.5}
# How much a mention in the agent's turn counts, against one in the caller's.
_AGENT_WEIGHT = 0.5


@dataclass(frozen=True)
class Mention:
    """A place name said in one turn.

    Attributes:
        key: the text as said (the characters of the turn, which may be misheard).
        match: ``exact`` when the characters are a gazetteer key, ``sound`` when they sound
            the same, ``near`` when they sound close (``distance`` in half-syllables / 2).
    """

    key: str
    places: tuple[Place, ...]
    turn: Turn
    start: int
    end: int
    match: Match = "exact"
    distance: float = 0.0

    @property
    def weight(self) -> float:
        return (1.0 if self.turn.from_caller else _AGENT_WEIGHT) * _MATCH_WEIGHT[self.match]


def with_sound_alikes(turns: list[Turn], exact: list[list[Mention]]) -> list[Mention]:
    """Each turn's ``exact`` mentions with the places heard by sound, turn by turn, in text order.

    Same-sound names and bare districts come first, passing over streets and communities
    outside the districts said in exact words; then near stems before a suffix, preferring the
    districts said either way.
    """
    said = frozenset(
        p.district for ms in exact for m in ms for p in m.places if p.kind == "district"
    )
    same = []
    for turn, taken in zip(turns, exact, strict=True):
        sounds, free = _free(turn, taken)
        heard = _same_sound(turn, sounds, free, said) + _bare_districts(turn, sounds, free, said)
        same.append(heard)
    districts = frozenset(
        p.district for ms in exact + same for m in ms for p in m.places if p.kind == "district"
    )
    mentions: list[Mention] = []
    for turn, taken, heard in zip(turns, exact, same, strict=True):
        near = _near(turn, *_free(turn, taken + heard), districts)
        mentions.extend(sorted(taken + heard + near, key=lambda m: m.start))
    return mentions


# Spoken suffixes that anchor a stem heard a sound off, as normalised syllables.
_SUFFIX_SOUNDS: tuple[tuple[tuple[str, ...], str, Literal["district", "street"]], ...] = (
    (("jie", "dao"), "街道", "street"),
    (("di", "qu"), "地区", "street"),
    (("qu",), "区", "district"),
)
# Most a near stem may be off, in syllable cost (0.5 = an initial or a final), by kind and by
# stem length; no single syllable may be off in both halves.
_NEAR_LIMIT = {"district": {2: 0.5, 3: 0.5}, "street": {2: 0.5, 3: 1.0, 4: 1.0}}
_SYLLABLE_LIMIT = 0.5
# Kinds of place whose 区 is not a district's: the 区 of 大小区 belongs to 小区.
_PLACE_KINDS = frozenset(
    {"小区", "社区", "园区", "校区", "景区", "市区", "郊区", "辖区", "片区", "新区", "山区", "城区"}
)


def find_sound_mentions(
    turn: Turn, taken: list[Mention], districts: frozenset[str] = frozenset()
) -> list[Mention]:
    """Places in ``turn`` that sound like a gazetteer name, outside the ``taken`` mentions.

    Only names of three syllables or more are matched by sound alone; a stem a sound off
    (是一区 for 顺义区) is tried only right before a spoken suffix, and among streets as close
    as each other one in ``districts`` (those said in the call) is preferred.
    """
    sounds, free = _free(turn, taken)
    found = _same_sound(turn, sounds, free)
    return sorted(found + _near(turn, sounds, free, districts), key=lambda m: m.start)


def _free(turn: Turn, taken: list[Mention]) -> tuple[tuple[str, ...], list[bool]]:
    sounds = syllables(turn.text)
    free = [bool(s) for s in sounds]
    for m in taken:
        free[m.start : m.end] = [False] * (m.end - m.start)
    return sounds, free


def _near(
    turn: Turn, sounds: tuple[str, ...], free: list[bool], districts: frozenset[str]
) -> list[Mention]:
    found: list[Mention] = []
    for i, sound in enumerate(sounds):
        for suffix, said, kind in _SUFFIX_SOUNDS:
            end = i + len(suffix)
            if sound != suffix[0] or sounds[i:end] != suffix or not all(free[i:end]):
                continue
            near = _near_stem(turn.text, sounds, free, i, kind, said, districts)
            if near is not None:
                start, places, cost = near
                found.append(Mention(turn.text[start:end], places, turn, start, end, "near", cost))
                free[start:end] = [False] * (end - start)
    return found


def _same_sound(
    turn: Turn, sounds: tuple[str, ...], free: list[bool], said: frozenset[str] = frozenset()
) -> list[Mention]:
    """Keys heard with other characters of the same sound; a street or community outside the
    districts ``said`` in exact words is passed over, so a longer near match may take it."""
    index = sound_index()
    found: list[Mention] = []
    pos = 0
    while pos < len(sounds) - 2:
        step = 1
        for length in index.heads.get((sounds[pos], sounds[pos + 1]), ()):
            end = pos + length
            if end > len(sounds) or not all(free[pos:end]):
                continue
            places = index.names.get(sounds[pos:end])
            if places and said and not any(p.district in said for p in places):
                continue
            if places:
                kept = tuple(p for p in places if p.kind != "community") or tuple(places)
                found.append(Mention(turn.text[pos:end], kept, turn, pos, end, "sound"))
                free[pos:end] = [False] * length
                step = length
                break
        pos += step
    return found


def _bare_districts(
    turn: Turn, sounds: tuple[str, ...], free: list[bool], said: frozenset[str]
) -> list[Mention]:
    """Two-syllable district names said without 区 and heard as other characters (严庆 for
    延庆), when those characters are not a word (大型 sounds like 大兴, 评估 like 平谷).

    Only for a district not said in exact characters elsewhere (``said``): there it adds
    nothing but risk.
    """
    stems = _two_syllable_districts()
    found: list[Mention] = []
    for i in range(len(sounds) - 1):
        district = stems.get(sounds[i : i + 2])
        if district is None or district in said or not all(free[i : i + 2]):
            continue
        heard = turn.text[i : i + 2]
        if _is_word(heard):
            continue
        place = Place("district", district, district, exact=False)
        found.append(Mention(heard, (place,), turn, i, i + 2, "sound"))
        free[i : i + 2] = [False, False]
    return found


@functools.cache
def _two_syllable_districts() -> dict[tuple[str, ...], str]:
    return dict(sound_index().district_stems.get(2, ()))


@functools.cache
def _word_frequencies() -> dict[str, int]:
    """jieba's dictionary as the name reader loads it (with our user words and place names).

    Always through :func:`segmenter`, so that what counts as a word does not depend on whether
    a name was looked for earlier in this process.
    """
    jieba: Any = segmenter()
    frequencies: dict[str, int] = jieba.dt.FREQ
    return frequencies


def _is_word(text: str) -> bool:
    """``text`` is a word of jieba's dictionary (so not a place heard wrong)."""
    return _word_frequencies().get(text, 0) > 0


def _district_suffix(text: str, start: int, suffix_at: int) -> bool:
    """Whether the 区 sound at ``suffix_at`` may end a district heard a sound off.

    Not the 区 of a kind of place (大小区 is 大+小区, not 大兴区), and after a stem that is a
    word only the character 区 itself (海边区), never 去/取/曲 (顺利去).
    """
    if text[suffix_at - 1 : suffix_at + 1] in _PLACE_KINDS:
        return False
    return text[suffix_at] == "区" or not _is_word(text[start:suffix_at])


def _near_stem(
    text: str,
    sounds: tuple[str, ...],
    free: list[bool],
    suffix_at: int,
    kind: Literal["district", "street"],
    said: str,
    districts: frozenset[str],
) -> tuple[int, tuple[Place, ...], float] | None:
    """The one unit closest in sound to the syllables before ``suffix_at``, if close enough.

    Returns (start, places, cost), or None when none is close enough or two units are as
    close. One unit under two names (卢沟桥街道/卢沟桥地区) is one candidate; the name with
    the suffix ``said`` is taken. A district stem that is a word (顺利 of 顺利去) counts only
    before the character 区 itself (海边区), not before 去/取/曲.
    """
    stems = _district_stems() if kind == "district" else sound_index().street_stems
    close: list[tuple[float, int, tuple[Place, ...]]] = []
    for length, limit in _NEAR_LIMIT[kind].items():
        start = suffix_at - length
        if start < 0 or not all(free[start:suffix_at]):
            continue
        window = sounds[start:suffix_at]
        if kind == "district" and not _district_suffix(text, start, suffix_at):
            continue
        for stem, places in stems.get(length, ()):
            cost = _stem_cost(window, stem, limit)
            if cost is not None:
                close.append((cost, length, places))
    local = [c for c in close if any(p.district in districts for p in c[2])]
    close = local or close
    if not close:
        return None
    cost = min(c[0] for c in close)
    best = [c for c in close if c[0] == cost]
    if len({street_stem(c[2][0].name) for c in best}) > 1:
        return None
    best.sort(key=lambda c: (not c[2][0].name.endswith(said), -c[1]))
    _, length, places = best[0]
    return suffix_at - length, places, cost


@functools.cache
def _district_stems() -> dict[int, list[tuple[tuple[str, ...], tuple[Place, ...]]]]:
    return {
        n: [(stem, (Place("district", d, d, exact=False),)) for stem, d in entries]
        for n, entries in sound_index().district_stems.items()
    }


def _stem_cost(window: tuple[str, ...], stem: tuple[str, ...], limit: float) -> float | None:
    cost = 0.0
    for said, name in zip(window, stem, strict=True):
        step = syllable_cost(said, name)
        if step > _SYLLABLE_LIMIT:
            return None
        cost += step
        if cost > limit:
            return None
    return cost
