"""Beijing's districts, streets/towns and communities, read from jionlp's bundled data.

jionlp ships ``dictionary/china_location.txt`` (province > city > district > street > community,
one level of tab indentation each). We read only the Beijing block, straight from the file, so
that importing jionlp (slow, and it prints a banner) is not needed.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from callscribe.errors import ConfigurationError
from callscribe.summarize.phonetic import keys_of
from callscribe.summarize.rules import load_rules

__all__ = [
    "Gazetteer",
    "Place",
    "SoundIndex",
    "gazetteer",
    "sound_index",
    "street_stem",
    "street_suffix_rank",
]

PlaceKind = Literal["district", "street", "community"]


@dataclass(frozen=True)
class Place:
    """One administrative unit; ``exact`` when the key is its official full name."""

    kind: PlaceKind
    name: str
    district: str
    street: str | None = None
    exact: bool = True


@dataclass
class Gazetteer:
    """Keys as callers say them -> the places they may mean."""

    keys: dict[str, list[Place]] = field(default_factory=dict)
    districts: dict[str, str] = field(default_factory=dict)
    streets: dict[str, list[str]] = field(default_factory=dict)
    communities: int = 0
    max_key: int = 0

    def add(self, key: str, place: Place) -> None:
        if len(key) < 2:
            return
        bucket = self.keys.setdefault(key, [])
        if place not in bucket:
            bucket.append(place)
        self.max_key = max(self.max_key, len(key))


def _location_lines() -> Iterator[str]:
    """Lines of jionlp's china_location.txt: from the text file when jionlp has unpacked it
    (it does on first import), else straight from the zip it ships, writing nothing."""
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("jionlp is not installed; it provides the address data")
    folder = Path(next(iter(spec.submodule_search_locations))) / "dictionary"
    text = folder / "china_location.txt"
    if text.exists():
        with text.open(encoding="utf-8") as handle:
            yield from handle
        return
    archive = folder / "china_location.zip"
    try:
        with zipfile.ZipFile(archive) as zf, zf.open("china_location.txt") as member:
            yield from io.TextIOWrapper(member, encoding="utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as err:
        raise ConfigurationError(f"{archive}: jionlp's location data is missing ({err})") from err


def _beijing_lines(source: Iterable[str]) -> list[str]:
    lines: list[str] = []
    inside = False
    for raw in source:
        line = raw.rstrip("\r\n")
        if not line.startswith("\t"):
            if inside:
                break
            inside = line.startswith("北京市")
            continue
        if inside:
            lines.append(line)
    return lines


def _strip_suffix(name: str, suffixes: list[str]) -> str:
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@functools.cache
def street_suffix_rank() -> dict[str, int]:
    """The street suffixes of rules/address.yaml -> their rank there (0 is the most preferred)."""
    suffixes = load_rules("address")["street_suffixes"]
    return {s: i for i, s in enumerate(suffixes)}


def street_stem(street: str) -> str:
    """``street`` without its suffix, so one unit under two names compares equal (梨园 of
    梨园地区 and of 梨园镇)."""
    return _strip_suffix(street, list(street_suffix_rank()))


@functools.cache
def gazetteer() -> Gazetteer:
    """Build the Beijing gazetteer once per process (about 0.3 s)."""
    rules = load_rules("address")
    street_suffixes: list[str] = list(rules["street_suffixes"])
    community_suffixes: list[str] = list(rules["community_suffixes"])
    full_only = set(rules["full_name_only"])
    min_stem = int(rules["community_min_stem"])
    gaz = Gazetteer()
    district = street = ""
    for line in _beijing_lines(_location_lines()):
        depth = len(line) - len(line.lstrip("\t"))
        parts = line.strip().split("\t")
        if depth == 2:
            district, alias = parts[0], parts[-1]
            gaz.districts[district] = alias
            gaz.add(district, Place("district", district, district))
            gaz.add(alias, Place("district", district, district, exact=False))
        elif depth == 3:
            street = parts[0]
            gaz.streets.setdefault(street, []).append(district)
            gaz.add(street, Place("street", street, district, street))
            stem = _strip_suffix(street, street_suffixes)
            if stem == street:
                continue
            for suffix in street_suffixes:
                gaz.add(stem + suffix, Place("street", street, district, street, exact=False))
            if stem not in full_only and stem not in gaz.districts.values():
                gaz.add(stem, Place("street", street, district, street, exact=False))
        elif depth == 4:
            name = parts[0]
            gaz.communities += 1
            gaz.add(name, Place("community", name, district, street))
            stem = _strip_suffix(name, community_suffixes)
            if stem != name and len(stem) >= min_stem:
                gaz.add(stem, Place("community", name, district, street, exact=False))
    for said, official in (rules.get("aliases") or {}).items():
        for place in list(gaz.keys.get(str(official), [])):
            if place.exact:
                variant = Place(place.kind, place.name, place.district, place.street, exact=False)
                gaz.add(str(said), variant)
    _prefer_streets(gaz)
    return gaz


def _prefer_streets(gaz: Gazetteer) -> None:
    """Where a key is a street's name and also a community elsewhere, callers mean the street."""
    for key, places in gaz.keys.items():
        streets = {p.district for p in places if p.kind == "street"}
        if streets:
            gaz.keys[key] = [p for p in places if p.kind != "community" or p.district in streets]


Sound = tuple[str, ...]


@dataclass(frozen=True)
class SoundIndex:
    """The gazetteer by sound (normalised pinyin keys, see :mod:`phonetic`).

    Attributes:
        names: the sound of every key of three characters or more -> the places it names.
            Two-character keys (海淀, 望京) are left out: by sound alone they are ordinary words
            too often (大兴/大型, 平谷/评估); said with their suffix they are three long.
        heads: the first two syllables of those keys -> their lengths, longest first, so a
            scan of a text looks up one pair per character.
        district_stems: syllable count -> (stem sound, district) for 海淀 of 海淀区 and so on.
        street_stems: syllable count -> (stem sound, street places) for 东直门 of 东直门街道.
    """

    names: dict[Sound, list[Place]]
    heads: dict[tuple[str, str], list[int]]
    district_stems: dict[int, list[tuple[Sound, str]]]
    street_stems: dict[int, list[tuple[Sound, tuple[Place, ...]]]]


@functools.cache
def sound_index() -> SoundIndex:
    """Build the sound index of :func:`gazetteer` once per process."""
    gaz = gazetteer()
    names: dict[Sound, list[Place]] = {}
    heads: dict[tuple[str, str], set[int]] = {}
    for key, places in gaz.keys.items():
        if len(key) < 3:
            continue
        for sound in keys_of(key):
            bucket = names.setdefault(sound, [])
            bucket.extend(p for p in places if p not in bucket)
            heads.setdefault((sound[0], sound[1]), set()).add(len(sound))
    district_stems: dict[int, list[tuple[Sound, str]]] = {}
    for district in gaz.districts:
        for sound in keys_of(district[:-1]):
            district_stems.setdefault(len(sound), []).append((sound, district))
    street_stems: dict[int, list[tuple[Sound, tuple[Place, ...]]]] = {}
    for street, districts in gaz.streets.items():
        stem = street_stem(street)
        if stem == street:
            continue
        units = tuple(Place("street", street, d, street, exact=False) for d in districts)
        for sound in keys_of(stem):
            street_stems.setdefault(len(sound), []).append((sound, units))
    return SoundIndex(
        names,
        {head: sorted(lengths, reverse=True) for head, lengths in heads.items()},
        district_stems,
        street_stems,
    )
