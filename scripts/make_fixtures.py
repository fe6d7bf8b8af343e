"""Build the sample calls in fixtures/calls/ from the real clips in fixtures/speech/.

Run from the repository root: python scripts/make_fixtures.py. The output is committed; this
script documents how it was made and rebuilds it bit for bit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "fixtures" / "speech"
CALLS = ROOT / "fixtures" / "calls"
RATE = 16_000
GAP_S = 0.6

# Alternating turns of a "call": (clip, speaker).
SAMPLE_CALL = [
    ("BAC009S0764W0121", "agent"),
    ("SSB00050015", "caller"),
    ("BAC009S0724W0121", "agent"),
    ("BAC009S0002W0123", "caller"),
]


def load_manifest() -> dict[str, str]:
    with (SPEECH / "manifest.tsv").open(encoding="utf-8") as handle:
        return {
            row["file"].removesuffix(".wav"): row["transcript"]
            for row in csv.DictReader(handle, delimiter="\t")
        }


def read_clip(name: str) -> np.ndarray:
    data, rate = soundfile.read(SPEECH / f"{name}.wav", dtype="float32")
    assert rate == RATE, name
    return data


def build_mono_call(
    turns: list[tuple[str, str]], manifest: dict[str, str]
) -> tuple[np.ndarray, list[dict]]:
    gap = np.zeros(int(GAP_S * RATE), dtype=np.float32)
    parts: list[np.ndarray] = [gap]
    reference = []
    t = GAP_S
    for name, speaker in turns:
        clip = read_clip(name)
        reference.append(
            {
                "start": round(t, 3),
                "end": round(t + len(clip) / RATE, 3),
                "speaker": speaker,
                "text": manifest[name],
            }
        )
        parts += [clip, gap]
        t += len(clip) / RATE + GAP_S
    return np.concatenate(parts), reference


def main() -> None:
    manifest = load_manifest()
    CALLS.mkdir(parents=True, exist_ok=True)
    audio, reference = build_mono_call(SAMPLE_CALL, manifest)
    soundfile.write(CALLS / "sample_call_mono16k.wav", audio, RATE, subtype="PCM_16")
    (CALLS / "sample_call_mono16k.reference.json").write_text(
        json.dumps(
            {"text": "".join(r["text"] for r in reference), "turns": reference},
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
