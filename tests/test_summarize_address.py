"""Address resolution over jionlp's bundled Beijing data."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.schema import DISTRICTS, Speaker
from callscribe.summarize.address import resolve_address
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.gazetteer import gazetteer


def _resolve(*pairs: tuple[Speaker | None, str]):  # type: ignore[no-untyped-def]
    turns = [Turn(i, who, text, float(i), i + 1.0) for i, (who, text) in enumerate(pairs)]
    return resolve_address(turns)


def test_gazetteer_holds_beijing() -> None:
    gaz = gazetteer()
    assert set(gaz.districts) == set(DISTRICTS)
    assert 330 <= len(gaz.streets) <= 345
    assert gaz.communities > 7000
    assert "朝阳区" in gaz.streets["望京街道"]


@pytest.mark.parametrize(
    ("said", "district", "street"),
    [
        ("我住望京那边，电梯坏了。", "朝阳区", "望京街道"),
        ("在中关村一家培训机构。", "海淀区", "中关村街道"),
        ("朝阳门那边的胡同。", "东城区", "朝阳门街道"),
        ("通州区永顺镇，天赐良园。", "通州区", "永顺地区"),
        ("海淀区八里庄街道，北洼路。", "海淀区", "八里庄街道"),
        ("朝阳区八里庄这边。", "朝阳区", "八里庄街道"),
        ("在丰台区，具体位置不清楚。", "丰台区", None),
        ("我们是顺义区光明街道的。", "顺义区", "光明街道"),
    ],
)
def test_district_and_street(said: str, district: str, street: str | None) -> None:
    result = _resolve(("caller", said))
    assert (result.district, result.street) == (district, street)


def test_community_without_district_or_street_yields_both() -> None:
    result = _resolve(("caller", "我家在上地西里八号楼，楼上漏水了。"))
    assert result.district == "海淀区"
    assert result.street == "上地街道"
    assert result.community == "上地西里社区"
    assert result.address == "海淀区上地西里八号楼"
    assert result.evidence is not None and result.evidence["community"][0].index == 0


def test_ordinary_word_stems_need_their_suffix() -> None:
    assert _resolve(("caller", "天气很光明，我们很胜利。")).street is None


def test_the_caller_outweighs_the_agent() -> None:
    result = _resolve(
        ("agent", "是海淀区吗？"),
        ("caller", "不是，丰台区卢沟桥街道。"),
    )
    assert result.district == "丰台区"
    assert result.street == "卢沟桥街道"


@pytest.mark.parametrize(
    "said", ["我住八里庄这边，楼道灯坏了。", "我们新村的路灯不亮。", "绿洲家园小区门口堆满垃圾。"]
)
def test_a_place_name_of_several_districts_alone_fills_no_district(said: str) -> None:
    """八里庄 is a street of both 朝阳区 and 海淀区: said alone, either district is a guess (the
    choice used to follow the order of a set, so it changed from one process to the next)."""
    result = _resolve(("caller", said))
    assert (result.district, result.street, result.community) == (None, None, None)
    assert result.confidence is not None and result.confidence["district"] < 0.5


def test_nothing_said() -> None:
    result = _resolve(("caller", "我想查一下上次的工单。"))
    assert result.district is None
    assert result.evidence == {}


def test_location_data_is_read_from_jionlps_zip_when_it_is_not_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh install has only china_location.zip until jionlp is imported once."""
    import importlib.machinery
    import importlib.util
    import shutil

    from callscribe.summarize import gazetteer as gaz

    real = Path(next(iter(importlib.util.find_spec("jionlp").submodule_search_locations)))  # type: ignore[union-attr]
    (tmp_path / "jionlp" / "dictionary").mkdir(parents=True)
    shutil.copy(real / "dictionary" / "china_location.zip", tmp_path / "jionlp" / "dictionary")
    spec = importlib.machinery.ModuleSpec("jionlp", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path / "jionlp")]
    original = gaz._beijing_lines(gaz._location_lines())
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)

    from_zip = gaz._beijing_lines(gaz._location_lines())

    assert len(from_zip) > 300 and from_zip == original


# Places heard by sound: Whisper writes a place with other characters of (nearly) its sound.


@pytest.mark.parametrize(
    ("said", "district"),
    [
        ("我住在海电区，楼道的灯坏了。", "海淀区"),
        ("我是封台区的，门口路灯一直不亮。", "丰台区"),
        ("家在秘云驱，水管冻裂了。", "密云区"),
        ("通洲去那个菜市场门口老堵车。", "通州区"),
        ("老家是严庆的，现在公交不好坐。", "延庆区"),
    ],
)
def test_homophone_districts(said: str, district: str) -> None:
    result = _resolve(("caller", said))
    assert result.district == district
    assert result.confidence is not None and result.confidence["district"] < 0.95


def test_a_district_one_sound_off_before_its_suffix() -> None:
    result = _resolve(("caller", "我们是一区的居民，小区门口的井盖丢了。"))
    assert result.district == "顺义区"
    assert result.confidence is not None and result.confidence["district"] <= 0.6


@pytest.mark.parametrize(
    ("said", "district", "street"),
    [
        ("东城区东指门街道，有个井盖松了。", "东城区", "东直门街道"),
        ("就在酒线桥那边的路口。", "朝阳区", "酒仙桥街道"),
        ("朝阳区八一庄街道，楼下在施工。", "朝阳区", "八里庄街道"),
    ],
)
def test_streets_heard_a_character_off(said: str, district: str, street: str) -> None:
    result = _resolve(("caller", said))
    assert (result.district, result.street) == (district, street)


def test_a_misheard_street_suffix() -> None:
    result = _resolve(("caller", "我家在东直门接到那边。"))
    assert (result.district, result.street) == ("东城区", "东直门街道")
    assert result.address is not None and result.address.startswith("东城区东直门")


def test_a_street_heard_by_sound_establishes_the_district() -> None:
    result = _resolve(("caller", "我在东指门街道住，暖气不热。"))
    assert (result.district, result.street) == ("东城区", "东直门街道")
    assert result.evidence is not None and result.evidence["district"][0].index == 0


def test_a_street_of_another_district_is_not_taken() -> None:
    result = _resolve(("caller", "海淀区，东指门街道附近。"))
    assert result.district == "海淀区"
    assert result.street is None


def test_two_districts_as_likely_by_sound_leave_it_empty() -> None:
    result = _resolve(("caller", "海电区还是封台区，我也说不好。"))
    assert result.district is None
    assert result.street is None
    assert result.confidence is not None and result.confidence["district"] < 0.5


@pytest.mark.parametrize(
    "said",
    [
        "这个大型活动要先评估一下，我下午去宴请客户。",
        "我们顺利去了医院，接到通知就回来了。",
        "我通知去了，他们说接到电话会处理。",
        "海边的风很大，我想去看看。",
        "这个地区的房子都是大小区。",
    ],
)
def test_ordinary_words_that_sound_like_places_are_not_places(said: str) -> None:
    result = _resolve(("caller", said))
    assert (result.district, result.street) == (None, None)


def test_the_agents_read_back_raises_confidence() -> None:
    alone = _resolve(("caller", "我是封台区的。"), ("agent", "好的，您的电话？"))
    agreed = _resolve(("caller", "我是封台区的。"), ("agent", "丰台区是吧？"))
    assert alone.district == agreed.district == "丰台区"
    assert alone.confidence is not None and agreed.confidence is not None
    assert agreed.confidence["district"] > alone.confidence["district"]


def test_exact_names_are_surer_than_sound_alikes() -> None:
    exact = _resolve(("caller", "我住丰台区。"))
    heard = _resolve(("caller", "我住封台区。"))
    assert exact.confidence is not None and heard.confidence is not None
    assert exact.confidence["district"] > heard.confidence["district"]
