"""Caller names said the way callers really say them: with glosses, beside third parties, raw."""

from __future__ import annotations

import dataclasses

import pytest

from callscribe.schema import Speaker, Word
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
    result = find_caller_name(_turns(("agent", "您怎么称呼？"), ("caller", "我叫陈小红，立早章。")))
    assert result is not None and result.name is None
    assert result.confidence < 0.5
    assert [t.index for t in result.turns] == [1]


def test_a_gloss_spelling_a_surname_that_sounds_the_same_respells_it() -> None:
    # 张 and 章 sound alike: the gloss is what tells them apart, so the gloss wins.
    result = find_caller_name(_turns(("agent", "您怎么称呼？"), ("caller", "我叫张小红，立早张。")))
    assert result is not None and result.name == "章小红"
    assert 0.5 < result.confidence <= 0.8


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        # Each misheard character is put right by the gloss that explains it.
        ("刘健华，文刀刘，建设的剑，中华的华。", "刘建华"),
        # A misheard gloss word is read as the dictionary word it sounds like (光灰: 光辉).
        ("我叫石明灰，石头的石，明天的明，光灰的灰。", "石明辉"),
        # Glosses built from parts, and the end of an idiom, explain nothing to change.
        ("我叫周婷，周末的周，女字旁一个亭子的亭。", "周婷"),
        ("林静怡，安静的静，心旷神怡的怡。", "林静怡"),
        ("张立伟，立正的立，伟大的伟。", "张立伟"),
    ],
)
def test_glosses_respell_the_given_name(answer: str, name: str) -> None:
    result = find_caller_name(_turns(("agent", "您的姓名？"), ("caller", answer)))
    assert result is not None and result.name == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        # The answer to the name question follows it in the same stream, pauses as spaces.
        ("好的 您贵姓 邱 邱海峰 海洋的海 山峰的峰 电话幺三二四零九幺七七五三 对", "邱海峰"),
        ("行行我记一下 您贵姓 姓包 包先生留个电话 一五二一零三八六六九七 对", "包先生"),
        ("您贵姓 胡 胡女士 电话 幺八九幺三六四零五七", "胡女士"),
        ("您贵姓 方方建华 电话幺三九幺幺零八三二五一 好的方先生", "方建华"),
        # A surname said with 我叫 before a pause; 我姓, a pause, then the surname.
        ("开窗 好 好 我叫樊 樊女士 电话 幺三零幺幺七八二二六四 对", "樊女士"),
        ("我 我姓 罗 罗马的罗 罗先生 电话 这个是借的", "罗先生"),
    ],
)
def test_names_in_raw_text_without_speakers_or_punctuation(text: str, name: str) -> None:
    result = find_caller_name(_turns((None, text)))
    assert result is not None and result.name == name
    assert result.confidence <= 0.7
    assert [t.index for t in result.turns] == [0]


def test_a_decline_in_raw_text_after_the_question_is_still_null() -> None:
    result = find_caller_name(_turns((None, "您需要留个姓名吗 不用了 我就匿名 好的")))
    assert result is not None and result.name is None


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        # A name said on its own right before the number, or before a gloss of it.
        (
            (
                ("agent", "需要留个电话吗？"),
                ("caller", "留吧，柏宏伟，电话幺三七幺七五六二零八九。"),
            ),
            "柏宏伟",
        ),
        ((("agent", "帮您转一下。"), ("caller", "好。宁丽，安宁的宁，电话幺三幺六。")), "宁丽"),
        # A place said that way is no name.
        (
            (
                ("agent", "需要留个电话吗？"),
                ("caller", "留吧，王府井，电话幺三七幺七五六二零八九。"),
            ),
            None,
        ),
        # Dialect cue; a rare surname from the list.
        ((("agent", "电话？"), ("caller", "行，你帮俺问问。俺叫鄢春生。")), "鄢春生"),
    ],
)
def test_names_said_without_the_usual_cues(
    pairs: tuple[tuple[Speaker | None, str], ...], name: str | None
) -> None:
    result = find_caller_name(_turns(*pairs))
    assert (result.name if result else None) == name


def test_not_wanting_to_say_something_else_is_no_decline() -> None:
    result = find_caller_name(
        _turns(
            ("caller", "我不想细说，你们要名字吗？那就是城东第三医院。"),
            ("agent", "好的，您的姓名？"),
            ("caller", "米兰芳。"),
        )
    )
    assert result is not None and result.name == "米兰芳"


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        # A character that is no surname, said again before an honorific: the surname it sounds
        # like; 学生 heard for 先生.
        ("湖，湖先生，电话是幺五八。", "胡先生"),
        ("我心坛，坛学生，电话幺五八。", "谭先生"),
        # 我叫 heard as 我交 and the surname by sound; the gloss spells the surname.
        ("我交章明华，弓长章，明天的明，中华的华。", "张明华"),
    ],
)
def test_misheard_cues_and_surnames_by_sound(answer: str, name: str) -> None:
    result = find_caller_name(_turns(("agent", "您贵姓？"), ("caller", answer)))
    assert result is not None and result.name == name


def test_an_ordinary_word_answering_the_name_question_is_no_name() -> None:
    result = find_caller_name(_turns(("agent", "您贵姓？"), ("caller", "方便，女是。")))
    assert result is None or result.name != "方便"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我是左秀英，今年七十了。现在挂号全都得用手机。", "左秀英"),
        ("我是育才中学一个学生家长叫孟川。学校门口那条路早上堵得厉害。", "孟川"),
        ("我是丰收苑八号楼的住户洪建新，我们楼的水管昨天爆了。", "洪建新"),
        ("我是北京人，我们楼的电梯前天坏了。", None),
    ],
)
def test_a_caller_naming_themselves_in_a_monologue(text: str, name: str | None) -> None:
    result = find_caller_name(_turns((None, text)))
    assert (result.name if result else None) == name


def test_a_gender_word_about_someone_else_gives_no_gender() -> None:
    result = find_caller_name(
        _turns(
            ("caller", "喂，楼下有一个男的天天半夜喊，吵得睡不着。"),
            ("agent", "您贵姓？"),
            ("caller", "姓柯，电话一七七幺零六四八三五二。"),
        )
    )
    assert result is not None and result.name == "柯"
    result = find_caller_name(_turns(("agent", "您贵姓？"), ("caller", "姓柯，我是男的。")))
    assert result is not None and result.name == "柯先生"


def _heard(text: str, probabilities: dict[str, float]) -> Turn:
    """A caller turn whose words (one per character) carry the given probabilities."""
    words = tuple(
        Word(start=i * 0.2, end=i * 0.2 + 0.2, word=ch, probability=probabilities.get(ch, 0.95))
        for i, ch in enumerate(text)
    )
    return Turn(1, "caller", text, 0.0, len(text) * 0.2, words)


_SAID_BACK = Turn(2, "agent", "好的刘先生，您的电话？", 1.6, 2.6)
"""The agent calling the caller by the surname: on a recorded call, the name's second hearing."""


@pytest.mark.parametrize(
    ("probabilities", "name"),
    [
        ({}, "刘德顺"),
        ({"德": 0.45}, "刘德顺"),
        ({"刘": 0.2}, "刘德顺"),
        ({"德": 0.31}, None),
    ],
)
def test_a_given_name_heard_with_a_low_probability_is_left_empty(
    probabilities: dict[str, float], name: str | None
) -> None:
    turns = [
        Turn(0, "agent", "请问您怎么称呼？", 0.0, 1.0),
        _heard("我叫刘德顺，顺利的顺。", probabilities),
        _SAID_BACK,
    ]
    found = find_caller_name(turns)
    assert found is not None
    assert found.name == name
    assert found.turns
    if name is None:
        assert found.confidence <= 0.3


@pytest.mark.parametrize(
    "answer",
    [
        # A gloss whose word holds no character sounding like the one it glosses (美丽 heard as
        # 美艺): the name around it was misheard.
        "我叫钱利监，金钱的钱，美艺的利，女字旁那个监。",
        # 鸟 reads diao only in old texts: no 刁女士 from 鸟女是.
        "我信鸟，鸟女是，电话幺五幺。",
    ],
)
def test_a_name_the_turn_does_not_support_is_left_empty(answer: str) -> None:
    found = find_caller_name(_turns(("agent", "请问您怎么称呼？"), ("caller", answer)))
    assert found is None or found.name is None
    if found is not None:
        assert found.confidence <= 0.3


def test_an_unread_full_name_is_not_replaced_by_the_surname_the_agent_used() -> None:
    found = find_caller_name(
        _turns(
            ("agent", "您贵姓？"),
            ("caller", "我心灵、生物灵、灵敬灵、安静的敬，新框神移的移。"),
            ("agent", "好的林女士，留一个联系电话。"),
        )
    )
    assert found is not None and found.name is None and found.confidence <= 0.3
    assert {t.index for t in found.turns} == {1, 2}


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        # Glosses by a longer word (梁山伯) and by parts (三个石头的磊) still spell the name.
        ("我叫梁淑芬，梁山伯的梁，淑女的淑，芬芳的芬。", "梁淑芬"),
        ("董磊，草字头那个董，三个石头的磊。", "董磊"),
        # 的 after the name that glosses none of its characters is no gloss.
        ("我叫童桂芳。我跟你说这菜市场的秤太不准了。", "童桂芳"),
        # A surname glossed by itself besides one given-name gloss is no unread full name.
        ("姓林，双木林，树林的林。", "林女士"),
    ],
)
def test_glosses_that_do_not_empty_the_name(answer: str, name: str) -> None:
    found = find_caller_name(
        _turns(("agent", "您贵姓？"), ("caller", answer), ("agent", "好的林女士。"))
    )
    assert found is not None and found.name == name


def test_a_full_name_heard_by_sound_alone_is_not_filled() -> None:
    asked = Turn(0, "agent", "请问您怎么称呼？", 0.0, 1.0)
    unglossed = find_caller_name([asked, _heard("我叫刘德顺。", {}), _SAID_BACK])
    glossed = find_caller_name([asked, _heard("我叫刘德顺，道德的德，顺利的顺。", {}), _SAID_BACK])
    assert unglossed is not None and unglossed.name is None
    assert unglossed.confidence <= 0.3 and [t.index for t in unglossed.turns] == [1]
    assert glossed is not None and glossed.name == "刘德顺" and glossed.confidence >= 0.8
    surname_only = find_caller_name([asked, _heard("我姓刘，刘先生。", {}), _SAID_BACK])
    assert surname_only is not None and surname_only.name == "刘先生"


def _answered_twice(first: str, again: str, agent: str = "好的，您的电话？") -> list[Turn]:
    asked = Turn(0, "agent", "请问您贵姓？", 0.0, 1.0)
    answer = dataclasses.replace(_heard(first, {}), name_rehearing=again)
    return [asked, answer, Turn(2, "agent", agent, 7.0, 8.0)]


@pytest.mark.parametrize(
    ("first", "again", "name"),
    [
        # The second hearing agrees with the transcript: heard twice.
        ("我姓马，马女士。", "我姓马，马女士。", "马女士"),
        (
            "我叫王建军，三横王，建设的建，军队的军。",
            "王建军，三横王，建设的建，军队的军",
            "王建军",
        ),
        # The two hearings disagree, or only one of them gives a name.
        ("我姓姜，姜先生。", "我姓钱，钱先生。", None),
        ("我心中，中女是。", "我姓周，周女士。", None),
        # Both agree on a full name no gloss spells: still Whisper's guess at the sound.
        ("我叫高贵兰。", "我叫高贵兰。", None),
    ],
)
def test_the_callers_answer_heard_twice_confirms_the_name(
    first: str, again: str, name: str | None
) -> None:
    found = find_caller_name(_answered_twice(first, again))
    assert found is not None and found.name == name
    assert {t.index for t in found.turns} == {1}
    assert found.turns[0].text == first
    if name is None:
        assert found.confidence <= 0.3


def test_a_name_only_the_second_hearing_gives_needs_the_agent_to_say_it() -> None:
    said_back = find_caller_name(
        _answered_twice("我心中，中女是。", "我姓周，周女士。", "好的周女士。")
    )
    assert said_back is not None and said_back.name == "周女士"
    assert said_back.confidence <= 0.75 and said_back.turns[0].text == "我心中，中女是。"


def test_a_declined_name_stays_declined_whatever_the_second_hearing() -> None:
    found = find_caller_name(
        _answered_twice("我就不说名字了。", "我姓周，周女士。", "好的周女士。")
    )
    assert found is not None and found.name is None and found.confidence >= 0.8


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        ("好的刘先生，您的电话？", "刘德顺"),
        # 柳 sounds like 刘: the agent's hearing agrees.
        ("好的柳先生，您的电话？", "刘德顺"),
        ("好的周先生，您的电话？", None),
        ("好的，您的电话？", None),
    ],
)
def test_a_name_from_audio_needs_the_agent_to_say_its_surname(agent: str, name: str | None) -> None:
    asked = Turn(0, "agent", "请问您怎么称呼？", 0.0, 1.0)
    found = find_caller_name(
        [asked, _heard("我叫刘德顺，道德的德，顺利的顺。", {}), Turn(2, "agent", agent, 7.0, 8.0)]
    )
    assert found is not None and found.name == name
    if name is None:
        assert found.confidence <= 0.3 and [t.index for t in found.turns] == [1]


def test_typed_text_needs_no_agent_confirmation() -> None:
    found = find_caller_name(_turns(("agent", "您贵姓？"), ("caller", "我叫刘德顺。")))
    assert found is not None and found.name == "刘德顺"


def test_the_agent_saying_the_surname_after_the_answer_counts_when_the_question_was_garbled() -> (
    None
):
    # i4-002: 您怎么称呼 heard as 您怎么成乎, so no question was seen; the agent's 刘女士 after
    # the caller's answer is still the second hearing.
    garbled = Turn(0, "agent", "好的，我记录下来，您怎么成乎？", 0.0, 1.0)
    answer = _heard("姓刘，刘女士就行。", {})
    said_back = find_caller_name([garbled, answer, Turn(2, "agent", "刘女士，电话呢？", 3.0, 4.0)])
    assert said_back is not None and said_back.name == "刘女士"
    before = find_caller_name(
        [
            Turn(0, "agent", "刘女士那边我们联系过了。", 0.0, 1.0),
            dataclasses.replace(answer, index=1),
        ]
    )
    assert before is not None and before.name is None and before.confidence <= 0.3
