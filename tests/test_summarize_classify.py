"""The urgency rules read negations and past events; cue words match raw Whisper text with spaces.

The trained classifier decides urgency (tests/test_summarize_case_model.py); the rules are cited
where they agree and are measured by scripts/classifier_cv.py --urgency.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.schema import Speaker
from callscribe.summarize.classify import (
    classify_category_by_rules,
    classify_urgency_by_rules,
    find_flags,
)
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.evaluate import TUNING_SETS


def _turns(*lines: tuple[Speaker | None, str]) -> list[Turn]:
    return [Turn(i, who, text, 4.0 * i, 4.0 * i + 4) for i, (who, text) in enumerate(lines)]


@pytest.mark.parametrize(
    "said",
    [
        "没有人受伤，就是车刮了一下。",
        "没有任何人受伤。",
        "上次着火以后我们一直担心，现在不着急，就想问问灭火器谁来配。",
        "上礼拜我们门口那条路塌了个坑，第二天就填平了，想说声谢谢。",
    ],
)
def test_negated_or_past_dangers_are_not_urgent(said: str) -> None:
    assert classify_urgency_by_rules(_turns(("caller", said))).value == "一般"


@pytest.mark.parametrize(
    "said",
    [
        "我家厨房不小心着火了！",
        "楼上的水止不住往下流。",
        "我没事 他受伤了 流了好多血",
        "门口 没有 井盖 了 晚上看不见",
        "楼道里 有 煤气 味 很大",
        "对面楼顶有个人要往下跳！",
    ],
)
def test_dangers_now_are_urgent_with_or_without_punctuation(said: str) -> None:
    assert classify_urgency_by_rules(_turns((None, said))).value == "紧急"


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("工地 夜里 施工 轰鸣 吵得 我们 睡不着", "环境保护"),
        ("路边的雨水篦子堵了，下雨就积成一片。", "城乡建设"),
        ("末班车提前半小时就没了，还经常甩站。", "交通管理"),
        ("单位拖欠工资三个月，五险一金也没交。", "劳动和社会保障"),
        ("孩子明年上小学，想问学区怎么划。", "教育"),
        ("楼下 早音 特别大", "环境保护"),
        ("我们 这片 停店 了 一直 没来", "公共服务"),
    ],
)
def test_scope_words_and_homophones_decide_the_category(said: str, category: str) -> None:
    """The cue tables (no longer the default decision: see test_summarize_case_model.py)."""
    assert classify_category_by_rules(_turns((None, said))).value == category


def test_the_tuning_sets_are_named_not_globbed() -> None:
    assert TUNING_SETS[0] == "dev" and len(TUNING_SETS) == len(set(TUNING_SETS))
    assert all(name.startswith(("dev", "heldout")) for name in TUNING_SETS)
    transcripts = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
    assert all((transcripts / f"fields-{name}.jsonl").is_file() for name in TUNING_SETS)


@pytest.mark.parametrize(
    ("lines", "wanted"),
    [
        ((("agent", "需要回复您吗？"), ("caller", "要的，越快越好。")), True),
        ((("agent", "处理结果要不要给您回电？"), ("caller", "不用不用，回电话就算了。")), False),
        ((("caller", "回访就免了，你们给弄好就行。"),), False),
        ((("caller", "你们修完了记得通知我一声。"),), True),
        ((("agent", "后面就不安排回访了可以吗？"), ("caller", "可以，不用回访。")), False),
        (((None, "电话一三九零零零零零零零零需要回复您吗不用了谢谢"),), False),
        ((("agent", "需要我们转给街道，让他们给您回个电话说清楚吗？"), ("caller", "行。")), True),
        ((("agent", "让他们给您回个电话告诉您地点，可以吗？"), ("caller", "好的好的。")), True),
        ((("agent", "不用再给您回电话了，可以吗？"), ("caller", "可以。")), False),
        ((("caller", "有消息一定给我打电话。"),), True),
        (((None, "需要给您回复处理结果吗不用了你们赶紧去看看"),), False),
        # As Whisper writes them: the variant 覆 that OpenCC keeps, 回访 heard as 回房.
        ((("agent", "处理完了需要给您回覆吗？"), ("caller", "要，要回覆。")), True),
        ((("agent", "后面就不安排回房了，可以吗？"), ("caller", "可以可以。")), False),
    ],
)
def test_callback_answers_and_cues(
    lines: tuple[tuple[Speaker | None, str], ...], wanted: bool
) -> None:
    turns = _turns(*lines)
    flag = find_flags(turns).get("needs_callback")
    assert flag is not None and flag[0] is wanted
    assert all(turn in turns for turn in flag[1]), "evidence keeps the words as heard"


def test_callback_is_null_when_nobody_discusses_it() -> None:
    assert "needs_callback" not in find_flags(
        _turns(("caller", "楼道灯坏了。"), ("agent", "好的。"))
    )


def test_the_agents_promise_of_secrecy_marks_the_call_confidential() -> None:
    flags = find_flags(
        _turns(("caller", "别跟他们说是谁打的电话。"), ("agent", "好的，我们会为您保密。"))
    )
    assert flags["confidential"][0] is True
    flags = find_flags(_turns(("caller", "楼道灯坏了。"), ("agent", "我们会为您保密。")))
    assert flags["confidential"][0] is True
    flags = find_flags(
        _turns(
            ("caller", "我怕他们知道是我打的。"),
        )
    )
    assert flags["confidential"][0] is True
