"""``callscribe bench``: speed, memory and accuracy against what a user would run instead.

Two comparisons, each measured in one run:

* **paths** (:func:`run_paths`): callscribe's shipped transcription beside faster-whisper's
  plain and batched ``transcribe`` and stock openai-whisper on the call's mono mix, same
  weights, on the labelled clips and on two-channel calls built from them
  (:mod:`callscribe.transcribe.bench_calls`); the child side is
  :mod:`callscribe.transcribe.bench_paths`.
* **engines** (:func:`run_bench`): both of callscribe's engines through the shipped pipeline on
  a manifest's clips.

In the engine comparison each engine runs in a fresh child process (``python -m
callscribe.transcribe.bench ENGINE MANIFEST``) so that its peak memory is its own: the child
reports ``ru_maxrss`` (peak resident set size of the whole process: interpreter, libraries,
model and decoding) and the parent compares. Processing seconds count transcription only,
after loading the model and one untimed warm-up clip; both engines get the same thread count
and decoding options.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from callscribe.errors import CallscribeError, ConfigurationError
from callscribe.transcribe.bench_paths import PATHS, STOCK, BenchItem, Material, PathBench

__all__ = [
    "ENGINES",
    "MATERIALS",
    "PATHS",
    "EngineBench",
    "PathFailure",
    "bench_engine_in_child",
    "format_bench",
    "format_paths",
    "prepare_materials",
    "run_bench",
    "run_paths",
]

ENGINES = ("faster-whisper", "openai")
MATERIALS = ("clips", "72s", "3min")
"""The labelled clips (each its own call), and the built two-channel calls."""


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


@dataclass(frozen=True)
class PathFailure:
    """A path whose child failed on a material, and the last line it wrote."""

    path: str
    material: str
    message: str


def prepare_materials(manifest: Path, names: Sequence[str], workdir: Path) -> list[Material]:
    """The materials to run, the built calls written to ``workdir`` as 8 kHz mu-law WAV.

    Raises:
        ConfigurationError: a material we do not know, or a manifest we cannot read.
    """
    from callscribe.transcribe.bench_calls import (
        CALL_PLANS,
        build_planned_call,
        load_clips,
        write_call,
    )
    from callscribe.transcribe.evaluate import read_manifest

    entries = read_manifest(manifest)
    warmup = str(min(entries, key=lambda e: e.audio.stat().st_size).audio)
    clips = None
    materials = []
    for name in names:
        if name == "clips":
            items = [BenchItem(str(e.audio), e.transcript) for e in entries]
        elif name in CALL_PLANS:
            clips = clips if clips is not None else load_clips(manifest)
            call = build_planned_call(name, clips)
            path = write_call(call, workdir / f"call_{name}.wav")
            items = [BenchItem(str(path), call.reference, [str(s) for s in call.speaker_order])]
        else:
            known = ", ".join(("clips", *CALL_PLANS))
            raise ConfigurationError(f"bench: unknown material {name!r}; use {known}")
        materials.append(Material(name=name, warmup=warmup, items=items))
    return materials


def run_paths(
    materials: Sequence[Material], paths: Sequence[str], workdir: Path
) -> tuple[list[PathBench], list[PathFailure]]:
    """Run each path on each material, each pair in a fresh child process, one at a time.

    A child that fails is reported and the rest still run. ``workdir`` holds the children's
    material files.

    Raises:
        ConfigurationError: a path name we do not know.
    """
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise ConfigurationError(f"bench: unknown path {unknown[0]!r}; use {', '.join(PATHS)}")
    results: list[PathBench] = []
    failures: list[PathFailure] = []
    for material in materials:
        spec = workdir / f"material_{material.name}.json"
        spec.write_text(material.to_json(), encoding="utf-8")
        for path in paths:
            proc = subprocess.run(  # noqa: S603 - our own module, fixed arguments
                [sys.executable, "-m", "callscribe.transcribe.bench_paths", path, str(spec)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                failures.append(PathFailure(path, material.name, tail[0]))
                continue
            results.append(PathBench(**json.loads(proc.stdout.strip().splitlines()[-1])))
    return results, failures


def format_paths(results: Sequence[PathBench], failures: Sequence[PathFailure] = ()) -> str:
    """One table per material; speed ratios are against stock openai-whisper on that material."""
    lines: list[str] = []
    for material in dict.fromkeys(r.material for r in results):
        rows = [r for r in results if r.material == material]
        stock = next((r for r in rows if r.path == STOCK), None)
        first = rows[0]
        lines += [
            f"== {material}: {first.items} file(s), {first.audio_s:.1f} s of audio, "
            f"{first.ref_chars} reference characters",
            f"{'path':<16}{'detail':<30}{'thr':>4}{'proc s':>8}{'cpu s':>8}{'RTF':>7}"
            f"{'peak MiB':>9}{'CER':>8}{'turns':>8}{'vs stock':>10}",
        ]
        for r in rows:
            turns = f"{r.turns_matched}/{r.turns_total}" if r.turns_total else "-"
            ratio = (
                f"{stock.processing_s / r.processing_s:.2f}x"
                if stock is not None and r.processing_s
                else "-"
            )
            lines.append(
                f"{r.path:<16}{r.detail[:29]:<30}{r.threads:>4}{r.processing_s:>8.2f}"
                f"{r.cpu_s:>8.2f}{r.rtf:>7.3f}{r.peak_rss_mib:>9.0f}{r.cer:>8.2%}{turns:>8}"
                f"{ratio:>10}"
            )
        shipped = next((r for r in rows if r.path == "shipped"), None)
        if shipped is not None and shipped.processing_s:
            vad = shipped.vad_s or 0.0
            lines.append(
                f"shipped: decoding {shipped.decode_s:.2f} s "
                f"({shipped.decode_s / shipped.processing_s:.1%} of its transcription), "
                f"its VAD {vad:.2f} s ({vad / shipped.processing_s:.1%}, part of it, timed apart); "
                f"peak {shipped.peak_rss_mib:.0f} MiB, {shipped.loaded_rss_mib:.0f} MiB "
                "after load and warm-up"
            )
        lines.append("")
    for failure in failures:
        lines.append(f"FAILED {failure.path} on {failure.material}: {failure.message}")
    return "\n".join(lines).rstrip()


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
