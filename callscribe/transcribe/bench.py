"""Speed and memory of the two engines on the same clips, in one run.

Each engine runs in a fresh child process (``python -m callscribe.transcribe.bench ENGINE
MANIFEST``) so that its peak memory is its own: the child reports ``ru_maxrss`` (peak resident
set size of the whole process: interpreter, libraries, model and decoding) and the parent
compares. Processing seconds count transcription only, after loading the model and one
untimed warm-up clip; both engines get the same thread count and decoding options.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from callscribe.errors import CallscribeError, ConfigurationError

__all__ = ["EngineBench", "bench_engine_in_child", "format_bench", "run_bench"]

ENGINES = ("faster-whisper", "openai")


@dataclass(frozen=True)
class EngineBench:
    """One engine's figures over the whole manifest."""

    engine: str
    compute_type: str
    threads: int
    clips: int
    audio_s: float
    processing_s: float
    load_s: float
    peak_rss_mib: float
    cer: float

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per second of audio (lower is faster)."""
        return self.processing_s / self.audio_s if self.audio_s else 0.0


def bench_engine_in_child(engine: str, manifest: Path) -> EngineBench:
    """Measure ``engine`` inside this process (the child side of :func:`run_bench`)."""
    from callscribe.audio import decode_call_audio
    from callscribe.settings import get_settings
    from callscribe.transcribe.evaluate import evaluate_asr, read_manifest
    from callscribe.transcribe.loader import transcriber_from_settings

    entries = read_manifest(manifest)
    settings = get_settings()
    threads = settings.cpu_threads or os.cpu_count() or 1
    settings = settings.model_copy(update={"engine": engine, "cpu_threads": threads})
    started = time.perf_counter()
    transcriber = transcriber_from_settings(settings)
    load_s = time.perf_counter() - started
    transcriber.transcribe(decode_call_audio(entries[0].audio))
    report = evaluate_asr(entries, transcriber)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return EngineBench(
        engine=engine,
        compute_type=str(getattr(transcriber, "compute_type", "")),
        threads=threads,
        clips=len(report.clips),
        audio_s=sum(c.audio_seconds for c in report.clips),
        processing_s=sum(c.seconds for c in report.clips),
        load_s=load_s,
        peak_rss_mib=peak_kib / 1024,
        cer=report.cer,
    )


def run_bench(manifest: Path, engines: tuple[str, ...] = ENGINES) -> list[EngineBench]:
    """Benchmark each engine in its own child process, one after the other.

    Raises:
        ConfigurationError: an engine name we do not know, or a child that failed.
    """
    results = []
    for engine in engines:
        if engine not in ENGINES:
            raise ConfigurationError(f"bench: unknown engine {engine!r}; use {ENGINES}")
        proc = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "callscribe.transcribe.bench", engine, str(manifest)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            raise ConfigurationError(f"bench: the {engine} run failed: {tail[0]}")
        results.append(EngineBench(**json.loads(proc.stdout.strip().splitlines()[-1])))
    return results


def format_bench(results: list[EngineBench]) -> str:
    """A table of the figures, then faster-whisper's speed and memory ratios to the reference."""
    lines = [
        f"{'engine':<16}{'compute':<9}{'thr':>4}{'clips':>6}{'audio s':>9}{'proc s':>9}"
        f"{'RTF':>7}{'load s':>8}{'peak MiB':>10}{'CER':>8}"
    ]
    for r in results:
        lines.append(
            f"{r.engine:<16}{r.compute_type:<9}{r.threads:>4}{r.clips:>6}{r.audio_s:>9.2f}"
            f"{r.processing_s:>9.2f}{r.rtf:>7.3f}{r.load_s:>8.2f}{r.peak_rss_mib:>10.0f}"
            f"{r.cer:>8.2%}"
        )
    by_name = {r.engine: r for r in results}
    fast, ref = by_name.get("faster-whisper"), by_name.get("openai")
    if fast and ref and fast.processing_s and fast.peak_rss_mib:
        lines.append(
            f"faster-whisper vs openai: {ref.processing_s / fast.processing_s:.2f}x faster, "
            f"{ref.peak_rss_mib / fast.peak_rss_mib:.2f}x less peak memory, "
            f"CER {fast.cer:.2%} vs {ref.cer:.2%}"
        )
    return "\n".join(lines)


def _child_main(argv: list[str]) -> int:
    engine, manifest = argv
    try:
        result = bench_engine_in_child(engine, Path(manifest))
    except CallscribeError as err:
        sys.stderr.write(f"{err}\n")
        return 1
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
