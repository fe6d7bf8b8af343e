"""Resolve where a call is about: district, street/town, community and the address as said.

Mentions are found by longest match against the gazetteer (so 朝阳门 beats 朝阳, and
望京西园三区 beats 望京). A street or community implies its district; votes from the
caller's turns count more than the agent's, and explicit names more than implied ones.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass

from callscribe.summarize.dialogue import Turn
from callscribe.summarize.gazetteer import Place, gazetteer
from callscribe.summarize.rules import load_rules

__all__ = ["AddressResult", "Mention", "find_mentions", "resolve_address"]

_AGENT_WEIGHT = 0.5
_CLAUSE_END = re.compile(r"[，。！？；,.!?;：:\s]")


@dataclass(frozen=True)
class Mention:
    """A place name said in one turn."""

    key: str
    places: tuple[Place, ...]
    turn: Turn
    start: int
    end: int

    @property
    def weight(self) -> float:
        return 1.0 if self.turn.from_caller else _AGENT_WEIGHT


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
    gaz = gazetteer()
    text = turn.text
    mentions: list[Mention] = []
    pos = 0
    while pos < len(text):
        for length in range(min(gaz.max_key, len(text) - pos), 1, -1):
            key = text[pos : pos + length]
            places = gaz.keys.get(key)
            if places:
                mentions.append(Mention(key, tuple(places), turn, pos, pos + length))
                pos += length
                break
        else:
            pos += 1
    return mentions


def _district_votes(mentions: list[Mention]) -> dict[str, float]:
    votes: dict[str, float] = defaultdict(float)
    for m in mentions:
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
    best: tuple[float, int, int, str, Mention, Place] | None = None
    for order, m in enumerate(mentions):
        for p in m.places:
            if p.district != district or p.street is None:
                continue
            score = _street_score(p) * m.weight
            key = (score, -order, -_prefer(p.street))
            if best is None or key > best[:3]:
                best = (*key, p.street, m, p)
    return None if best is None else (best[3], best[4], best[5])


def _pick_community(mentions: list[Mention], district: str, street: str | None) -> Mention | None:
    for m in mentions:
        for p in m.places:
            if p.kind == "community" and p.district == district and p.street == street:
                return m
    return None


@functools.cache
def _stops() -> tuple[str, ...]:
    return tuple(load_rules("address")["address_stops"])


def _said_address(mention: Mention, district: str) -> str:
    text = mention.turn.text
    start = mention.start
    for other in find_mentions(mention.turn):
        if other.start < start and other.end >= start - 1:
            start = other.start
    tail = text[start:]
    cut = _CLAUSE_END.search(tail, len(mention.key))
    phrase = tail[: cut.start()] if cut else tail
    for stop in _stops():
        at = phrase.find(stop, len(mention.key) if start == mention.start else 1)
        if at > 0:
            phrase = phrase[:at]
    phrase = phrase.rstrip("的在")
    first = _first_mention(mention.turn, start)
    said_district = first is not None and any(p.kind == "district" for p in first.places)
    if said_district and not phrase.startswith(district):
        phrase = district + phrase[len(gazetteer().districts[district]) :]
    elif not phrase.startswith(district):
        phrase = district + phrase
    return phrase[:60]


def _first_mention(turn: Turn, start: int) -> Mention | None:
    return next((m for m in find_mentions(turn) if m.start == start), None)


def resolve_address(turns: list[Turn]) -> AddressResult:
    """District, street, community and address from every place name said in the call."""
    mentions = [m for t in turns for m in find_mentions(t)]
    result = AddressResult(evidence={}, confidence={})
    assert result.evidence is not None and result.confidence is not None
    if not mentions:
        return result
    votes = _district_votes(mentions)
    district = max(votes, key=lambda d: (votes[d], -_first(mentions, d)))
    total = sum(votes.values())
    district_mentions = [m for m in mentions if any(p.district == district for p in m.places)]
    explicit = any(
        p.kind == "district" and m.turn.from_caller for m in district_mentions for p in m.places
    )
    result.district = district
    result.evidence["district"] = [m.turn for m in district_mentions[:3]]
    result.confidence["district"] = round((0.95 if explicit else 0.8) * votes[district] / total, 3)
    picked = _pick_street(district_mentions, district)
    if picked is not None:
        street, mention, place = picked
        result.street = street
        result.evidence["street"] = [mention.turn]
        result.confidence["street"] = 0.9 if place.kind == "street" and place.exact else 0.8
        if place.kind == "community":
            result.confidence["street"] = 0.75
        community = _pick_community(district_mentions, district, street)
        if community is not None:
            name = next(p.name for p in community.places if p.kind == "community")
            result.community = name
            result.evidence["community"] = [community.turn]
            result.confidence["community"] = 0.8 if community.key == name else 0.7
    anchor = _anchor(district_mentions, result)
    result.address = _said_address(anchor, district)
    result.evidence["address"] = [anchor.turn]
    result.confidence["address"] = 0.6
    return result


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
