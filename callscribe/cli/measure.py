"""Measurement commands: eval fields, eval e2e, eval asr, eval desk, eval qa, bench."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from callscribe.cli._common import echo_json, main, reported, settings_or_exit
from callscribe.cli.measure_e2e import eval_e2e


@main.group(name="eval")
def eval_group() -> None:
    """Measure the stages against labelled data."""


eval_group.add_command(eval_e2e)


@eval_group.command(name="fields")
@click.argument("labelled", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print accuracy, misses and latency as JSON.")
@click.option("--misses", is_flag=True, help="List each wrong value.")
def eval_fields(labelled: Path, as_json: bool, misses: bool) -> None:
    """Per-field accuracy of the field extractor on LABELLED.jsonl (see summarize/evaluate.py).

    Entity fields (name, phone, places) add precision (right among filled) and recall (right
    among labelled). The reliability table bins the confidences of appeal_type, category,
    urgency and the entity fields and gives each bin's accuracy.
    """
    from callscribe.summarize.evaluate import (
        evaluate,
        format_field_lines,
        format_reliability_lines,
        load_labelled,
        report,
    )
    from callscribe.summarize.fields import extract_case_fields, warm_up

    with reported():
        calls = load_labelled(labelled)
        warm_up()  # start-up (rules, gazetteer, jieba) is not counted in the per-call latency
        result = report(*evaluate(calls, extract_case_fields))
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['calls']} calls from {labelled.name}")
    for line in format_field_lines(result["fields"], misses=misses):
        click.echo(line)
    for line in format_reliability_lines(result["reliability"]):
        click.echo(line)
    lat = result["latency_ms"]
    click.echo(
        f"  latency per call: mean {lat['mean']} ms, p95 {lat['p95']} ms, max {lat['max']} ms"
    )


@eval_group.command(name="asr")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_asr(manifest: Path, as_json: bool) -> None:
    """Character error rate of the configured engine on MANIFEST.tsv (file, transcript)."""
    from callscribe.transcribe.evaluate import evaluate_asr, format_report, read_manifest
    from callscribe.transcribe.loader import transcriber_from_settings

    settings = settings_or_exit()
    with reported():
        report = evaluate_asr(read_manifest(manifest), transcriber_from_settings(settings))
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(format_report(report))


class _Since(click.ParamType[datetime, str | datetime]):
    """A day (YYYY-MM-DD, midnight UTC) or an ISO 8601 time (UTC when it has no offset)."""

    name = "DATE"

    def convert(
        self, value: str | datetime, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time", param, ctx)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_SINCE_HELP = "Only what happened from then on: YYYY-MM-DD (UTC) or an ISO 8601 time."


def _share(accepted: int, total: int) -> float | None:
    return round(accepted / total, 4) if total else None


@eval_group.command(name="desk")
@click.option("--since", type=_Since(), help=_SINCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def eval_desk(since: datetime | None, as_json: bool) -> None:
    """How often operators confirmed the machine's fields unchanged (and QA did not flag them).

    Counts confirmed cases (confirmed at or after --since). Title and summary are shown apart:
    they are reworded often and are not scored.
    """
    from callscribe.desk.metrics import field_acceptance
    from callscribe.runtime import open_runtime

    with reported():
        result = field_acceptance(open_runtime(settings_or_exit()).engine, since=since)
    scope = f" since {since.isoformat()}" if since else ""
    if as_json:
        echo_json(
            {
                "since": since.isoformat() if since else None,
                "cases": result.cases,
                **{
                    key: {
                        name: {"accepted": a, "total": t, "share": _share(a, t)}
                        for name, (a, t) in counts.items()
                    }
                    for key, counts in (
                        ("fields", result.per_field),
                        ("free_text", result.free_text),
                    )
                },
            }
        )
        return
    if not result.cases:
        click.echo(f"no confirmed cases{scope}")
        return
    click.echo(f"{result.cases} confirmed cases{scope}")
    click.echo(f"  {'field':<16} {'accepted unchanged':>18} {'confirmed cases':>15} {'share':>7}")
    for title, counts in (("", result.per_field), ("not scored (free text):", result.free_text)):
        if title:
            click.echo(f"  {title}")
        for name, (accepted, total) in counts.items():
            click.echo(f"  {name:<16} {accepted:>18} {total:>15} {accepted / total:>7.1%}")


@eval_group.command(name="qa")
@click.option("--since", type=_Since(), help=_SINCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_qa(since: datetime | None, as_json: bool) -> None:
    """Character error rate of the machine's transcripts against QA's corrections.

    Takes the calls QA corrected (at or after --since); the reference is each call's transcript
    with QA's latest corrections in place, scored as `eval asr` scores (punctuation and spaces
    dropped).
    """
    from callscribe.desk.metrics import qa_corrections
    from callscribe.runtime import open_runtime
    from callscribe.transcribe.evaluate import character_errors, normalise_for_scoring

    with reported():
        calls = qa_corrections(open_runtime(settings_or_exit()).engine, since=since)
    scores = [
        _QaScore(call.call_id, reference, errors, call.segments_corrected)
        for call in calls
        for reference in [normalise_for_scoring(call.corrected_text)]
        for errors in [character_errors(reference, normalise_for_scoring(call.machine_text))]
    ]
    errors = sum(s.errors for s in scores)
    ref_chars = sum(s.ref_chars for s in scores)
    total_cer = errors / ref_chars if ref_chars else 0.0
    scope = f" since {since.isoformat()}" if since else ""
    if as_json:
        echo_json(
            {
                "since": since.isoformat() if since else None,
                "calls": [s.to_dict() for s in scores],
                "errors": errors,
                "ref_chars": ref_chars,
                "cer": round(total_cer, 4),
            }
        )
        return
    if not scores:
        click.echo(f"no transcripts corrected by QA{scope}")
        return
    click.echo(f"  {'call id':<40} {'ref chars':>9} {'errors':>6} {'CER':>8}")
    for score in scores:
        click.echo(
            f"  {score.call_id:<40} {score.ref_chars:>9} {score.errors:>6} {score.cer:>8.2%}"
        )
    click.echo(
        f"TOTAL CER {total_cer:.2%} ({errors}/{ref_chars}) over {len(scores)} calls "
        f"corrected by QA{scope}"
    )


@dataclass(frozen=True)
class _QaScore:
    """One corrected call: character errors of the machine against QA's text."""

    call_id: str
    reference: str
    errors: int
    segments_corrected: int

    @property
    def ref_chars(self) -> int:
        return len(self.reference)

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else float(self.errors > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "ref_chars": self.ref_chars,
            "errors": self.errors,
            "cer": round(self.cer, 4),
            "segments_corrected": self.segments_corrected,
        }


BUNDLED_CLIPS = Path("fixtures/speech/manifest.tsv")


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@main.command()
@click.argument("manifest", type=click.Path(path_type=Path), required=False)
@click.option(
    "--engine",
    "engines",
    multiple=True,
    help="Compare callscribe's two engines on MANIFEST's clips (default both).",
)
@click.option(
    "--calls",
    default="clips,72s,3min",
    show_default=True,
    help="Materials: clips (each its own call), 72s, 3min, 30min (built two-channel calls).",
)
@click.option(
    "--paths",
    default="shipped,plain,batched,openai-whisper",
    show_default=True,
    help="Paths: shipped (callscribe), plain and batched (faster-whisper), openai-whisper.",
)
@click.option(
    "--clips",
    "clips_manifest",
    type=click.Path(path_type=Path),
    default=BUNDLED_CLIPS,
    show_default=True,
    help="The labelled clips the materials are built from.",
)
@click.option("--worker", is_flag=True, help="Measure warm workers instead (takes minutes).")
@click.option(
    "--worker-configs",
    default="1x2,2x1",
    show_default=True,
    help="With --worker: WORKERSxTHREADS, comma-separated.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="With --worker: built 72 s calls queued at once for calls per hour.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench(
    manifest: Path | None,
    engines: tuple[str, ...],
    calls: str,
    paths: str,
    clips_manifest: Path,
    worker: bool,
    worker_configs: str,
    batch: int,
    as_json: bool,
) -> None:
    """Speed, real-time factor, peak memory and CER against what a user would run instead.

    Runs callscribe's transcription and its peers (faster-whisper's plain and batched
    `transcribe`, stock openai-whisper, all on the mono mix and the same weights) on the
    labelled clips and on two-channel 8 kHz calls built from them, each in a fresh process,
    in one run. With MANIFEST (or --engine): callscribe's two engines on MANIFEST's clips.
    With --worker: warm workers on a private Redis, enqueue to done and calls per hour.
    """
    import tempfile

    if manifest is not None or engines:
        from callscribe.transcribe.bench import ENGINES, format_bench, run_bench

        with reported():
            engine_results = run_bench(manifest or clips_manifest, engines or ENGINES)
        if as_json:
            echo_json([{**asdict(r), "rtf": round(r.rtf, 4)} for r in engine_results])
            return
        click.echo(format_bench(engine_results))
        return
    if worker:
        from callscribe.cli.bench_worker import format_worker_runs, parse_configs, run_worker_bench

        settings = settings_or_exit()
        with reported():
            runs = run_worker_bench(settings, clips_manifest, parse_configs(worker_configs), batch)
        if as_json:
            echo_json([run.to_dict() for run in runs])
            return
        click.echo(format_worker_runs(runs))
        return
    from callscribe.transcribe.bench import format_paths, prepare_materials, run_paths

    with reported(), tempfile.TemporaryDirectory(prefix="callscribe-bench-") as tmp:
        materials = prepare_materials(clips_manifest, _names(calls), Path(tmp))
        results, failures = run_paths(materials, _names(paths), Path(tmp))
    if as_json:
        echo_json(
            {
                "results": [r.to_dict() for r in results],
                "failures": [asdict(f) for f in failures],
            }
        )
    else:
        click.echo(format_paths(results, failures))
    if failures:
        raise click.ClickException(f"{len(failures)} path run(s) failed")
