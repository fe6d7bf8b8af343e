"""Peak memory of the shipped transcription on a long two-channel call, beside a short one.

Usage (from the repository root; docs/benchmarks.md):

    python scripts/bench_long_call_memory.py [--minutes 30] [--json]

Builds a two-channel 8 kHz G.711 mu-law call of about ``--minutes`` minutes from the bundled
clips (fixtures/speech/manifest.tsv: forward, reversed, forward... alternating agent and caller,
seeded pauses; :mod:`callscribe.transcribe.bench_calls`) and the 72 s call, and transcribes
each with the shipped path (``transcriber_from_settings``) in a fresh child process
(:mod:`callscribe.transcribe.bench_paths`). For each it prints the size of the decoded channels
(float32 at 16 kHz, what ``decode_call_audio`` holds), the child's resident memory once that
call was decoded, and its peak during transcription. Flat memory means the transcription adds
about as much on top of the decoded audio for the long call as for the short one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from callscribe.transcribe.bench import prepare_materials, run_paths
from callscribe.transcribe.bench_calls import build_call, load_clips, plan_order, write_call
from callscribe.transcribe.bench_paths import BenchItem, Material

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "fixtures" / "speech" / "manifest.tsv"
DECODED_BYTES_PER_S = 2 * 16_000 * 4
"""Two float32 channels at 16 kHz."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callscribe-long-call-") as tmp:
        workdir = Path(tmp)
        short = prepare_materials(MANIFEST, ["72s"], workdir)[0]
        clips = load_clips(MANIFEST)
        order = plan_order(f"cycle:{args.minutes * 60:.0f}", [c.duration for c in clips])
        call = build_call("long", [clips[i] for i in order], seed=0)
        audio = write_call(call, workdir / "call_long.wav")
        speakers = [str(s) for s in call.speaker_order]
        long = Material("long", short.warmup, [BenchItem(str(audio), call.reference, speakers)])
        del call
        results, failures = run_paths([short, long], ["shipped"], workdir)
    rows = []
    for r in results:
        decoded = r.audio_s * DECODED_BYTES_PER_S / 2**20
        rows.append(
            {
                "call": r.material,
                "audio_s": round(r.audio_s, 1),
                "decoded_channels_mib": round(decoded, 1),
                "loaded_rss_mib": round(r.loaded_rss_mib, 1),
                "decoded_rss_mib": round(r.decoded_rss_mib, 1),
                "peak_rss_mib": round(r.peak_rss_mib, 1),
                "transcription_adds_mib": round(r.peak_rss_mib - r.decoded_rss_mib, 1),
                "processing_s": round(r.processing_s, 2),
                "rtf": round(r.rtf, 4),
                "cer": round(r.cer, 4),
                "turns": f"{r.turns_matched}/{r.turns_total}",
                "detail": r.detail,
                "threads": r.threads,
            }
        )
    if args.json:
        sys.stdout.write(json.dumps({"rows": rows, "failures": [f.message for f in failures]}))
        sys.stdout.write("\n")
    else:
        sys.stdout.write(
            f"{'call':<6}{'audio s':>9}{'decoded MiB':>12}{'loaded MiB':>11}{'after decode':>13}"
            f"{'peak MiB':>9}{'transcr adds':>13}{'proc s':>8}{'RTF':>7}{'CER':>8}{'turns':>9}\n"
        )
        for row in rows:
            sys.stdout.write(
                f"{row['call']:<6}{row['audio_s']:>9.1f}{row['decoded_channels_mib']:>12.1f}"
                f"{row['loaded_rss_mib']:>11.1f}{row['decoded_rss_mib']:>13.1f}"
                f"{row['peak_rss_mib']:>9.1f}{row['transcription_adds_mib']:>13.1f}"
                f"{row['processing_s']:>8.1f}{row['rtf']:>7.3f}{row['cer']:>8.2%}"
                f"{row['turns']:>9}\n"
            )
        for failure in failures:
            sys.stdout.write(f"FAILED {failure.path} on {failure.material}: {failure.message}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
