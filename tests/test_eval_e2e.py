"""`callscribe eval e2e` and the precision/recall of `eval fields`.

The model test runs the real pipeline on a bundled stereo call; the others give the command
transcripts stored beforehand (as ``--transcripts`` keeps them) or manifests that are wrong,
so they need no model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from callscribe.cli import main, measure_e2e
from callscribe.cli.e2e_score import score_transcript
from callscribe.schema import CaseFields, Segment, Transcript
from callscribe.summarize.evaluate import FieldScore, field_report, score_call

from .conftest import CALLS

STEREO = CALLS / "call_stereo8k_mulaw.wav"

DIALOGUE = [
    ["agent", "您好，北京12345。"],
    ["caller", "你好，我要反映朝阳区望京街道的小区半夜施工，吵得睡不着。"],
    ["agent", "您怎么称呼？"],
    ["caller", "我姓赵，赵建国。"],
    ["agent", "联系电话？"],
    ["caller", "一三八一二三四五六七八。"],
    ["agent", "好的，我们转给属地处理。"],
]


def _write_manifest(folder: Path, lines: list[Any]) -> Path:
    manifest = folder / "manifest.jsonl"
    manifest.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines)
        + "\n",
        encoding="utf-8",
    )
    return manifest


def _call(call_id: str, audio: str = "a.wav", **changes: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "audio": audio,
        "agent_channel": "left",
        "turns": DIALOGUE,
        "labels": {
            "caller_name": "赵建国",
            "callback_phone": "13812345678",
            "district": "海淀区",
            "street": "望京街道",
            "confidential": None,
        },
        **changes,
    }


def _transcript_of(turns: list[list[str]], speakers: list[str] | None = None) -> Transcript:
    segments = [
        Segment(4.0 * i, 4.0 * i + 3.0, text, speakers[i] if speakers else role)  # type: ignore[arg-type]
        for i, (role, text) in enumerate(turns)
    ]
    return Transcript(duration=4.0 * len(turns), segments=segments)


def _store(folder: Path, call_id: str, transcript: Transcript) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{call_id}.json").write_text(
        json.dumps(transcript.to_dict(), ensure_ascii=False), encoding="utf-8"
    )


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["eval", "e2e", *map(str, args)])


# --- precision and recall per entity field ---------------------------------------------------


def test_precision_counts_filled_values_and_recall_counts_labelled_ones() -> None:
    scores: dict[str, FieldScore] = {}
    labels_a = {"callback_phone": "13812345678", "district": "朝阳区", "caller_name": "赵建国先生"}
    score_call(
        scores,
        "a",
        labels_a,
        CaseFields(callback_phone="13812345678", district="海淀区", caller_name="赵建国"),
    )
    labels_b = {"callback_phone": None, "district": ["西城区", "东城区"], "caller_name": "谢"}
    score_call(scores, "b", labels_b, CaseFields(callback_phone="69543210", caller_name="谢女士"))
    labels_c = {"street": None, "needs_callback": None, "confidential": False}
    score_call(scores, "c", labels_c, CaseFields(needs_callback=True, confidential=False))
    report = field_report(scores)

    phone = report["callback_phone"]
    assert (phone["correct"], phone["total"]) == (1, 2)
    # A number filled where the label says none is a wrong fill: precision pays for it.
    assert (phone["filled_correct"], phone["filled"], phone["labelled"]) == (1, 2, 1)
    assert (phone["precision"], phone["recall"]) == (0.5, 1.0)
    district = report["district"]
    assert (district["filled"], district["labelled"], district["precision"]) == (1, 2, 0.0)
    assert district["recall"] == 0.0
    name = report["caller_name"]  # 赵建国 is not 赵建国先生; 谢女士 is 谢
    assert (name["precision"], name["recall"]) == (0.5, 0.5)
    street = report["street"]
    assert (street["accuracy"], street["precision"], street["recall"]) == (1.0, None, None)
    assert "needs_callback" not in report
    assert report["confidential"]["accuracy"] == 1.0 and "precision" not in report["confidential"]


def test_eval_fields_prints_precision_and_recall(tmp_path: Path) -> None:
    labelled = tmp_path / "two.jsonl"
    lines = [
        {"id": "a", "turns": [["caller", "我在朝阳区望京，电话一三八一二三四五六七八。"]],
         "labels": {"callback_phone": "13812345678", "district": "朝阳区"}},
        {"id": "b", "turns": [["caller", "海淀区 电话 六九五四三二一零"]],
         "labels": {"callback_phone": None, "district": "西城区"}},
    ]  # fmt: skip
    labelled.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    result = CliRunner().invoke(main, ["eval", "fields", str(labelled)])
    assert result.exit_code == 0, result.output
    district = next(line for line in result.output.splitlines() if "district" in line)
    assert "50.0%  (1/2)" in district
    assert "precision  50.0% (1/2)  recall  50.0% (1/2)" in district
    data = json.loads(CliRunner().invoke(main, ["eval", "fields", str(labelled), "--json"]).output)
    assert data["fields"]["callback_phone"]["labelled"] == 1


# --- transcript figures ----------------------------------------------------------------------


def test_a_transcript_equal_to_the_turns_scores_perfectly() -> None:
    turns = [(role, text) for role, text in DIALOGUE]
    score = score_transcript(turns, _transcript_of(DIALOGUE))  # type: ignore[arg-type]
    assert (score.errors, score.cer) == (0, 0.0)
    assert score.turns == score.located == score.in_order == score.right_party == 7


def test_a_transcript_with_one_sides_turns_after_the_others_is_out_of_order() -> None:
    turns = [(role, text) for role, text in DIALOGUE]
    agent_first = [t for t in DIALOGUE if t[0] == "agent"] + [
        t for t in DIALOGUE if t[0] == "caller"
    ]
    score = score_transcript(turns, _transcript_of(agent_first))  # type: ignore[arg-type]
    assert score.located == 7 and score.right_party == 7
    assert score.in_order == 4  # the 4 agent turns, or the first one and the 3 caller turns
    assert score.errors > 0
    swapped = ["caller" if role == "agent" else "agent" for role, _text in DIALOGUE]
    wrong_side = score_transcript(turns, _transcript_of(DIALOGUE, swapped))  # type: ignore[arg-type]
    assert wrong_side.in_order == 7 and wrong_side.right_party == 0
    # Traditional characters and punctuation do not count as errors.
    traditional = score_transcript(
        [("caller", "我要反映。")], _transcript_of([["caller", "我要反映"]])
    )
    assert traditional.errors == 0
    assert score_transcript([("caller", "请问")], _transcript_of([["caller", "请問"]])).errors == 0


# --- the command on stored transcripts -------------------------------------------------------


def _folder_with_audio(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "calls"
    folder.mkdir()
    for name in names:
        shutil.copy(STEREO, folder / name)
    return folder


def test_stored_transcripts_are_scored_without_a_model(tmp_path: Path) -> None:
    folder = _folder_with_audio(tmp_path, "a.wav", "b.wav")
    manifest = _write_manifest(folder, [_call("call-a"), _call("call-b", "b.wav")])
    stored = tmp_path / "transcripts"
    _store(stored, "call-a", _transcript_of(DIALOGUE))
    _store(stored, "call-b", _transcript_of(DIALOGUE[:3]))
    result = _run(manifest, "--transcripts", stored, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["calls"], data["scored"], data["stored_transcripts"]) == (2, 2, 2)
    assert data["failed"] == []
    fields = data["fields"]
    assert fields["district"]["correct"] == 0 and fields["district"]["filled"] == 2
    assert fields["callback_phone"]["recall"] == 0.5 and fields["callback_phone"]["precision"] == 1
    assert fields["street"]["accuracy"] == 1.0 and fields["street"]["precision"] == 1.0
    assert "confidential" not in fields  # null: not discussed, not scored
    first, second = data["per_call"]
    assert first["cer"] == 0.0 and first["in_order"] == 7
    assert second["located"] == 3 and second["errors"] == 31  # the missing turns
    assert data["turns"]["total"] == 14
    text = _run(manifest, "--transcripts", stored, "--misses")
    assert text.exit_code == 0, text.output
    assert (
        "2 calls from manifest.jsonl: 2 scored (2 from stored transcripts), 0 failed" in text.output
    )
    assert "call-a: expected '海淀区', got '朝阳区'" in text.output
    assert "precision" in text.output and "turns in order 100.0% (10/10 found of 14)" in text.output


def test_one_bad_call_is_reported_and_the_others_are_scored(tmp_path: Path) -> None:
    folder = _folder_with_audio(tmp_path, "a.wav")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    (tmp_path / "outside.wav").write_bytes(STEREO.read_bytes())
    (folder / "link.wav").symlink_to(tmp_path / "outside.wav")
    lines: list[Any] = [
        _call("good"),
        _call("broken", "broken.wav"),
        "{not json",
        _call("up", "../outside.wav"),
        _call("absolute", str(STEREO)),
        _call("linked", "link.wav"),
        _call("missing", "nowhere.wav"),
        _call("../etc", "a.wav"),
        _call("good"),
        _call("side", agent_channel="middle"),
        _call("noturns", turns=[["agent"]]),
        _call("nolabels", labels=["district"]),
        [1, 2],
    ]
    manifest = _write_manifest(folder, lines)
    stored = tmp_path / "transcripts"
    _store(stored, "good", _transcript_of(DIALOGUE))
    result = _run(manifest, "--transcripts", stored, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["scored"] == 1 and data["calls"] == len(lines)
    reasons = {f["line"]: f["reason"] for f in data["failed"]}
    assert sorted(reasons) == list(range(2, len(lines) + 1))
    assert all("\n" not in r for r in reasons.values())
    assert reasons[2].startswith("manifest.jsonl:2 (broken): ")
    assert reasons[3].startswith("manifest.jsonl:3: not JSON")
    assert "outside the manifest's folder" in reasons[4]
    assert "absolute path" in reasons[5]
    assert "outside the manifest's folder" in reasons[6]
    assert "'nowhere.wav' is not a file" in reasons[7]
    assert "id must be" in reasons[8]
    assert "'good' appears twice" in reasons[9]
    assert "agent_channel must be 'left' or 'right'" in reasons[10]
    assert "turn 0 must be [role, text]" in reasons[11]
    assert "labels must be a JSON object" in reasons[12]
    assert reasons[13] == "manifest.jsonl:13: not a JSON object"
    # The broken file was decoded and failed; no transcript was stored for it.
    assert not (stored / "broken.json").exists()
    text = _run(manifest, "--transcripts", stored)
    assert "failed:\n  manifest.jsonl:2 (broken): " in text.output


def test_a_manifest_over_the_limits_or_unreadable_stops_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder_with_audio(tmp_path, "a.wav")
    manifest = _write_manifest(folder, [_call("a")])
    monkeypatch.setattr(measure_e2e, "MAX_MANIFEST_BYTES", 100)
    result = _run(manifest)
    assert result.exit_code != 0 and "over the limit of 100" in result.output
    monkeypatch.undo()
    monkeypatch.setattr(measure_e2e, "MAX_LINE_BYTES", 100)
    result = _run(manifest, "--json")
    assert result.exit_code == 1
    assert "manifest.jsonl:1: line is" in json.loads(result.stdout)["failed"][0]["reason"]
    monkeypatch.undo()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert "has no calls" in _run(empty).output
    result = _run(tmp_path / "none.jsonl")
    assert result.exit_code != 0 and "none.jsonl: cannot read the manifest" in result.output


# --- the real pipeline ------------------------------------------------------------------------


@pytest.mark.model
def test_the_pipeline_on_a_bundled_call_then_again_from_its_stored_transcript(
    tmp_path: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLSCRIBE_CACHE", str(model_cache_dir))
    reference = json.loads(STEREO.with_name("call_stereo8k_mulaw.reference.json").read_text())
    folder = _folder_with_audio(tmp_path, "call.wav")
    turns = [[t["speaker"], t["text"]] for t in reference["turns"]]
    # Made-up labels: the clip is read news, so no phone, name or place should be filled.
    labels = {"callback_phone": None, "caller_name": None, "district": None, "street": None}
    line = {"id": "bundled", "audio": "call.wav", "turns": turns, "labels": labels}
    manifest = _write_manifest(folder, [line])
    stored = tmp_path / "transcripts"

    first = _run(manifest, "--transcripts", stored, "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert (data["scored"], data["stored_transcripts"]) == (1, 0)
    call = data["per_call"][0]
    assert call["cer"] < 0.4, call
    assert call["turns"] == 8 and call["located"] >= 6
    assert call["in_order"] == call["located"] and call["right_party"] == call["located"]
    assert data["fields"]["callback_phone"]["accuracy"] == 1.0
    assert (stored / "bundled.json").is_file()

    again = json.loads(_run(manifest, "--transcripts", stored, "--json").stdout)
    assert again["stored_transcripts"] == 1
    assert again["per_call"][0]["cer"] == call["cer"]
    assert again["fields"] == data["fields"]
