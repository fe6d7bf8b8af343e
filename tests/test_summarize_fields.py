"""Whole-call extraction, names, classification, the eval command and `callscribe extract`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from callscribe.cli import main
from callscribe.schema import Segment, Speaker, Transcript
from callscribe.summarize import extract_case_fields
from callscribe.summarize.dialogue import Turn
from callscribe.summarize.evaluate import evaluate, load_labelled
from callscribe.summarize.names import find_caller_name

from .conftest import FIXTURES

DEV = FIXTURES / "transcripts" / "fields-dev.jsonl"
HELD_OUT = [
    FIXTURES / "transcripts" / n for n in ("fields-heldout.jsonl", "fields-heldout-b.jsonl")
]


def _turns(*pairs: tuple[Speaker | None, str]) -> list[Turn]:
    return [Turn(i, who, text, float(i), i + 1.0) for i, (who, text) in enumerate(pairs)]


def _transcript(*pairs: tuple[Speaker | None, str]) -> Transcript:
    return Transcript(
        duration=4.0 * len(pairs),
        segments=[Segment(4.0 * i, 4.0 * i + 4, t, s) for i, (s, t) in enumerate(pairs)],
    )


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        ((("agent", "您贵姓？"), ("caller", "我叫赵建国。")), "赵建国"),
        ((("agent", "您贵姓？"), ("caller", "我姓孙。"), ("agent", "孙女士，电话？")), "孙女士"),
        ((("agent", "怎么称呼？"), ("caller", "免贵姓钱，钱先生。")), "钱先生"),
        ((("agent", "您贵姓？"), ("caller", "姓谢。")), "谢"),
        ((("agent", "您贵姓？"), ("caller", "林，双木林，女的。")), "林女士"),
        ((("agent", "您的姓名？"), ("caller", "欧阳明。")), "欧阳明"),
        ((("agent", "温女士还是温先生？"), ("caller", "温女士。")), None),
        ((("caller", "窗口一个姓张的小姑娘很耐心。"), ("caller", "免贵姓王，王先生。")), "王先生"),
        (((None, "您叫什么名字 我叫田芳电话呢 一八六"),), "田芳"),
        (((None, "我叫马丽上地西里八号楼的"),), "马丽"),
        (((None, "我叫张敏芳群园三区"),), "张敏"),
        ((("agent", "您的姓名？"), ("caller", "叫我老柴就行，柴先生。")), "柴先生"),
    ],
)
def test_names(pairs: tuple[tuple[Speaker | None, str], ...], name: str | None) -> None:
    result = find_caller_name(_turns(*pairs))
    if name is None:
        assert result is None
    else:
        assert result is not None and result.name == name


def test_declined_name_is_null_with_evidence() -> None:
    result = find_caller_name(
        _turns(("agent", "请问您的姓名？"), ("caller", "名字就不留了，别说是我举报的。"))
    )
    assert result is not None
    assert result.name is None
    assert result.turns[0].index == 1


def test_a_whole_call() -> None:
    fields = extract_case_fields(
        _transcript(
            ("agent", "您好，北京12345。"),
            ("caller", "喂，我们楼道里一股很浓的煤气味儿，特别呛，我怕出事。"),
            ("agent", "地址是哪里？"),
            ("caller", "西城区百万庄西区，十二号楼三门。"),
            ("agent", "您贵姓？"),
            ("caller", "免贵姓钱，钱先生。电话一三九，嗯，零一零二，那个，三四五六。"),
            ("agent", "一三九零一零二三四五六，对吧？"),
            ("caller", "对，就是这个。"),
        )
    )
    assert fields.caller_name == "钱先生"
    assert fields.callback_phone == "13901023456"
    assert (fields.district, fields.street, fields.community) == (
        "西城区", "展览路街道", "百万庄西社区",
    )  # fmt: skip
    assert (fields.appeal_type, fields.category, fields.urgency) == ("求助", "公共服务", "紧急")
    assert fields.confirmed == ["callback_phone", "district"]
    assert fields.summary.startswith("来电人反映：") and "诉求：" in fields.summary
    assert len(fields.summary) <= 200 and 0 < len(fields.title) <= 30
    for name in ("caller_name", "callback_phone", "district", "street", "urgency", "category"):
        assert fields.evidence[name], name
        assert 0.0 <= fields.confidence[name] <= 1.0
    phone_evidence = fields.evidence["callback_phone"]
    assert [e.segment for e in phone_evidence] == [5, 6, 7]
    assert phone_evidence[0].start == 20.0 and "一三九" in phone_evidence[0].text


def test_raw_whisper_text_without_speakers_or_punctuation() -> None:
    fields = extract_case_fields(
        _transcript(
            (None, "你好 我家里好像然气泄露了 有很大的味道 在石景山区古城街道 古城南路"),
            (None, "您先开窗不要用电器 您叫什么名字 我叫田芳 电话呢"),
            (None, "一八六幺二三四幺二三四 好的我们马上安排抢修"),
        )
    )
    assert (fields.caller_name, fields.callback_phone) == ("田芳", "18612341234")
    assert (fields.district, fields.street) == ("石景山区", "古城街道")
    assert (fields.urgency, fields.category) == ("紧急", "公共服务")


def test_targets_hold_on_the_dev_set() -> None:
    scores, latencies = evaluate(load_labelled(DEV), extract_case_fields)
    targets = {
        "callback_phone": 0.98, "district": 0.95, "street": 0.90, "caller_name": 0.90,
        "appeal_type": 0.90, "category": 0.85, "urgency": 0.95,
    }  # fmt: skip
    for name, target in targets.items():
        assert scores[name].accuracy >= target, (name, scores[name].misses)
    assert sorted(latencies)[len(latencies) // 2] < 50


def test_phone_and_address_hold_on_the_held_out_sets() -> None:
    calls = [c for path in HELD_OUT for c in load_labelled(path)]
    assert len(calls) >= 30
    scores, _ = evaluate(calls, extract_case_fields)
    assert scores["callback_phone"].accuracy >= 0.98
    assert scores["district"].accuracy >= 0.95


def test_fixture_sets_are_big_enough_and_cover_every_label() -> None:
    calls = [c for path in [DEV, *HELD_OUT] for c in load_labelled(path)]
    two_party = [c for c in calls if any(s.speaker for s in c.transcript.segments)]
    raw = [c for c in calls if not any(s.speaker for s in c.transcript.segments)]
    assert len(two_party) >= 40 and len(raw) >= 10
    from callscribe.schema import APPEAL_TYPES, CATEGORIES

    def values(field: str) -> set[str]:
        out: set[str] = set()
        for c in calls:
            label = c.labels.get(field)
            out.update(label if isinstance(label, list) else [label])
        return out

    assert set(APPEAL_TYPES) <= values("appeal_type")
    assert set(CATEGORIES) <= values("category")


def test_eval_fields_command(tmp_path: Path) -> None:
    labelled = tmp_path / "two.jsonl"
    lines = [
        {"id": "a", "turns": [["caller", "我在朝阳区望京，电话一三八一二三四五六七八。我叫赵建国"]],
         "labels": {"callback_phone": "13812345678", "district": "朝阳区",
                    "caller_name": "赵建国先生", "needs_callback": None}},
        {"id": "b", "turns": [[None, "我姓谢 海淀区 电话 六九五四三二一零"]],
         "labels": {"callback_phone": ["69543210", "01069543210"], "district": "西城区",
                    "caller_name": "谢"}},
    ]  # fmt: skip
    labelled.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    result = CliRunner().invoke(main, ["eval", "fields", str(labelled), "--misses"])
    assert result.exit_code == 0, result.output
    assert "callback_phone    100.0%  (2/2)" in result.output
    assert "district           50.0%  (1/2)" in result.output
    assert "b: expected '西城区', got '海淀区'" in result.output
    assert "caller_name        50.0%  (1/2)" in result.output
    assert "needs_callback" not in result.output
    data = json.loads(CliRunner().invoke(main, ["eval", "fields", str(labelled), "--json"]).output)
    assert data["fields"]["district"]["accuracy"] == 0.5
    assert data["calls"] == 2 and data["latency_ms"]["max"] > 0


def test_eval_fields_names_a_bad_line(tmp_path: Path) -> None:
    labelled = tmp_path / "bad.jsonl"
    labelled.write_text('{"id": "a", "turns": [], "labels": {}}\n{"id": "b"}\n')
    result = CliRunner().invoke(main, ["eval", "fields", str(labelled)])
    assert result.exit_code != 0
    assert "bad.jsonl:2: not a labelled call" in result.output


def test_extract_plain_text_and_json(tmp_path: Path) -> None:
    text = tmp_path / "call.txt"
    text.write_text(
        "您好，12345。\n我要投诉，海淀区清河这边工地半夜打桩。\n"
        "我姓孙，电话幺五八 幺幺二二 三三四四。\n"
    )
    out = CliRunner().invoke(main, ["extract", str(text), "--json"])
    assert out.exit_code == 0, out.output
    fields = json.loads(out.output)
    assert fields["callback_phone"] == "15811223344"
    assert (fields["district"], fields["street"]) == ("海淀区", "清河街道")
    assert (fields["appeal_type"], fields["category"]) == ("投诉", "环境保护")
    assert fields["evidence"]["callback_phone"][0]["segment"] == 2
    transcript = tmp_path / "call.json"
    transcript.write_text(
        json.dumps(
            {"duration": 8.0, "language": "zh", "text": "", "segments": [
                {"start": 0.0, "end": 4.0, "speaker": "agent", "text": "您贵姓？"},
                {"start": 4.0, "end": 8.0, "speaker": "caller",
                 "text": "我叫陈晓燕，住通州区中仓街道，座机六九五四三二一零。", "confidence": 0.9},
            ]},
            ensure_ascii=False,
        )
    )  # fmt: skip
    out = CliRunner().invoke(main, ["extract", str(transcript), "--json"])
    assert out.exit_code == 0, out.output
    fields = json.loads(out.output)
    assert (fields["caller_name"], fields["callback_phone"]) == ("陈晓燕", "69543210")
    assert fields["evidence"]["caller_name"][0] == {
        "segment": 1, "start": 4.0, "end": 8.0,
        "text": "我叫陈晓燕，住通州区中仓街道，座机六九五四三二一零。",
    }  # fmt: skip


def test_confidential_is_false_unless_the_caller_asks() -> None:
    plain = extract_case_fields(
        _transcript(("agent", "您好，北京12345。"), ("caller", "楼道里的灯坏了一个礼拜了。")),
        llm=None,
    )
    assert plain.confidential is False
    assert plain.confidence["confidential"] < 0.8
    asked = extract_case_fields(
        _transcript(
            ("agent", "您好，北京12345。"),
            ("caller", "我举报楼下的黑作坊，不要透露我的信息。"),
        ),
        llm=None,
    )
    assert asked.confidential is True
    assert [e.segment for e in asked.evidence["confidential"]] == [1]


def test_a_phone_the_hearings_disagree_on_is_left_empty_with_the_evidence_of_both() -> None:
    fields = extract_case_fields(
        _transcript(
            ("agent", "您的联系电话？"),
            ("caller", "一五八二二零三六六九一。"),
            ("agent", "一五八二二零三六六九七，对吗？"),
            ("caller", "对。"),
        ),
        llm=None,
    )
    assert fields.callback_phone is None
    assert "callback_phone" not in fields.confirmed
    assert fields.confidence["callback_phone"] < 0.5
    assert [e.segment for e in fields.evidence["callback_phone"]] == [1, 2, 3]
