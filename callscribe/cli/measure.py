"""Measurement commands: eval fields, eval asr, bench."""

from __future__ import annotations

from pathlib import Path

import click

from callscribe.cli._common import echo_json, main, reported, settings_or_exit


@main.group(name="eval")
def eval_group() -> None:
    """Measure the stages against labelled data."""


@eval_group.command(name="fields")
@click.argument("labelled", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print accuracy, misses and latency as JSON.")
@click.option("--misses", is_flag=True, help="List each wrong value.")
def eval_fields(labelled: Path, as_json: bool, misses: bool) -> None:
    """Per-field accuracy of the field extractor on LABELLED.jsonl (see summarize/evaluate.py)."""
    from callscribe.summarize.evaluate import evaluate, load_labelled, report
    from callscribe.summarize.fields import extract_case_fields, warm_up

    with reported():
        calls = load_labelled(labelled)
        warm_up()  # start-up (rules, gazetteer, jieba) is not counted in the per-call latency
        result = report(*evaluate(calls, extract_case_fields))
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['calls']} calls from {labelled.name}")
    for name, score in result["fields"].items():
        click.echo(f"  {name:<16} {score['accuracy']:7.1%}  ({score['correct']}/{score['total']})")
        for miss in score["misses"] if misses else []:
            click.echo(f"      {miss['id']}: expected {miss['expected']!r}, got {miss['got']!r}")
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


@main.command()
@click.argument(
    "manifest", type=click.Path(path_type=Path), default=Path("fixtures/speech/manifest.tsv")
)
@click.option("--engine", "engines", multiple=True, help="Engines to run (default both).")
def bench(manifest: Path, engines: tuple[str, ...]) -> None:
    """Speed, real-time factor and peak memory of faster-whisper vs the openai reference engine."""
    from callscribe.transcribe.bench import ENGINES, format_bench, run_bench

    with reported():
        results = run_bench(manifest, engines or ENGINES)
    click.echo(format_bench(results))
