"""Punctuation from pauses: only marks inserted, the model's own marks kept, never doubled."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from callscribe.schema import Word
from callscribe.transcribe.punctuate import (
    CLAUSE_PAUSE_S,
    MARKS,
    SENTENCE_PAUSE_S,
    mark_for_pause,
    punctuate,
    sentence_mark,
)


def _words(*spec: tuple[float, float, str]) -> list[Word]:
    return [Word(start=s, end=e, word=w, probability=0.9) for s, e, w in spec]


def test_no_pause_gives_one_sentence() -> None:
    words = _words((0.0, 0.4, "我家"), (0.4, 0.8, "楼上"), (0.8, 1.2, "漏水"))
    assert punctuate(words) == "我家楼上漏水。"


def test_a_short_pause_is_a_clause_and_a_long_one_a_sentence() -> None:
    words = _words(
        (0.0, 0.5, "您好"),
        (0.5 + SENTENCE_PAUSE_S, 2.0, "我家"),
        (2.0, 2.4, "楼上"),
        (2.4 + CLAUSE_PAUSE_S, 3.0, "一直"),
        (3.0, 3.4, "漏水"),
    )
    assert punctuate(words) == "您好。我家楼上，一直漏水。"


def test_a_pause_just_under_the_clause_threshold_adds_nothing() -> None:
    words = _words((0.0, 0.5, "您好"), (0.5 + CLAUSE_PAUSE_S - 0.01, 1.2, "请讲"))
    assert punctuate(words) == "您好请讲。"


def test_a_question_particle_ends_a_sentence_with_a_question_mark() -> None:
    words = _words((0.0, 0.5, "能修"), (0.5, 0.7, "吗"), (2.0, 2.5, "谢谢"), (2.5, 2.9, "行么"))
    assert punctuate(words) == "能修吗？谢谢行么？"
    # a clause pause after a particle stays a comma: conservative
    assert punctuate(_words((0.0, 0.5, "是吗"), (0.9, 1.2, "好的"))) == "是吗，好的。"
    assert sentence_mark("在家呢") == "。"


def test_marks_the_model_wrote_are_kept_and_never_doubled() -> None:
    words = _words((0.0, 0.5, "好的，"), (2.0, 2.5, "请讲"), (2.5, 2.8, "。"), (4.0, 4.3, "再见！"))
    assert punctuate(words) == "好的，请讲。再见！"


def test_ascii_marks_after_chinese_become_chinese_marks() -> None:
    words = _words((0.0, 0.5, "于,"), (0.5, 0.8, "月"), (2.0, 2.4, "好吗?"), (2.4, 2.8, " 3.5"))
    assert punctuate(words) == "于，月。好吗？3.5。"


def test_a_mark_opening_the_next_word_is_not_doubled() -> None:
    words = _words((0.0, 0.5, "您好"), (1.8, 1.9, "，请讲"))
    assert punctuate(words) == "您好，请讲。"


def test_spaces_between_han_go_and_latin_words_keep_theirs() -> None:
    words = _words((0.0, 0.3, " 北京"), (0.3, 0.6, " 12345"), (0.6, 0.9, " 热线"))
    assert punctuate(words) == "北京 12345 热线。"
    words = _words((0.0, 0.3, " 朝阳"), (0.3, 0.6, " 区"), (1.0, 1.3, " 望京"))
    assert punctuate(words) == "朝阳区，望京。"


def test_the_final_mark_follows_the_pause_after_the_words() -> None:
    words = _words((0.0, 0.5, "我家住在"))
    assert punctuate(words, final_pause_s=0.0) == "我家住在，"
    assert punctuate(words, final_pause_s=CLAUSE_PAUSE_S) == "我家住在，"
    assert punctuate(words, final_pause_s=SENTENCE_PAUSE_S) == "我家住在。"
    assert punctuate(words, final=False) == "我家住在"
    assert punctuate([]) == ""


def test_mark_for_pause_thresholds() -> None:
    assert mark_for_pause(0.0, "好") == ""
    assert mark_for_pause(CLAUSE_PAUSE_S, "好") == "，"
    assert mark_for_pause(SENTENCE_PAUSE_S, "好") == "。"
    assert mark_for_pause(SENTENCE_PAUSE_S, "好吗") == "？"


_HAN = st.text(alphabet="我家楼上漏水吗么好的请讲，。", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    spec=st.lists(st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 2.0), _HAN), max_size=12),
    final=st.booleans(),
)
def test_only_marks_are_inserted_and_never_two_in_a_row(
    spec: list[tuple[float, float, str]], final: bool
) -> None:
    words: list[Word] = []
    t = 0.0
    for length, pause, text in spec:
        words.append(Word(start=t, end=t + length, word=text, probability=0.5))
        t += length + pause
    out = punctuate(words, final=final)
    marks = re.escape(MARKS)
    joined = "".join(w.word for w in words)
    assert re.sub(f"[{marks}，？！；：]", "", out) == re.sub(f"[{marks}]", "", joined)
    source_runs = re.findall(f"[{marks}]{{2,}}", joined)
    assert len(re.findall(f"[{marks}]{{2,}}", out)) <= len(source_runs)
    if final and re.sub(f"[{marks}]", "", joined):
        assert out[-1] in MARKS
