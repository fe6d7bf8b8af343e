"""Measure peak memory while decoding long calls (docs/benchmarks.md, "Decoding memory").

Run from the repository root:

    python scripts/bench_decode_memory.py                 # the current decoder
    python scripts/bench_decode_memory.py --old HEAD~1    # and decode.py as of a git revision
    python scripts/bench_decode_memory.py --cases flac48k-30min wav8k-mulaw-2h

Each case is a quiet two-tone stereo call (a tone per party) generated a second at a time,
so the generator never holds it. Each decode runs in a fresh interpreter
(tests.test_audio_memory.measure_decode); the figure is its peak resident set size (VmHWM, reset
through /proc/self/clear_refs once the decoder is imported) less its resident size at that
point. The budget is the 16 kHz float32 output (channels x seconds x 16000 x 4 bytes) plus
tests.test_audio_memory.WORKING_SET_BUDGET. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_audio_memory import (  # noqa: E402
    MIB,
    WORKING_SET_BUDGET,
    forget_flac_length,
    measure_decode,
    write_long_call,
)

CASES: dict[str, tuple[int, int, str, str, bool]] = {
    "flac48k-30min": (1800, 48_000, "FLAC", "PCM_16", False),
    "wav8k-mulaw-2h": (7200, 8_000, "WAV", "ULAW", False),
    "flac48k-2h": (7200, 48_000, "FLAC", "PCM_16", False),
    "flac48k-2h-no-length": (7200, 48_000, "FLAC", "PCM_16", True),
}
"""name: (seconds, rate, container, subtype, whether the FLAC header leaves out the length)."""


def _old_decoder(revision: str, folder: Path) -> Path:
    source = subprocess.run(
        ["git", "show", f"{revision}:callscribe/audio/decode.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = folder / "decode_old.py"
    path.write_text(source, encoding="utf-8")
    return path


def _row(case: str, which: str, result: dict[str, object], size: int) -> str:
    over = int(str(result["over_baseline"])) / MIB
    if result.get("rejected"):
        return f"| {case} | {size / MIB:.0f} MiB | {which} | refused: {result['rejected']} | | |"
    output = int(str(result["output_bytes"])) / MIB
    wall = float(str(result["wall_seconds"]))
    return (
        f"| {case} | {size / MIB:.0f} MiB | {which} | {over:.0f} MiB | {output:.0f} MiB "
        f"| {over - output:+.0f} MiB | {wall:.1f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--old", metavar="REVISION", help="also measure decode.py at REVISION")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        old = _old_decoder(args.old, folder) if args.old else None
        rows = []
        for case in args.cases:
            seconds, rate, container, subtype, no_length = CASES[case]
            suffix = ".flac" if container == "FLAC" else ".wav"
            path = write_long_call(
                folder / f"{case}{suffix}", seconds, rate, format=container, subtype=subtype
            )
            if no_length:
                forget_flac_length(path)
            size = path.stat().st_size
            if old is not None:
                rows.append(_row(case, args.old, measure_decode(path, decoder=old), size))
            rows.append(_row(case, "this tree", measure_decode(path), size))
            path.unlink()
    machine = f"{platform.machine()}, {platform.python_version()}, {platform.platform()}"
    sys.stdout.write(f"machine: {machine}\n")
    sys.stdout.write(f"budget: output + {WORKING_SET_BUDGET / MIB:.0f} MiB\n\n")
    sys.stdout.write(
        "| case | file | decoder | peak over baseline | output arrays | beyond output | time |\n"
    )
    sys.stdout.write("| --- | --- | --- | --- | --- | --- | --- |\n")
    sys.stdout.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
