"""The calls `callscribe bench` builds from the labelled clips: placement, pauses, references."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from callscribe.audio import decode_call_audio
from callscribe.cli import main
from callscribe.cli.bench_worker import WorkerConfig, parse_configs
from callscribe.errors import ConfigurationError
from callscribe.transcribe.bench import format_paths
from callscribe.transcribe.bench_calls import (
    PAUSE_RANGE_S,
    BuiltCall,
    Clip,
    build_call,
    build_planned_call,
    load_clips,
    plan_order,
    write_call,
)
from callscribe.transcribe.bench_paths import BenchItem, Material, PathBench, turns_in_order
from callscribe.transcribe.evaluate import normalise_for_scoring
from tests.conftest import SPEECH

RATE = 8_000


def _tone_clip(name: str, seconds: float, text: str) -> Clip:
    t = np.arange(round(seconds * RATE)) / RATE
    return Clip(name, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE, text)


@pytest.fixture(scope="module")
def shared_clips() -> list[Clip]:
    return load_clips(SPEECH / "manifest.tsv")


def test_turns_alternate_channels_with_seeded_pauses_and_silence_between() -> None:
    clips = [_tone_clip(f"c{i}", 0.5 + 0.25 * i, f"第{i}句") for i in range(5)]
    call = build_call("synthetic", clips, seed=7)
    assert call.samples.shape[1] == 2 and call.samples.dtype == np.float32
    assert [t.channel for t in call.turns] == [0, 1, 0, 1, 0]
    assert [t.speaker for t in call.turns] == ["agent", "caller", "agent", "caller", "agent"]
    assert call.speaker_order == ["agent", "caller", "agent", "caller", "agent"]
    assert call.reference == "第0句第1句第2句第3句第4句"
    for clip, turn in zip(clips, call.turns, strict=True):
        start, end = round(turn.start_s * RATE), round(turn.end_s * RATE)
        np.testing.assert_array_equal(call.samples[start:end, turn.channel], clip.samples)
        assert not call.samples[start:end, 1 - turn.channel].any(), "the other party is silent"
    for before, after in zip(call.turns, call.turns[1:], strict=False):
        pause = after.start_s - before.end_s
        assert PAUSE_RANGE_S[0] - 1 / RATE <= pause <= PAUSE_RANGE_S[1] + 1 / RATE
        gap = call.samples[round(before.end_s * RATE) : round(after.start_s * RATE)]
        assert not gap.any(), "both channels are silent between turns"
    assert call.duration == pytest.approx(call.turns[-1].end_s + 0.5)
    assert not call.samples[: round(call.turns[0].start_s * RATE)].any()


def test_the_same_seed_builds_the_same_call_and_another_seed_other_pauses() -> None:
    clips = [_tone_clip(f"c{i}", 1.0, "字") for i in range(4)]
    first, again = build_call("a", clips, seed=3), build_call("a", clips, seed=3)
    np.testing.assert_array_equal(first.samples, again.samples)
    other = build_call("a", clips, seed=4)
    assert [t.start_s for t in other.turns] != [t.start_s for t in first.turns]


def test_clips_at_different_rates_or_none_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        build_call("empty", [], seed=0)
    odd = Clip("x", np.zeros(16_000, np.float32), 16_000, "")
    with pytest.raises(ConfigurationError):
        build_call("mixed", [_tone_clip("a", 1.0, ""), odd], seed=0)


def test_plans_put_the_clips_forward_reversed_and_cycled() -> None:
    assert plan_order("forward", [1.0] * 3) == [0, 1, 2]
    assert plan_order("forward,reversed,forward", [1.0] * 3) == [0, 1, 2, 2, 1, 0, 0, 1, 2]
    cycled = plan_order("cycle:20", [2.0] * 3)
    assert cycled[:6] == [0, 1, 2, 2, 1, 0]
    assert sum(2.0 + 0.95 for _ in cycled) + 1.0 >= 20 > sum(2.95 for _ in cycled[1:]) + 1.0
    with pytest.raises(ConfigurationError):
        plan_order("sideways", [1.0])


def test_the_72s_call_holds_the_eleven_shared_clips_and_their_170_characters(
    shared_clips: list[Clip],
) -> None:
    call = build_planned_call("72s", shared_clips)
    assert len(call.turns) == 11
    assert [t.clip for t in call.turns] == [c.name for c in shared_clips]
    assert len(normalise_for_scoring(call.reference)) == 170
    assert 70 <= call.duration <= 80
    three = build_planned_call("3min", shared_clips)
    assert len(three.turns) == 33 and 180 <= three.duration <= 240
    assert three.turns[11].clip == three.turns[10].clip, "reversed starts from the last clip"
    assert three.speaker_order == ["agent", "caller"] * 16 + ["agent"]


def test_a_written_call_decodes_as_two_channels_of_8k_mulaw(
    shared_clips: list[Clip], tmp_path: Path
) -> None:
    call: BuiltCall = build_planned_call("72s", shared_clips[:3])
    audio = decode_call_audio(write_call(call, tmp_path / "call.wav"))
    assert audio.speakers == ["agent", "caller"]
    assert audio.original_sample_rate == RATE and "law" in audio.codec.lower()
    assert audio.duration == pytest.approx(call.duration, abs=0.01)
    first = call.turns[0]
    left = audio.channels[0][round(first.start_s * 16_000) : round(first.end_s * 16_000)]
    right = audio.channels[1][round(first.start_s * 16_000) : round(first.end_s * 16_000)]
    assert np.sqrt(np.mean(left**2)) > 0.02 > np.sqrt(np.mean(right**2))


def test_turns_in_order_counts_the_reference_turns_kept_in_order() -> None:
    alternating = ["agent", "caller", "agent", "caller", "agent"]
    assert turns_in_order(alternating, alternating) == 5
    assert turns_in_order(alternating, ["agent", "caller", "agent"]) == 3, "two turns swallowed"
    assert turns_in_order(alternating, ["caller", "agent", "caller", "agent", "caller"]) == 4
    assert turns_in_order(alternating, []) == 0


def test_a_material_survives_the_trip_to_the_child() -> None:
    material = Material("72s", "/w.wav", [BenchItem("/c.wav", "你好。", ["agent", "caller"])])
    assert Material.from_json(material.to_json()) == material


def test_worker_configurations_are_workers_x_threads() -> None:
    assert parse_configs("1x2, 2x1") == [WorkerConfig(1, 2), WorkerConfig(2, 1)]
    for bad in ("2", "0x2", "1x", "ax1"):
        with pytest.raises(ConfigurationError):
            parse_configs(bad)


@pytest.mark.model
def test_bench_runs_the_shipped_path_and_faster_whisper_on_a_built_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache_dir: Path
) -> None:
    """Each path in its own child, on a two-channel call of three clips: figures that add up."""
    monkeypatch.setenv("CALLSCRIBE_CACHE", str(model_cache_dir))
    monkeypatch.setenv("CALLSCRIBE_CPU_THREADS", "2")
    names = ("BAC009S0764W0121.wav", "SSB00050015.wav", "BAC009S0002W0123.wav")
    (tmp_path / "clips").mkdir()
    lines = ["file\ttranscript"]
    for row in (SPEECH / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        cols = row.split("\t")
        if cols[0] in names:
            shutil.copyfile(SPEECH / cols[0], tmp_path / "clips" / cols[0])
            lines.append(f"clips/{cols[0]}\t{cols[3]}")
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["bench", "--clips", str(manifest), "--calls", "72s", "--paths", "shipped,plain"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in json.loads(result.output)["results"]}
    assert set(rows) == {"shipped", "plain"}
    for row in rows.values():
        assert row["material"] == "72s" and row["threads"] == 2
        assert 15 < row["audio_s"] < 18 and row["ref_chars"] == 39
        assert row["rtf"] == pytest.approx(row["processing_s"] / row["audio_s"], abs=1e-3)
        assert row["peak_rss_mib"] >= row["loaded_rss_mib"] > 100
        assert row["cer"] < 0.3, row
    assert rows["shipped"]["turns_total"] == 3 and rows["shipped"]["turns_matched"] == 3
    assert rows["plain"]["turns_total"] == 0, "the mono mix has no speakers to order"
    table = format_paths(
        [
            PathBench(**{k: v for k, v in r.items() if k not in ("rtf", "cer")})
            for r in rows.values()
        ]
    )
    assert re.search(r"^shipped\s+faster-whisper int8\s+2\s", table, re.MULTILINE)
    assert "shipped: decoding" in table
