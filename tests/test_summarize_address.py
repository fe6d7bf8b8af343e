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
