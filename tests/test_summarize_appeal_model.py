"""The trained appeal classifier decides only where the cue words are unsure."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.errors import ConfigurationError
from callscribe.schema import APPEAL_TYPES, Speaker
from callscribe.summarize.appeal_model import (
    AppealModel,
    ExampleCall,
    appeal_model,
    load_examples,
    train,
)
from callscribe.summarize.classify import (
    classify_appeal,
    classify_appeal_by_rules,
    classify_urgency,
    find_flags,
    model_input,
)
from callscribe.summarize.dialogue import Turn, turns_of
from callscribe.summarize.evaluate import TUNING_SETS, load_labelled
from tests.conftest import FIXTURES


def _turns(*lines: tuple[Speaker, str]) -> list[Turn]:
    return [Turn(i, who, text, 4.0 * i, 4.0 * i + 4) for i, (who, text) in enumerate(lines)]


def _tuning_files() -> list[Path]:
    """The labelled sets by name: a blind set next to them is never read."""
    return [FIXTURES / "transcripts" / f"fields-{name}.jsonl" for name in TUNING_SETS]


def _tiny_model(label: str) -> AppealModel:
    return train(
        [
            ExampleCall(label, "路灯晚上一直不亮，黑乎乎的"),
            ExampleCall(label, "小区门口的路灯坏了好几天了"),
            ExampleCall("表扬", "谢谢你们的工作人员，服务特别好"),
            ExampleCall("表扬", "我要表扬社区的王书记，帮了大忙"),
        ]
    )


def test_unsure_rules_defer_to_the_model() -> None:
    turns = _turns(("agent", "您好，12345。"), ("caller", "我们楼下的路灯晚上一直不亮。"))
    rules = classify_appeal_by_rules(turns, urgent=False)
    assert rules.confidence < 0.6
    assert rules.value != "建议"
    decided = classify_appeal(turns, urgent=False, model=_tiny_model("建议"))
    assert decided.value == "建议"
    assert decided.turns and all(t.from_caller for t in decided.turns)
    assert 0.3 <= decided.confidence <= 0.7


def test_confident_rules_are_not_overridden() -> None:
    turns = _turns(
        ("agent", "您好，12345。"),
        ("caller", "我要投诉，路灯坏了一个月了，物业就是不管，太不负责了，我要投诉他们。"),
    )
    rules = classify_appeal_by_rules(turns, urgent=False)
    assert rules.value == "投诉" and rules.confidence >= 0.6
    decided = classify_appeal(turns, urgent=False, model=_tiny_model("建议"))
    assert decided.value == "投诉"


def test_packaged_examples_are_the_labelled_fixtures() -> None:
    examples = load_examples()
    calls = sum(len(load_labelled(p)) for p in _tuning_files())
    assert len(examples) == calls
    assert {e.label for e in examples} <= set(APPEAL_TYPES)
    label, probability = appeal_model().predict(examples[0].text)
    assert label in APPEAL_TYPES and 0.0 < probability <= 1.0


def test_left_out_set_f_beats_the_rules_alone() -> None:
    """Train on every set but F and score F: the classifier still adds to the rules there.

    (F's urgency misses were looked at by the urgency negation and past-event
    change, which lifted the appeal rules on F from 10 to 13 of 15 through the urgent-help
    bonus; so the margin asked for is one call, and the combined figure must stay at 14.)
    """
    held = FIXTURES / "transcripts" / "fields-heldout-f.jsonl"
    others = [p for p in _tuning_files() if p != held]
    model = train(
        [
            ExampleCall(str(c.labels["appeal_type"]), model_input(turns_of(c.transcript)))
            for p in others
            for c in load_labelled(p)
            if isinstance(c.labels.get("appeal_type"), str)
        ]
    )
    rules_right = combined_right = 0
    for call in load_labelled(held):
        turns = turns_of(call.transcript)
        urgent = classify_urgency(turns).value == "紧急"
        secret = find_flags(turns).get("confidential", (False, []))[0]
        expected = call.labels["appeal_type"]
        options = expected if isinstance(expected, list) else [expected]
        by_rules = classify_appeal_by_rules(turns, urgent=urgent, confidential=secret)
        rules_right += by_rules.value in options
        got = classify_appeal(turns, urgent=urgent, confidential=secret, model=model)
        combined_right += got.value in options
    assert combined_right >= rules_right + 1 and combined_right >= 14


def test_a_malformed_examples_line_names_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from callscribe.summarize import appeal_model as module

    monkeypatch.setattr(module, "_EXAMPLES", "cues.yaml")
    with pytest.raises(ConfigurationError, match=r"rules/cues.yaml:\d+: expected label<TAB>text"):
        load_examples()
