"""Mandarin clean-up rules, each on the text Whisper really produces (no model needed)."""

from __future__ import annotations

import pytest

from callscribe.schema import Segment, Word
from callscribe.transcribe.postprocess import (
    RawSegment,
    add_final_punctuation,
    clean_segment,
    collapse_repetitions,
    confidence_from_logprob,
    drop_repeated_segments,
    end_sentences,
    is_hallucination,
    is_prompt_echo,
    is_repetition_loop,
    remove_spaces_between_han,
    repair_broken_punctuation,
    strip_hallucinations,
    to_simplified,
    trim_loop_tail,
    words_of_text,
)
from callscribe.transcribe.prompt import HOTLINE_PROMPT, build_initial_prompt, read_vocabulary

GATES = {"no_speech_threshold": 0.6, "log_prob_threshold": -1.0}


def raw(text: str, *, no_speech: float = 0.01, logprob: float = -0.3) -> RawSegment:
    return RawSegment(start=1.0, end=3.0, text=text, avg_logprob=logprob, no_speech_prob=no_speech)


def test_traditional_output_becomes_simplified() -> None:
    # What the base model printed for the sample call without a prompt.
    assert to_simplified("甚至出現交易幾乎停滯的情況") == "甚至出现交易几乎停滞的情况"
    assert to_simplified("也成為地方政府的眼中釘") == "也成为地方政府的眼中钉"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("成为了社会热点", "成为了社会热点。"),
        ("请问您反映什么问题？", "请问您反映什么问题？"),
        ("好的，", "好的，"),
        ("  东城区  ", "东城区。"),
        ("", ""),
    ],
)
def test_final_punctuation_only_appends(text: str, expected: str) -> None:
    out = add_final_punctuation(text)
    assert out == expected
    assert out.startswith(text.strip())


@pytest.mark.parametrize(
    "text",
    [
        "字幕由Amara.org社区提供",
        "字幕由 Amara.org 社区提供",
        "字幕由Amara．org社區提供",
        "小编字幕由Amara.org社区提供",
        "由 Amara.org 社区提供的字幕",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "請不吝點贊訂閱轉發打賞支持明鏡與點點欄目",
        "字幕by索兰娅",
        "字幕 BY 索兰娅",
        "中文字幕志愿者 杨茜茜",
        "谢谢大家收看",
        "感谢观看",
        "明镜需要您的支持 欢迎订阅明镜",
        "优优独播剧场——YoYo Television Series Exclusive",
    ],
)
def test_subtitle_credit_variants_are_blocked(text: str) -> None:
    assert is_hallucination(text)
    assert strip_hallucinations(text) == ""
    assert clean_segment(raw(text), None, **GATES) is None


@pytest.mark.parametrize(
    "text",
    [
        "我要投诉小区门口的噪音",
        "谢谢您，我们会尽快处理。",
        "请问您的电话是多少？",
        "我们小区的字画店门口堆满了垃圾",
        "您好，这里是北京12345市民服务热线。",
    ],
)
def test_hotline_speech_is_not_blocked(text: str) -> None:
    assert not is_hallucination(text)
    segment = clean_segment(raw(text), "caller", **GATES)
    assert segment is not None
    assert segment.text.startswith(text.rstrip("。"))


def test_credit_after_real_speech_is_cut_and_the_speech_kept() -> None:
    text = "东城区胡同里有车堵着。字幕由Amara.org社区提供"
    assert strip_hallucinations(text) == "东城区胡同里有车堵着。"


def test_repetition_loop_is_dropped_and_short_repeats_survive() -> None:
    loop = "我们会尽快处理" * 8
    assert is_repetition_loop(loop)
    assert clean_segment(raw(loop), None, **GATES) is None
    assert is_repetition_loop("啊" * 30)
    for fine in ("谢谢谢谢", "好的好的，我知道了", "对对对，就是那个小区"):
        assert not is_repetition_loop(fine)
        assert collapse_repetitions(fine) == fine


def test_loop_tail_after_real_speech_is_collapsed() -> None:
    text = "楼上漏水已经三天了，" + "麻烦您" * 6
    out = collapse_repetitions(text)
    assert out == "楼上漏水已经三天了，麻烦您麻烦您"


def test_a_loop_at_the_end_of_a_turn_is_cut_and_the_sentence_kept() -> None:
    # The case: the caller's sentence carried the category, the loop took the window.
    text = "我想咨询一下燃气的服务" + "务" * 40
    assert not is_repetition_loop(text)
    segment = clean_segment(raw(text), "caller", **GATES)
    assert segment is not None
    assert segment.text == "我想咨询一下燃气的服务。"
    unit_loop = "楼上漏水已经三天了，" + "麻烦您，" * 12
    assert is_repetition_loop(unit_loop) is False
    assert trim_loop_tail(unit_loop) == "楼上漏水已经三天了，麻烦您"
    # A broken-off last repeat is part of the loop, not words after it.
    assert (
        trim_loop_tail("楼上漏水已经三天了" + "麻烦您" * 6 + "麻烦") == "楼上漏水已经三天了麻烦您"
    )


def test_a_loop_from_the_start_is_dropped_whole() -> None:
    for loop in ("服务" * 12, "嗯，" + "我们会尽快处理" * 8, "好的" + "务" * 30):
        assert is_repetition_loop(loop), loop
        assert clean_segment(raw(loop), "caller", **GATES) is None
    # A loop at the start with a real sentence after it keeps the sentence.
    lead = "嗯" * 9 + "，我家楼上漏水已经三天了，一直没人管，物业也不接电话"
    assert not is_repetition_loop(lead)
    segment = clean_segment(raw(lead), "caller", **GATES)
    assert (
        segment is not None
        and segment.text == "嗯嗯，我家楼上漏水已经三天了，一直没人管，物业也不接电话。"
    )


def test_words_and_end_of_a_cut_loop_tail_follow_the_text() -> None:
    words = _words("我想", "咨询", "一下", "服务", *["务"] * 20)
    segment = clean_segment(
        RawSegment(0.0, 24.0, "".join(w.word for w in words), -0.3, 0.01, words=words),
        "caller",
        **GATES,
    )
    assert segment is not None and segment.words is not None
    assert segment.text == "我想咨询一下服务。"
    assert [w.word for w in segment.words] == ["我想", "咨询", "一下", "服务"]
    assert segment.end == 3.5
    assert all(segment.start <= w.start and w.end <= segment.end for w in segment.words)
    # A loop in the middle keeps what follows it, and the segment's end.
    middle = _words("我家楼上", *["漏水"] * 6, "已经", "三天", "了")
    kept = clean_segment(
        RawSegment(0.0, 10.0, "".join(w.word for w in middle), -0.3, 0.01, words=middle),
        None,
        **GATES,
    )
    assert kept is not None and kept.words is not None
    assert kept.text == "我家楼上漏水漏水已经三天了。" and kept.end == 10.0
    assert [w.word for w in kept.words] == ["我家楼上", "漏水", "漏水", "已经", "三天", "了"]


def test_broken_comma_is_repaired_without_touching_characters() -> None:
    # Seen on the sample call with the old prompt: "，" spelt with a wrong last byte.
    text = "甚至出现交易几乎停滞的情况Ｇ广州日报报到后成为了社会热点Ｇ"
    fixed = repair_broken_punctuation(text)
    assert fixed == "甚至出现交易几乎停滞的情况，广州日报报到后成为了社会热点，"
    assert fixed.replace("，", "") == text.replace("Ｇ", "")
    assert repair_broken_punctuation("ＡＢＣ公司") == "ＡＢＣ公司"


def test_spaces_between_han_are_removed_others_kept() -> None:
    assert remove_spaces_between_han("广州市 佛地产 中间协会分析") == "广州市佛地产中间协会分析"
    assert remove_spaces_between_han("拨打 12345 热线") == "拨打 12345 热线"


def test_no_speech_gate_needs_low_logprob_or_a_prompt_echo() -> None:
    # Whisper's rule: high no-speech probability together with a low log-probability.
    assert clean_segment(raw("嗯嗯", no_speech=0.9, logprob=-1.5), None, **GATES) is None
    # Measured: on noise the base model repeats its prompt with no_speech 0.95, logprob -0.29.
    echo = raw("请问您反映什么问题。", no_speech=0.95, logprob=-0.29)
    assert clean_segment(echo, None, **GATES) is not None
    assert clean_segment(echo, None, **GATES, prompt=HOTLINE_PROMPT) is None
    twice = raw("请问您反映什么问题。请问您反映什么问题。", no_speech=0.9)
    assert clean_segment(twice, None, **GATES, prompt=HOTLINE_PROMPT) is None
    assert not is_prompt_echo("请问您反映什么问题。我家楼上漏水", HOTLINE_PROMPT)
    # The agent really says the greeting: with speech, it stays.
    spoken = raw("您好，这里是北京12345市民服务热线", no_speech=0.02)
    assert is_prompt_echo(spoken.text, HOTLINE_PROMPT)
    assert clean_segment(spoken, "agent", **GATES, prompt=HOTLINE_PROMPT) is not None


def test_confidence_is_a_probability() -> None:
    assert confidence_from_logprob(0.0) == 1.0
    assert confidence_from_logprob(-0.3) == pytest.approx(0.7408, abs=1e-4)
    assert confidence_from_logprob(-50.0) >= 0.0
    segment = clean_segment(raw("也成为地方政府的眼中钉", logprob=-0.42), None, **GATES)
    assert segment is not None
    assert 0.0 < segment.confidence < 1.0


def test_prompt_uses_single_token_punctuation_and_optional_vocabulary() -> None:
    assert "，" not in HOTLINE_PROMPT and "？" not in HOTLINE_PROMPT
    assert HOTLINE_PROMPT == to_simplified(HOTLINE_PROMPT)
    terms = read_vocabulary()
    assert "接诉即办" in terms and "12345" in terms and "朝阳区" in terms
    with_vocab = build_initial_prompt(use_vocabulary=True)
    assert with_vocab is not None and with_vocab.endswith(HOTLINE_PROMPT)
    assert "接诉即办" in with_vocab and len(with_vocab) <= 180
    assert build_initial_prompt(None) is None


def _words(*pieces: str) -> tuple[Word, ...]:
    return tuple(
        Word(start=float(i), end=float(i) + 0.5, word=piece, probability=0.9)
        for i, piece in enumerate(pieces)
    )


def test_words_of_a_cut_credit_leave_with_it() -> None:
    words = _words(
        "东城区", "胡同里", "有车", "堵着", "。", "字幕", "由", "Amara", ".org", "社区", "提供"
    )
    segment = clean_segment(
        RawSegment(0.0, 11.0, "".join(w.word for w in words), -0.3, 0.01, words=words),
        None,
        **GATES,
    )
    assert segment is not None and segment.words is not None
    assert segment.text == "东城区胡同里有车堵着。"
    assert [w.word for w in segment.words] == ["东城区", "胡同里", "有车", "堵着", "。"]
    assert segment.words[-1].end <= 5.0


def test_words_of_a_collapsed_loop_shrink_with_the_text() -> None:
    words = _words("楼上", "漏水", "，", *["麻烦", "您"] * 6)
    out = words_of_text(list(words), "楼上漏水，麻烦您麻烦您。")
    assert "".join(w.word for w in out) == "楼上漏水，麻烦您麻烦您"


def test_words_are_all_kept_when_the_text_was_not_cut() -> None:
    words = list(_words("乾隆", "年间", "的", "碑"))
    assert words_of_text(words, to_simplified("乾隆年间的碑") + "。") == words


def _bare(start: float, end: float, text: str) -> Segment:
    segment = clean_segment(
        RawSegment(start, end, text, -0.3, 0.01), "caller", **GATES, final_punctuation=False
    )
    assert segment is not None
    return segment


def test_a_sentence_cut_by_a_short_pause_is_joined_with_a_comma() -> None:
    segments = end_sentences(
        [
            _bare(0.0, 1.8, "我家住在"),
            _bare(2.6, 4.9, "朝阳区望京街道"),
            _bare(9.0, 11.0, "楼上漏水了？"),
            _bare(11.2, 12.0, "好的"),
        ]
    )
    assert [s.text for s in segments] == [
        "我家住在，",
        "朝阳区望京街道。",
        "楼上漏水了？",
        "好的。",
    ]


def test_end_sentences_never_changes_characters() -> None:
    texts = ["乾隆年间", "对对对", "嗯"]
    segments = end_sentences([_bare(i, i + 0.5, t) for i, t in enumerate(texts)])
    assert [s.text.rstrip("，。") for s in segments] == texts


def test_the_same_sentence_in_four_segments_running_is_a_loop() -> None:
    looped = [_bare(float(i), i + 1.0, "你别忘了") for i in range(6)]
    around = [_bare(10.0, 11.0, "喂？"), _bare(11.5, 12.0, "喂？"), _bare(13.0, 15.0, "您好")]
    kept = drop_repeated_segments([*looped, *around])
    assert [s.text for s in kept] == ["喂？", "喂？", "您好"]


def test_end_sentences_and_drop_repeated_segments_take_an_empty_channel() -> None:
    assert end_sentences([]) == []
    assert drop_repeated_segments([]) == []
