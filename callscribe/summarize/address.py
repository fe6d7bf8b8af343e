"""Resolve where a call is about: district, street/town, community and the address as said.

Mentions are found by longest match against the gazetteer (so 朝阳门 beats 朝阳, and
望京西园三区 beats 望京). A street or community implies its district; votes from the
caller's turns count more than the agent's, and explicit names more than implied ones.

Where the recogniser wrote a place with other characters, the rest of the text is matched by
sound (:mod:`callscribe.summarize.place_sounds`): the same sound as a gazetteer key (海电区),
or a stem a sound off before a spoken suffix (是一区, 劳工桥街道). Sound-alike mentions vote
less than exact ones, and a district that rests on them alone is left empty when another is
as likely.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from dataclasses import dataclass

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.gazetteer import Place, gazetteer, street_stem, street_suffix_rank
from callscribe.summarize.place_sounds import Mention, with_sound_alikes
from callscribe.summarize.rules import load_rules

__all__ = ["AddressResult", "Mention", "find_mentions", "resolve_address"]

_CLAUSE_END = re.compile(r"[，。！？；,.!?;：:\s]")

# Added to a confidence when the caller and the agent both said the place.
_AGREEMENT = 0.05
# A sound-alike district is left empty when the runner-up has this share of its votes.
_RIVAL_SHARE = 0.8
# The confidence recorded for a district left empty because the sounds were unsure.
_UNSURE = 0.2


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


def _all_mentions(turns: list[Turn]) -> list[Mention]:
    """Exact mentions, then those heard by sound (see :mod:`~callscribe.summarize.place_sounds`)."""
    return with_sound_alikes(turns, [find_mentions(t) for t in turns])


def _votes_for_district(m: Mention) -> bool:
    """A community heard by sound is too weak to choose the district; it may only agree."""
    return m.match == "exact" or any(p.kind != "community" for p in m.places)


def _district_votes(mentions: list[Mention]) -> dict[str, float]:
    votes: dict[str, float] = defaultdict(float)
    for m in mentions:
        if not _votes_for_district(m):
            continue
        districts = sorted({p.district for p in m.places})
        explicit = any(p.kind == "district" for p in m.places)
        share = (1.0 if explicit else 0.8) / len(districts)
        for d in districts:
            votes[d] += m.weight * share
    return votes


def _street_score(place: Place) -> float:
    if place.kind == "street":
        return 3.0 if place.exact else 2.0
    return 1.5


def _prefer(street: str) -> int:
    ranks = street_suffix_rank()
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
    return street_stem(one) == street_stem(other)


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
    ranked = sorted(votes, key=lambda d: (-votes[d], _first(mentions, d), d))
    district = ranked[0]
    total = sum(votes.values())
    district_mentions = [m for m in mentions if any(p.district == district for p in m.places)]
    voting = [m for m in district_mentions if _votes_for_district(m)]
    if _unsure(voting, ranked, votes, mentions):
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


def _unsure(
    voting: list[Mention], ranked: list[str], votes: dict[str, float], mentions: list[Mention]
) -> bool:
    """A district heard only by sound, with another as likely, is left empty; so is one that
    ties with another on the same first mention even when heard exactly: 南关村 alone is a
    village of several districts, and picking one of them was a guess (it followed the order of
    a set)."""
    if len(ranked) < 2:
        return False
    leader, rival = ranked[0], ranked[1]
    if math.isclose(votes[rival], votes[leader]) and _first(mentions, rival) == _first(
        mentions, leader
    ):
        return True
    if any(m.match == "exact" for m in voting):
        return False
    return votes[rival] >= votes[leader] * _RIVAL_SHARE


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
