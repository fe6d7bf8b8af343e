"""The spoken phone-number grammar: each form callers use, and words that are not numbers."""

from __future__ import annotations

import dataclasses

import pytest

from callscribe.schema import Speaker
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.phone import find_callback_phone, spoken_numbers


def _turns(*pairs: tuple[Speaker | None, str]) -> list[Turn]:
    return [Turn(i, who, text, i * 4.0, i * 4.0 + 4.0) for i, (who, text) in enumerate(pairs)]


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("一三八一二三四五六七八", "13812345678"),
        ("幺五八 幺幺二二 三三四四", "15811223344"),
        ("一三九，嗯，零一零二，那个，三四五六", "13901023456"),
        ("幺三六 幺零零八 八零零幺", "13610088001"),
        ("139 1111 0000", "13911110000"),
        ("电话是13511112222。", "13511112222"),
        ("座机吧，六九五四三二一零。", "69543210"),
        ("家里电话六七零二 三三八八。", "67023388"),
        ("零一零 六七八九 五五二二", "67895522"),
        ("电话零幺零六九零四四五五八。", "69044558"),
        ("一八零零一零九九二四七", "18001099247"),
        ("拐", None),
    ],
)
def test_spoken_forms(said: str, number: str | None) -> None:
    found = [n.digits for n in spoken_numbers(said)]
    assert found == ([number] if number else [])


@pytest.mark.parametrize(
    "text",
    [
        "五道口地铁站一直没人管",
        "北京12345，您好",
        "工号好像是幺零二三",
        "屋里才十四五度",
        "一二十个人",
    ],
)
def test_ordinary_words_are_not_numbers(text: str) -> None:
    assert spoken_numbers(text) == []


def test_a_number_running_into_a_word_is_trimmed() -> None:
    (number,) = spoken_numbers("一三八一二三四五六七八一直打不通")
    assert number.digits == "13812345678"
    assert number.trimmed


def test_self_correction_wins() -> None:
    turns = _turns(
        ("agent", "联系电话呢？"),
        ("caller", "一八六一零二零三零四零，不对不对，是一八六一零二零三零五零。"),
    )
    result = find_callback_phone(turns)
    assert result is not None
    assert result.number == "18610203050"
    assert not result.confirmed


def test_corrected_tail_patches_the_earlier_number() -> None:
    turns = _turns(
        ("caller", "我电话一三零一二一二三四三五。"),
        ("agent", "一三零一二一二三四三五？"),
        ("caller", "不是，最后是三四三四。"),
    )
    result = find_callback_phone(turns)
    assert result is not None
    assert result.number == "13012123434"


def test_confirmed_read_back_wins_over_what_was_misheard() -> None:
    turns = _turns(
        ("caller", "一五六零一二零八零八零。"),
        ("agent", "一五六零一二零八零九零？"),
        ("caller", "不对，是八零八零，一五六零一二零八零八零。"),
        ("agent", "好的，一五六零一二零八零八零。"),
        ("caller", "对。"),
    )
    result = find_callback_phone(turns)
    assert result is not None
    assert result.number == "15601208080"
    assert result.confirmed
    assert result.confidence > 0.95
    assert [t.index for t in result.turns] == [0, 2, 3, 4]


def test_denied_read_back_is_not_confirmed() -> None:
    turns = _turns(
        ("caller", "一三九一零零零五五五五"),
        ("agent", "一三九一零零零五五五六，对吗？"),
        ("caller", "不对，是五五五五。"),
    )
    result = find_callback_phone(turns)
    assert result is not None
    assert result.number == "13910005555"
    assert not result.confirmed


def test_no_speakers_no_punctuation() -> None:
    turns = _turns((None, "您怎么称呼 我姓邓 电话是多少 13621234567 好的我们会转给相关部门"))
    result = find_callback_phone(turns)
    assert result is not None
    assert result.number == "13621234567"


def test_no_number_said() -> None:
    assert find_callback_phone(_turns(("caller", "就打我这个来电号码吧。"))) is None


def test_a_number_and_its_read_back_run_together_in_raw_text_are_two_numbers() -> None:
    found = spoken_numbers("电话是137 2205八六四一一三七二二零五八六四一对吧")
    assert [n.digits for n in found] == ["13722058641", "13722058641"]
    assert not any(n.trimmed for n in found)


def test_whispers_yao_for_one_counts_only_inside_a_number() -> None:
    assert [n.digits for n in spoken_numbers("电话是要三五要零二二四六八九")] == ["13510224689"]
    assert spoken_numbers("我要投诉，要求他们三天内处理") == []


def test_the_number_the_agent_repeats_wins_over_the_callers_later_one() -> None:
    result = find_callback_phone(
        _turns(
            ("caller", "手机一八六一零二二四四六八，单位座机八二三三，五五六六，不一定有人接。"),
            ("agent", "好的，回电话打您手机一八六一零二二四四六八。需要回复您吗？"),
            ("caller", "需要，麻烦了。"),
        )
    )
    assert result is not None and result.number == "18610224468"


def test_a_landline_said_twice_without_a_pause_is_read_once() -> None:
    assert [n.digits for n in spoken_numbers("座机六九要四七二零八6914 7208对")] == [
        "69147208",
        "69147208",
    ]


def test_repeated_digits_collapsed_in_the_callers_words_come_back_from_the_read_back() -> None:
    result = find_callback_phone(
        _turns(
            ("agent", "您的联系电话？"),
            ("caller", "一三九一一二三三三。"),
            ("agent", "我跟您核对一下，一三九一一一二二三三三，对吗？"),
            ("caller", "对的。"),
        )
    )
    assert result is not None and result.number == "13911122333"
    assert result.confirmed and result.confidence > 0.95
    assert [t.index for t in result.turns] == [1, 2, 3]


def test_a_read_back_collapsed_by_recognition_supports_the_callers_number() -> None:
    result = find_callback_phone(
        _turns(
            ("caller", "电话是13800552266。"),
            ("agent", "1380562，需要回复您吗？"),
            ("caller", "需要。"),
        )
    )
    assert result is not None and result.number is None
    result = find_callback_phone(
        _turns(
            ("caller", "电话是13800552266。"),
            ("agent", "138052266，对吗？"),
            ("caller", "对。"),
        )
    )
    assert result is not None and result.number == "13800552266"


@pytest.mark.parametrize(
    "read_back", ["一三九一零二二三三四五五，对吗？", "139-1022-3345-5，对吗？", "139102233455对吗"]
)
def test_a_twelve_digit_read_back_is_rejected_not_cut(read_back: str) -> None:
    assert spoken_numbers(read_back) == []
    result = find_callback_phone(
        _turns(("caller", "一三九一零二二三三四五。"), ("agent", read_back), ("caller", "对。"))
    )
    assert result is not None
    assert result.number is None
    assert result.confidence < 0.5
    assert [t.index for t in result.turns] == [0, 1, 2]


def test_hearings_that_disagree_leave_the_number_empty_with_both_as_evidence() -> None:
    result = find_callback_phone(
        _turns(
            ("agent", "留个电话吧。"),
            ("caller", "幺五零幺二三四七七八九。"),
            ("agent", "幺五零幺二三四七七八六，好的。"),
        )
    )
    assert result is not None and result.number is None
    assert result.confidence < 0.5
    assert [t.index for t in result.turns] == [1, 2]


def test_a_caller_confirmed_read_back_wins_over_a_garbled_hearing() -> None:
    result = find_callback_phone(
        _turns(
            ("caller", "1861043752"),
            ("agent", "18610473752，对吗？"),
            ("caller", "对，没错。"),
        )
    )
    assert result is not None and result.number == "18610473752" and result.confirmed


def test_only_a_garbled_hearing_fills_nothing_but_keeps_the_evidence() -> None:
    result = find_callback_phone(_turns(("agent", "电话？"), ("caller", "1391022345。")))
    assert result is not None and result.number is None
    assert [t.index for t in result.turns] == [1]


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("135-6007-294-1。", "13560072941"),
        ("1-58-2233-0461", "15822330461"),
        ("要三五要要二八六四七九", "13511286479"),
    ],
)
def test_whispers_dashes_and_runs_of_yao(said: str, number: str) -> None:
    assert [n.digits for n in spoken_numbers(said)] == [number]


def test_nian_between_digit_groups_is_a_misheard_filler() -> None:
    assert [n.digits for n in spoken_numbers("电话，一五八，年，三三七二，然后四零六一。")] == [
        "15833724061"
    ]
    assert spoken_numbers("二零一九年十二月") == []


def test_a_confirmed_read_back_that_lost_one_digit_supports_the_callers_number() -> None:
    said = ("caller", "一五八二六零三四四一九。")
    read_back = ("agent", "158.603.4419,对吗？")
    result = find_callback_phone(_turns(said, read_back, ("caller", "对。")))
    assert result is not None and result.number == "15826034419" and result.confirmed
    assert 0.8 <= result.confidence < 0.9
    # Unconfirmed, the two hearings still disagree.
    result = find_callback_phone(_turns(said, read_back, ("caller", "嗯，然后呢")))
    assert result is not None and result.number is None


def test_a_confirmation_repeating_the_read_backs_tail_wins_over_the_callers_slip() -> None:
    result = find_callback_phone(
        _turns(
            ("caller", "158,0245,4409,哦，不对，我念错了。"),
            ("agent", "那就是15802454490,对吗？"),
            ("caller", "对，4490。"),
        )
    )
    assert result is not None and result.number == "15802454490" and result.confirmed
    # A bare 对 does not settle two complete hearings that differ.
    result = find_callback_phone(
        _turns(
            ("caller", "158,0245,4409。"),
            ("agent", "那就是15802454490,对吗？"),
            ("caller", "对。"),
        )
    )
    assert result is not None and result.number is None


def test_a_read_back_with_part_of_the_area_code_supports_the_landline() -> None:
    result = find_callback_phone(
        _turns(
            ("caller", "打家里座机吧，八二七幺，五三九六。"),
            ("agent", "银销零八二七要五三九六，对吧？"),
            ("caller", "对对对。"),
        )
    )
    assert result is not None and result.number == "82715396" and result.confirmed


def _reheard(turns: list[Turn], index: int, text: str) -> list[Turn]:
    return [dataclasses.replace(t, rehearing=text) if t.index == index else t for t in turns]


def test_a_second_hearing_of_the_read_back_settles_what_the_first_could_not() -> None:
    turns = _turns(
        ("caller", "一三九一一一二二三三三。"),
        ("agent", "一三九一二二三三四，对吗？"),
        ("caller", "对。"),
    )
    first = find_callback_phone(turns)
    assert first is not None and first.number is None
    again = find_callback_phone(_reheard(turns, 1, "一三九一一一二二三三三"))
    assert again is not None and again.number == "13911122333" and again.confirmed


def test_a_second_hearing_of_the_callers_words_supports_the_read_back() -> None:
    turns = _turns(
        ("caller", "一五八二六零三四四一九。"),
        ("agent", "一五八二六八三四四一九，是吗？"),
        ("caller", "嗯。"),
    )
    first = find_callback_phone(turns)
    assert first is not None and first.number is None
    again = find_callback_phone(_reheard(turns, 0, "一五八二六八三四四一九"))
    assert again is not None and again.number == "15826834419"


def test_two_hearings_of_the_read_back_that_settle_different_numbers_settle_none() -> None:
    turns = _turns(
        ("caller", "幺五零幺二三四七七八九。"),
        ("caller", "哦不对，幺五零幺二三四七七八六。"),
        ("agent", "幺五零幺二三四七七八九，对吗？"),
        ("caller", "对。"),
    )
    first = find_callback_phone(turns)
    assert first is not None and first.number == "15012347789"
    again = find_callback_phone(_reheard(turns, 2, "幺五零幺二三四七七八六"))
    assert again is not None and again.number is None
    assert again.confidence < 0.5


def test_a_number_no_one_read_back_is_restored_when_the_transcript_lost_a_repeat() -> None:
    turns = _turns(("agent", "您的电话？"), ("caller", "1371652081。"))
    first = find_callback_phone(turns)
    assert first is not None and first.number is None
    again = find_callback_phone(_reheard(turns, 1, "一三七一六六五二零八一"))
    assert again is not None and again.number == "13716652081"
    assert again.confidence < 0.9
    changed = find_callback_phone(_reheard(turns, 1, "一三七一六六五二零八七"))
    assert changed is not None and changed.number is None


def test_a_number_no_one_read_back_is_restored_when_the_transcript_dropped_a_digit() -> None:
    turns = _turns(("agent", "您的电话？"), ("caller", "电话1860158347，快点啊。"))
    again = find_callback_phone(_reheard(turns, 1, "一八六零一二五八三四七"))
    assert again is not None and again.number == "18601258347"
    two_ways = find_callback_phone(
        _reheard(turns, 1, "一八六零一二五八三四七，一八六零一五八三四七九")
    )
    assert two_ways is not None and two_ways.number is None


def test_a_callers_number_heard_two_ways_with_no_read_back_is_not_filled() -> None:
    turns = _turns(("agent", "您的电话？"), ("caller", "电话是一三七一六六五二零八一。"))
    first = find_callback_phone(turns)
    assert first is not None and first.number == "13716652081"
    again = find_callback_phone(_reheard(turns, 1, "一三七一六六五二零八七"))
    assert again is not None and again.number is None
    same = find_callback_phone(_reheard(turns, 1, "一三七一六六五二零八一"))
    assert same is not None and same.number == "13716652081"


def test_a_landline_the_second_hearing_hears_as_other_digits_is_not_filled() -> None:
    # testg-30: the caller's 一三八一一零二五五六零 came out as an eight-digit landline; heard
    # again alone it was 三八一零二五五六零, no number, but not the landline either.
    turns = _turns(("agent", "电话方便留一下吗？"), ("caller", "B3-1-1-0-5-5-6-0。"))
    first = find_callback_phone(turns)
    assert first is not None and first.number == "31105560"
    again = find_callback_phone(_reheard(turns, 1, "第三八一零二五五六零。"))
    assert again is not None and again.number is None
    assert again.confidence < 0.5


def test_a_second_hearing_that_only_lost_or_gained_a_digit_leaves_the_number() -> None:
    turns = _turns(("agent", "您的电话？"), ("caller", "电话是一三七一六六五二零八一。"))
    lost = find_callback_phone(_reheard(turns, 1, "一三七一六五二零八一"))
    assert lost is not None and lost.number == "13716652081"
    gained = find_callback_phone(_reheard(turns, 1, "一三七一六六五五二零八一"))
    assert gained is not None and gained.number == "13716652081"


def test_a_read_back_that_is_a_piece_of_the_callers_longer_number_is_not_a_landline() -> None:
    # i4-011: twelve digits heard from the caller, eight of them read back.
    turns = _turns(
        ("caller", "1391,1638,05013。"),
        ("agent", "91163805，对吗？"),
        ("caller", "对。"),
    )
    result = find_callback_phone(turns)
    assert result is not None and result.number is None and result.confidence < 0.5
    landline = find_callback_phone(
        _turns(("caller", "家里座机。"), ("agent", "91163805，对吗？"), ("caller", "对。"))
    )
    assert landline is not None and landline.number == "91163805" and landline.confirmed
