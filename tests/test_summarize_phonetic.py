"""Sound keys of Chinese text: the folding of ASR confusions and the graded distance."""

from __future__ import annotations

import pytest

from callscribe.summarize.phonetic import (
    distance,
    keys_of,
    normalise,
    syllable_cost,
    syllables,
)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("zhi", "zi"),
        ("chang", "can"),
        ("shen", "sen"),
        ("nan", "lan"),
        ("feng", "fen"),
        ("jing", "jin"),
        ("xiang", "xian"),
        ("huang", "huan"),
    ],
)
def test_confusions_fold_to_one_key(one: str, other: str) -> None:
    assert normalise(one) == normalise(other)


@pytest.mark.parametrize(
    ("one", "other"), [("zhi", "ji"), ("li", "ri"), ("fu", "hu"), ("an", "en")]
)
def test_other_sounds_stay_apart(one: str, other: str) -> None:
    assert normalise(one) != normalise(other)


def test_syllables_line_up_with_the_text_and_ignore_tones() -> None:
    said = syllables("海电区，A栋")
    assert said == ("hai", "dian", "qu", "", "", "dong")
    assert syllables("海淀区") == said[:3]


def test_short_digit_runs_read_as_numerals_and_long_ones_do_not() -> None:
    assert syllables("8号院")[:1] == ("ba",)
    assert set(syllables("13800138000")) == {""}


def test_syllable_cost_is_graded() -> None:
    assert syllable_cost("hai", "hai") == 0.0
    assert syllable_cost(normalise("fu"), normalise("hu")) == 0.25
    assert syllable_cost(normalise("shi"), normalise("shun")) == 0.5
    assert syllable_cost(normalise("di"), normalise("shun")) == 1.0


def test_distance_counts_substitutions_and_gaps() -> None:
    assert distance(syllables("封台"), syllables("丰台")) == 0.0
    assert distance(syllables("是一"), syllables("顺义")) == 0.5
    assert distance(syllables("丰台区"), syllables("丰台")) == 1.0
    assert distance((), syllables("丰台")) == 2.0


def test_gazetteer_names_keep_their_place_readings() -> None:
    assert syllables("嘲阳区") in keys_of("朝阳区")
    assert syllables("常阳镇") in keys_of("长阳镇")
    assert keys_of("A区") == []


def test_rare_readings_are_not_keys() -> None:
    """沙 may be read suo, but no one says 沙河 that way."""
    assert syllables("所河") not in keys_of("沙河")
