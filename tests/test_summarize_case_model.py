"""The trained classifier decides appeal type, category and urgency, with calibrated confidences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callscribe.errors import ConfigurationError
from callscribe.schema import APPEAL_TYPES, CATEGORIES, URGENCIES, Speaker
from callscribe.summarize.case_model import (
    EXAMPLES_PATH,
    CaseModel,
    case_model,
    load_examples,
    model_text,
    train,
)
from callscribe.summarize.classify import classify_appeal, classify_category, classify_urgency
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.evaluate import TUNING_SETS
from tests.conftest import FIXTURES

# The citizens' batches the examples are built from; I6 is the blind batch and is never read.
_BATCHES = ("i1", "i2", "i3", "i4", "i5", "i7")


def _turns(*lines: tuple[Speaker | None, str]) -> list[Turn]:
    return [Turn(i, who, text, 4.0 * i, 4.0 * i + 4) for i, (who, text) in enumerate(lines)]


def _count(path: Path) -> int:
    return sum(1 for line in path.read_text("utf-8").splitlines() if line.strip())


def test_the_examples_are_the_batches_and_the_tuning_sets_never_i6() -> None:
    """rules/classifier_examples.jsonl is rebuilt by scripts/classifier_cv.py --write-examples."""
    corpus = FIXTURES / "corpus"
    expected = sum(
        _count(corpus / f"batch-{b}.jsonl")
        for b in _BATCHES
        if (corpus / f"batch-{b}.jsonl").is_file()
    ) + sum(_count(FIXTURES / "transcripts" / f"fields-{name}.jsonl") for name in TUNING_SETS)
    examples = load_examples()
    assert len(examples) == expected
    assert {e.labels["appeal_type"] for e in examples} <= set(APPEAL_TYPES)
    assert {e.labels["category"] for e in examples} <= set(CATEGORIES)
    assert {e.labels["urgency"] for e in examples} == set(URGENCIES)
    raw = [json.loads(line) for line in EXAMPLES_PATH.read_text("utf-8").splitlines()]
    assert not any(r["group"] == "i6" or str(r["id"]).startswith("i6-") for r in raw)


def test_training_is_deterministic() -> None:
    examples = load_examples()[::5]
    first, second = train(examples), train(examples)
    for text in ("物业不修电梯，我要投诉。", "想问一下社保怎么转移？", "路灯坏了"):
        for name in ("appeal_type", "category", "urgency"):
            assert first.decide(name, text) == second.decide(name, text)


@pytest.mark.parametrize(
    ("said", "appeal"),
    [
        # An annoyed question is still a question (SCOPE: 咨询 even when annoyed).
        ("我家补贴申请了一年了到底为什么还没发下来？你们给个说法，到底什么时候能到账？", "咨询"),
        ("我就想问问公积金提取到底要什么材料，跑了三趟都说不清楚，你们能不能一次说明白？", "咨询"),
        ("物业收了维修基金三个月了，楼道灯还是不修，天天推脱，你们管管。", "投诉"),
        # A report stays a report when the caller suffers from it too.
        ("隔壁那家私自在楼顶加盖了一层，挡得我家一点光都没有，这是违建，请城管来查处。", "举报"),
        ("楼下饭店天天半夜往下水道倒地沟油，臭得我们家没法开窗，这是违法排放。", "举报"),
    ],
)
def test_confusable_appeal_types(said: str, appeal: str) -> None:
    decided = classify_appeal(_turns((None, said)), urgent=False)
    assert decided.value == appeal
    assert 0.0 <= decided.confidence <= 1.0


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("我去年住院花了三万，医保报销到现在还没报下来，想问一下需要什么手续？", "劳动和社会保障"),
        (
            "致住建局：我们去年买的首套房，购房补贴申请交上去半年了一直没发，请问什么时候发？",
            "住房物业",
        ),
        (
            "我表弟被人拉进一个传销组织，天天上课交钱拉人头，在城南一个小区里，请你们查一下。",
            "市场管理",
        ),
        ("我们小区地下室有人聚众赌博，每天晚上好多人打牌赌钱，吵吵闹闹的。", "社会秩序"),
    ],
)
def test_confusable_categories(said: str, category: str) -> None:
    assert classify_category(_turns(("caller", said))).value == category


_HELLO = ("agent", "您好，市民热线，请讲。")


@pytest.mark.parametrize(
    ("said", "urgency"),
    [
        # Danger to people or property now.
        ("喂，我家楼道里现在一股很大的煤气味，闻着头都晕了，你们赶紧派人来看看！", "紧急"),
        # A fire last year is not a danger now.
        (
            "我们小区去年冬天三号楼着过一次火，后来也没人管，我想问问消防通道的杂物归谁清理。",
            "一般",
        ),
        # Long-standing anger is not urgency.
        (
            "我真是气死了！楼上装修噪音吵了整整两年，投诉了十几次物业都不管，你们到底管不管？",
            "一般",
        ),
    ],
)
def test_urgency_is_danger_now_not_past_danger_or_anger(said: str, urgency: str) -> None:
    decided = classify_urgency(_turns(_HELLO, ("caller", said)))
    assert decided.value == urgency
    assert decided.confidence >= 0.8


def test_urgency_is_decided_over_the_configured_bar() -> None:
    """The SVM's margin is measured from classifier_urgent_above, and calibrated like the rest."""
    model = case_model().models["urgency"]
    assert model.classes == list(URGENCIES) and model.above < 0
    mapping = CaseModel.calibrate_for("urgency")
    values = [mapping(m / 10) for m in range(0, 30)]
    assert values == sorted(values) and 0.5 <= values[0] < 0.8 and values[-1] < 1.0


def test_the_classifier_reads_every_turn_with_homophones_undone() -> None:
    turns = _turns(("agent", "您好，请讲。"), ("caller", "楼道里有然气味"), (None, " "))
    assert model_text(turns) == "您好，请讲。。楼道里有燃气味"
    assert model_text(turns, caller_only=True) == "楼道里有燃气味"


def test_confidence_is_the_calibrated_margin() -> None:
    mapping = CaseModel.calibrate_for("appeal_type")
    values = [mapping(m / 10) for m in range(0, 30)]
    assert values == sorted(values) and 0.0 < values[0] < 0.5 and values[-1] < 1.0
    decided = case_model().decide("appeal_type", "我要表扬社区的王大姐，帮了我们好几趟。")
    assert decided.value == "表扬"
    assert decided.confidence == round(mapping(decided.margin), 3)


def test_a_malformed_examples_line_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from callscribe.summarize import case_model as module

    monkeypatch.setattr(module, "_EXAMPLES", "cues.yaml")
    with pytest.raises(ConfigurationError, match=r"rules/cues.yaml:\d+: expected JSON"):
        load_examples()
