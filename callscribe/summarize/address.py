"""Resolve where a call is about: district, street/town, community and the address as said.

Mentions are found by longest match against the gazetteer (so 朝阳门 beats 朝阳, and
望京西园三区 beats 望京). A street or community implies its district; votes from the
caller's turns count more than the agent's, and explicit names more than implied ones.

Where the recogniser wrote a place with other characters, the rest of the text is matched by
sound (:mod:`callscribe.summarize.phonetic`): first the same sound as a gazetteer key of three
syllables or more (海电区, 东指门街道), then, before a spoken suffix (区, 街道, 地区), a stem one
or two half-syllables off (是一区, 劳工桥街道). Sound-alike mentions vote less than exact ones,
and a district that rests on them alone is left empty when another is as likely.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.gazetteer import Place, gazetteer, sound_index
from callscribe.summarize.phonetic import syllable_cost, syllables
from callscribe.summarize.rules import load_rules

__all__ = ["AddressResult", "Mention", "find_mentions", "resolve_address"]

_AGENT_WEIGHT = 0.5
_CLAUSE_END = re.compile(r"[，。！？；,.!?;：:\s]")

Match = Literal["exact", "sound", "near"]
# How much a mention counts, by how it matched: the characters, the same sound, a sound off.
_MATCH_WEIGHT: dict[Match, float] = {"exact": 1.0, "sound": 0.8, "near": 0.5}
# Added to a confidence when the caller and the agent both said the place.
_AGREEMENT = 0.05
# A sound-alike district is left empty when the runner-up has this share of its votes.
_RIVAL_SHARE = 0.8
# The confidence recorded for a district left empty because the sounds were unsure.
_UNSURE = 0.2


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


@dataclass
class AddressResult:
    """What was resolved, with the turns each part came from and confidences."""

    district: str | None = None
    street: str | None = None
    community: str | None = None
    address: str | None = None
    evidence: dict[str, list[Turn]] | None = None
    confidence: dict[str, float] | None = None


def find_mentions(turn: Turn) -> list[Mention]:
    """Place names in ``turn``, longest match first, left to right."""
    keys = gazetteer().keys
    heads = _key_heads()
    text = turn.text
    mentions: list[Mention] = []
    pos = 0
    while pos < len(text):
        step = 1
        for length in heads.get(text[pos : pos + 2], ()):
            key = text[pos : pos + length]
            places = keys.get(key) if len(key) == length else None
            if places:
                mentions.append(Mention(key, tuple(places), turn, pos, pos + length))
                step = length
                break
        pos += step
    return mentions


@functools.cache
def _key_heads() -> dict[str, tuple[int, ...]]:
    """First two characters of the gazetteer's keys -> their lengths, longest first."""
    heads: dict[str, set[int]] = defaultdict(set)
    for key in gazetteer().keys:
        heads[key[:2]].add(len(key))
    return {head: tuple(sorted(lengths, reverse=True)) for head, lengths in heads.items()}


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
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
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
    if len({_strip(c[2][0].name) for c in best}) > 1:
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


def _all_mentions(turns: list[Turn]) -> list[Mention]:
    """Exact mentions, then same-sound ones, then near ones preferring the districts said."""
    exact = [find_mentions(t) for t in turns]
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


def _votes_for_district(m: Mention) -> bool:
    """A community heard by sound is too weak to choose the district; it may only agree."""
    return m.match == "exact" or any(p.kind != "community" for p in m.places)


def _district_votes(mentions: list[Mention]) -> dict[str, float]:
    votes: dict[str, float] = defaultdict(float)
    for m in mentions:
        if not _votes_for_district(m):
            continue
        districts = {p.district for p in m.places}
        explicit = any(p.kind == "district" for p in m.places)
        share = (1.0 if explicit else 0.8) / len(districts)
        for d in districts:
            votes[d] += m.weight * share
    return votes


def _street_score(place: Place) -> float:
    if place.kind == "street":
        return 3.0 if place.exact else 2.0
    return 1.5


@functools.cache
def _suffix_rank() -> dict[str, int]:
    suffixes = load_rules("address")["street_suffixes"]
    return {s: i for i, s in enumerate(suffixes)}


def _prefer(street: str) -> int:
    ranks = _suffix_rank()
    return min((r for s, r in ranks.items() if street.endswith(s)), default=len(ranks))


def _pick_street(mentions: list[Mention], district: str) -> tuple[str, Mention, Place] | None:
    """The best-supported street of ``district``; None when a sound-alike ties with another."""
    best: tuple[float, int, int, str, Mention, Place] | None = None
    scores: dict[str, float] = defaultdict(float)
    for order, m in enumerate(mentions):
        for p in m.places:
            if p.district != district or p.street is None:
                continue
            if p.kind == "community" and m.match != "exact":
                continue
            score = _street_score(p) * m.weight
            scores[p.street] = max(scores[p.street], score)
            key = (score, -order, -_prefer(p.street))
            if best is None or key > best[:3]:
                best = (*key, p.street, m, p)
    if best is None:
        return None
    tied = [s for s, score in scores.items() if score == best[0] and s != best[3]]
    if best[4].match != "exact" and any(not _same_unit(s, best[3]) for s in tied):
        return None
    return best[3], best[4], best[5]


def _same_unit(one: str, other: str) -> bool:
    """梨园地区 and 梨园镇: one unit under two names."""
    return _strip(one) == _strip(other)


def _strip(street: str) -> str:
    for suffix in sorted(_suffix_rank(), key=len, reverse=True):
        if street.endswith(suffix):
            return street[: -len(suffix)]
    return street


def _pick_community(mentions: list[Mention], district: str, street: str | None) -> Mention | None:
    """A community said in its own characters: by sound, thousands of names sound alike."""
    for m in mentions:
        if m.match != "exact":
            continue
        for p in m.places:
            if p.kind == "community" and p.district == district and p.street == street:
                return m
    return None


@functools.cache
def _stops() -> tuple[str, ...]:
    return tuple(load_rules("address")["address_stops"])


def _said_address(mention: Mention, district: str, turn_mentions: list[Mention]) -> str:
    text = mention.turn.text
    start = mention.start
    for other in turn_mentions:
        if other.start < start and other.end >= start - 1:
            start = other.start
    tail = text[start:]
    cut = _CLAUSE_END.search(tail, len(mention.key))
    phrase = tail[: cut.start()] if cut else tail
    for stop in _stops():
        at = phrase.find(stop, len(mention.key) if start == mention.start else 1)
        if at > 0:
            phrase = phrase[:at]
    phrase = _heard_as_named(phrase.rstrip("的在"), start, turn_mentions, district)
    first = next((m for m in turn_mentions if m.start == start), None)
    said_district = first is not None and any(p.kind == "district" for p in first.places)
    if said_district and not phrase.startswith(district):
        phrase = district + phrase[len(gazetteer().districts[district]) :]
    elif not phrase.startswith(district):
        phrase = district + phrase
    return phrase[:60]


def _heard_as_named(phrase: str, offset: int, mentions: list[Mention], district: str) -> str:
    """``phrase`` with each place heard by sound written as the gazetteer names it."""
    for m in sorted(mentions, key=lambda m: m.start, reverse=True):
        if m.match == "exact" or m.start < offset or m.end > offset + len(phrase):
            continue
        place = next((p for p in m.places if p.district == district), None)
        if place is None:
            continue
        name = place.name if place.kind != "community" or place.exact else m.key
        phrase = phrase[: m.start - offset] + name + phrase[m.end - offset :]
    return phrase


def _confidence(mentions: list[Mention], base: dict[str, float]) -> float:
    """``base`` by the best match among ``mentions``, plus a little when both parties said it."""
    best = min(mentions, key=lambda m: ("exact", "sound", "near").index(m.match))
    value = base[best.match]
    speakers = {m.turn.speaker for m in mentions}
    if {"caller", "agent"} <= speakers:
        value += _AGREEMENT
    return value


def resolve_address(turns: list[Turn]) -> AddressResult:
    """District, street, community and address from every place name said in the call."""
    mentions = _all_mentions(turns)
    result = AddressResult(evidence={}, confidence={})
    assert result.evidence is not None and result.confidence is not None
    votes = _district_votes(mentions)
    if not votes:
        return result
    ranked = sorted(votes, key=lambda d: (-votes[d], _first(mentions, d)))
    district = ranked[0]
    total = sum(votes.values())
    district_mentions = [m for m in mentions if any(p.district == district for p in m.places)]
    voting = [m for m in district_mentions if _votes_for_district(m)]
    if _unsure(voting, ranked, votes):
        result.confidence["district"] = _UNSURE
        return result
    explicit = any(
        p.kind == "district" and m.turn.from_caller and m.match == "exact"
        for m in voting
        for p in m.places
    )
    base = {"exact": 0.95 if explicit else 0.8, "sound": 0.75, "near": 0.55}
    result.district = district
    result.evidence["district"] = [m.turn for m in voting[:3]]
    result.confidence["district"] = round(
        min(0.99, _confidence(voting, base)) * votes[district] / total, 3
    )
    picked = _pick_street(district_mentions, district)
    if picked is not None:
        street, mention, place = picked
        result.street = street
        result.evidence["street"] = [mention.turn]
        said = [m for m in district_mentions if any(p.street == street for p in m.places)]
        exact = 0.9 if place.kind == "street" and place.exact else 0.8
        if place.kind == "community":
            exact = 0.75
        conf = _confidence(said, {"exact": exact, "sound": 0.7, "near": 0.5})
        result.confidence["street"] = round(min(0.99, conf), 3)
        community = _pick_community(district_mentions, district, street)
        if community is not None:
            name = next(p.name for p in community.places if p.kind == "community")
            result.community = name
            result.evidence["community"] = [community.turn]
            result.confidence["community"] = 0.8 if community.key == name else 0.7
    anchor = _anchor(district_mentions, result)
    turn_mentions = [m for m in mentions if m.turn is anchor.turn]
    result.address = _said_address(anchor, district, turn_mentions)
    result.evidence["address"] = [anchor.turn]
    result.confidence["address"] = 0.6
    return result


def _unsure(voting: list[Mention], ranked: list[str], votes: dict[str, float]) -> bool:
    """A district heard only by sound, with another as likely, is left empty."""
    if any(m.match == "exact" for m in voting):
        return False
    return len(ranked) > 1 and votes[ranked[1]] >= votes[ranked[0]] * _RIVAL_SHARE


def _anchor(mentions: list[Mention], result: AddressResult) -> Mention:
    """The caller's most specific place name: community, else street, else the first one."""
    said = [m for m in mentions if m.turn.from_caller] or mentions
    for wanted in (result.community, result.street):
        for m in said:
            if wanted is not None and any(wanted in (p.name, p.street) for p in m.places):
                return m
    return said[0]


def _first(mentions: list[Mention], district: str) -> int:
    return next(
        (i for i, m in enumerate(mentions) if any(p.district == district for p in m.places)),
        len(mentions),
    )
