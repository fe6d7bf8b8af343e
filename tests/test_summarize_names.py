"""Caller names said the way callers really say them: with glosses, beside third parties, raw."""

from __future__ import annotations

import pytest

from callscribe.schema import Speaker
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.names import find_caller_name


def _turns(*pairs: tuple[Speaker | None, str]) -> list[Turn]:
    return [Turn(i, who, text, float(i), i + 1.0) for i, (who, text) in enumerate(pairs)]


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        # A full name answered on its own, then each character explained.
        ((("agent", "您的姓名？"), ("caller", "吴海燕，口天吴，大海的海，燕子的燕。")), "吴海燕"),
        ((("agent", "您贵姓？"), ("caller", "冯涛，两点水一个马的冯，波涛的涛。")), "冯涛"),
        ((("agent", "怎么称呼？"), ("caller", "蒋立新，电话一三八一二三四五六七八。")), "蒋立新"),
        # The surname first, spelt out, then the full name as a clause of its own.
        ((("agent", "您贵姓？"), ("caller", "我姓陆，耳东陆，陆佳慧，佳节的佳。")), "陆佳慧"),
        ((("agent", "您贵姓？"), ("caller", "免贵姓严，严格的严，严志刚。")), "严志刚"),
        # A gloss starting inside three characters of raw text (二马冯), or right after them.
        (((None, "您贵姓我叫冯亮二马冯明亮的亮电话"),), "冯亮"),
        (((None, "您贵姓我叫曹建华曹操的曹电话"),), "曹建华"),
        # Someone else's full name after a bare 叫, the caller's own later.
        (
            (
                ("caller", "包工头姓孟，我们都叫他孟老板，叫孟庆林。"),
                ("agent", "您怎么称呼？"),
                ("caller", "我叫牛大勇，牛羊的牛。"),
            ),
            "牛大勇",
        ),
        # A third party's surname first, the caller's own later.
        (
            (
                ("caller", "派出所有个民警，姓崔，特别负责。"),
                ("agent", "您怎么称呼？"),
                ("caller", "我姓黄，黄先生。"),
            ),
            "黄先生",
        ),
        # Unsegmented Whisper text: the answer right after the question, with a gloss.
        (((None, "好的您贵姓韩梅韩国的韩梅花的梅电话是一三九"),), "韩梅"),
        # Refusing the phone number is not refusing the name.
        (((None, "您怎么称呼我姓袁留个电话吧电话就不留了好的袁女士"),), "袁女士"),
    ],
)
def test_names_with_glosses_and_third_parties(
    pairs: tuple[tuple[Speaker | None, str], ...], name: str
) -> None:
    result = find_caller_name(_turns(*pairs))
    assert result is not None and result.name == name


def test_a_name_refused_in_raw_text_is_still_null() -> None:
    result = find_caller_name(_turns((None, "您怎么称呼名字就不说了吧电话一三九")))
    assert result is not None and result.name is None


def test_a_gloss_that_does_not_match_the_first_character_is_not_a_name() -> None:
    result = find_caller_name(_turns((None, "您贵姓马路对面的小区电话一三九")))
    assert result is None or result.name != "马路"


@pytest.mark.parametrize(
    "pairs",
    [
        (("agent", "您贵姓？"), ("caller", "谢谢。")),
        (("agent", "怎么称呼您？"), ("caller", "谢谢你啊，不用了。")),
        (("agent", "您怎么称呼？"), ("caller", "不好意思，刚才没听清。")),
        (("caller", "麻烦你们快点来人。"),),
    ],
)
def test_a_courtesy_word_is_never_a_name(pairs: tuple[tuple[Speaker | None, str], ...]) -> None:
    result = find_caller_name(_turns(*pairs))
    assert result is None or result.name is None


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        # 姓谢 heard as 谢谢: the agent's 谢先生 makes the surname clear.
        ((("agent", "您贵姓？"), ("caller", "谢谢。"), ("agent", "谢先生，您的电话？")), "谢先生"),
        # The honorific and surname said plainly, the cue around them garbled.
        ((("agent", "您贵性？"), ("caller", "叫我孙女士吧。")), "孙女士"),
        ((("agent", "请问怎么称呼？"), ("caller", "嗯，孙女士。")), "孙女士"),
        # 女士 itself misheard.
        ((("agent", "您贵姓？"), ("caller", "我姓孙，孙女事。")), "孙女士"),
        # 我姓 misheard and the surname written with another character of its sound.
        ((("agent", "您怎么称呼？"), ("caller", "我信中，中先生。")), "钟先生"),
        # A gloss, also misheard, as the evidence of the surname.
        ((("agent", "您贵姓？"), ("caller", "二东陈。")), "陈"),
        ((("agent", "您贵姓？"), ("caller", "我姓章，李早章。")), "章"),
        # A name spelt out character by character.
        ((("agent", "您怎么称呼？"), ("caller", "王府的王，明天的明。")), "王明"),
    ],
)
def test_names_through_recognition_errors(
    pairs: tuple[tuple[Speaker | None, str], ...], name: str
) -> None:
    result = find_caller_name(_turns(*pairs))
    assert result is not None and result.name == name


def test_a_gloss_that_spells_another_surname_leaves_the_name_empty() -> None:
    result = find_caller_name(_turns(("agent", "您怎么称呼？"), ("caller", "我叫张小红，立早章。")))
    assert result is not None and result.name is None
    assert result.confidence < 0.5
    assert [t.index for t in result.turns] == [1]
