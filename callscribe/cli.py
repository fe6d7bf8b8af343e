"""The `callscribe` command line. Logging is configured here and nowhere else."""

from __future__ import annotations

import json
import logging.config
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from callscribe.errors import CallscribeError, PermanentError
from callscribe.ledger import CallStatus
from callscribe.settings import Settings, get_settings

__all__ = ["main"]

log = logging.getLogger("callscribe.cli")


def _configure_logging(level: str) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "plain",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {"faster_whisper": {"level": "WARNING"}, "jieba": {"level": "WARNING"}},
        }
    )


def _settings() -> Settings:
    try:
        return get_settings()
    except CallscribeError as err:
        raise click.ClickException(str(err)) from err


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@contextmanager
def _reported() -> Iterator[None]:
    """Turn our errors into one clear line on stderr and a non-zero exit."""
    try:
        yield
    except CallscribeError as err:
        raise click.ClickException(str(err)) from err


@click.group()
@click.option(
    "--log-level",
    default="WARNING",
    envvar="CALLSCRIBE_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    show_default=True,
)
@click.version_option(package_name="callscribe")
def main(log_level: str) -> None:
    """Transcribe Mandarin hotline calls and fill work orders (工单)."""
    _configure_logging(log_level.upper())


@main.command()
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the transcript as JSON.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "srt", "vtt", "text"]),
    default=None,
    help="Output format (default text; --json is --format json).",
)
@click.option("--words", is_flag=True, help="Include word timings and probabilities.")
def transcribe(audio: Path, as_json: bool, fmt: str | None, words: bool) -> None:
    """Transcribe one call and print its transcript."""
    from callscribe.audio import decode_call_audio
    from callscribe.transcribe.export import export_transcript
    from callscribe.transcribe.loader import transcriber_from_settings

    settings = _settings()
    with _reported():
        decoded = decode_call_audio(
            audio, agent_channel=settings.agent_channel, max_seconds=settings.max_call_seconds
        )
        transcriber = transcriber_from_settings(settings, word_timestamps=words)
        transcript = transcriber.transcribe(decoded)
    click.echo(export_transcript(transcript, "json" if as_json else fmt or "text", words=words))


@main.command()
@click.argument("transcript_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
def extract(transcript_file: Path, as_json: bool) -> None:
    """Extract work-order fields from a transcript (our JSON shape, or plain text)."""
    from callscribe.summarize import extract_case_fields
    from callscribe.summarize.input import read_transcript_file

    with _reported():
        transcript = read_transcript_file(transcript_file)
        fields = extract_case_fields(transcript)
    if as_json:
        _echo_json(fields.to_dict())
        return
    for key, value in fields.to_dict().items():
        if key not in ("evidence", "confidence"):
            click.echo(f"{key}: {value}")


@main.command()
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print call id, transcript and case as JSON.")
def process(audio: Path, as_json: bool) -> None:
    """Run the whole pipeline on one call in this process (no Redis)."""
    from callscribe.pipeline import run_call
    from callscribe.runtime import open_runtime
    from callscribe.worker.intake import register_call_file
    from callscribe.worker.jobs import worker_transcriber

    settings = _settings()
    runtime = open_runtime(settings)
    with _reported():
        record, _created = register_call_file(audio, ledger=runtime.ledger, data_dir=settings.data)
        try:
            stored = run_call(
                record.call_id,
                ledger=runtime.ledger,
                transcriber=worker_transcriber,
                case_system=runtime.case_system,
                agent_channel=settings.agent_channel,
                max_call_seconds=settings.max_call_seconds,
            )
        except PermanentError as err:
            runtime.ledger.set_status(record.call_id, CallStatus.FAILED, error=str(err))
            raise
    if as_json:
        _echo_json(
            {
                "call_id": record.call_id,
                "transcript": stored.transcript,
                "case": {**stored.fields, "case_id": stored.case_id, "status": stored.status},
            }
        )
        return
    _print_case(record.call_id, stored.fields)


def _print_case(call_id: str, fields: dict[str, Any]) -> None:
    click.echo(f"call {call_id}")
    for key in ("caller_name", "callback_phone", "district", "street", "appeal_type", "category",
                "urgency", "title", "summary"):  # fmt: skip
        click.echo(f"  {key}: {fields.get(key)}")


@main.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--queue", "queue_name", default=None, help="Queue name (default CALLSCRIBE_QUEUE).")
def enqueue(audio: tuple[Path, ...], queue_name: str | None) -> None:
    """Queue calls for the workers; prints one call id per line."""
    from callscribe.runtime import open_runtime
    from callscribe.worker.intake import register_call_file
    from callscribe.worker.queue import connect, enqueue_call, open_queue
    from callscribe.worker.redis_server import resolve_redis

    settings = _settings()
    runtime = open_runtime(settings)
    failures = 0
    with _reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        if private is not None:
            log.warning("no Redis answered; started a private one at %s (left running)", url)
        queue = open_queue(connect(url), queue_name or settings.queue)
        for path in audio:
            try:
                record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=settings.data)
            except PermanentError as err:
                click.echo(f"callscribe: {err}", err=True)
                failures += 1
                continue
            if record.status != CallStatus.DONE:
                enqueue_call(queue, record.call_id, job_timeout_s=settings.job_timeout_s)
            click.echo(record.call_id)
    if failures:
        sys.exit(1)


@main.command()
@click.argument("inbox", type=click.Path(path_type=Path, file_okay=False))
@click.option("--polling", is_flag=True, default=None, help="Scan only, no inotify (NFS/SMB).")
def watch(inbox: Path, polling: bool | None) -> None:
    """Watch a drop folder: INBOX/inbox -> processing -> done | failed (INBOX/inbox works too)."""
    import signal
    import threading

    from callscribe.runtime import open_runtime
    from callscribe.worker.dropfolder import DropFolder
    from callscribe.worker.queue import connect
    from callscribe.worker.redis_server import resolve_redis
    from callscribe.worker.watcher import Watcher, queue_enqueuer

    settings = _settings()
    runtime = open_runtime(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with _reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        try:
            folder = DropFolder.at(inbox)
            click.echo(f"watching {folder.inbox}", err=True)
            Watcher(
                folder,
                runtime.ledger,
                settings.data,
                queue_enqueuer(connect(url), settings.queue, settings.job_timeout_s),
                settle_s=settings.watch_settle_s,
                poll_s=settings.watch_poll_s,
                polling=settings.watch_polling if polling is None else polling,
                max_bytes=settings.max_upload_bytes,
            ).run(stop)
        finally:
            if private is not None:
                private.stop()


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--queue", "queue_names", multiple=True, help="Queues to listen on, first first.")
def worker(burst: bool, queue_names: tuple[str, ...]) -> None:
    """Work on queued calls until stopped (or, with --burst, until the queue is empty)."""
    from callscribe import defaults
    from callscribe.worker.queue import connect, open_queue
    from callscribe.worker.redis_server import resolve_redis
    from callscribe.worker.worker import CallWorker

    settings = _settings()
    with _reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        try:
            connection = connect(url)
            names = queue_names or (defaults.URGENT_QUEUE_NAME, settings.queue)
            queues = [open_queue(connection, n) for n in names]
            CallWorker(queues, connection=connection, serializer=queues[0].serializer).work(
                burst=burst, with_scheduler=True, logging_level=logging.getLogger().level
            )
        finally:
            if private is not None:
                private.stop()


@main.command()
@click.argument("call_id")
def status(call_id: str) -> None:
    """Print a call's status: queued, transcribing, extracting, writing-back, done, failed: why."""
    from callscribe.runtime import open_runtime

    record = open_runtime(_settings()).ledger.get(call_id)
    if record is None:
        raise click.ClickException(f"unknown call id {call_id}")
    click.echo(record.status_line)


@main.command()
@click.argument("call_id")
def show(call_id: str) -> None:
    """Print the stored case of a call as JSON."""
    from callscribe.runtime import open_runtime

    case = open_runtime(_settings()).case_system.get_case(call_id)
    if case is None:
        raise click.ClickException(f"no case stored for call {call_id}")
    _echo_json(case.to_dict())


@main.command()
@click.option("--drain", is_flag=True, help="Write the pending cases back now.")
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    default=None,
    help="With --drain: try again every SECONDS until nothing is pending.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the list or the drain as JSON.")
def outbox(drain: bool, every: float | None, as_json: bool) -> None:
    """List calls whose case the case system does not have yet; --drain writes them back.

    Exits 1 when a drain leaves write-backs pending (the case system is still unavailable).
    """
    import time

    from callscribe.casesystem.outbox import Outbox
    from callscribe.runtime import open_runtime

    with _reported():
        runtime = open_runtime(_settings())
        box = Outbox(runtime.ledger, runtime.case_system)
        if not drain:
            pending = box.pending()
            if as_json:
                _echo_json([{**vars(p), "since": p.since.isoformat()} for p in pending])
                return
            for p in pending:
                click.echo(f"{p.call_id}\t{p.status}\tattempts={p.attempts}\t{p.note or ''}")
            click.echo(f"{len(pending)} pending write-back(s)", err=True)
            return
        while True:
            report = box.drain()
            if as_json:
                _echo_json(vars(report))
            else:
                for call_id in report.delivered:
                    click.echo(f"delivered {call_id}")
                for call_id in report.kept_by_case_system:
                    click.echo(f"kept by the case system {call_id}")
                for call_id, reason in report.rejected.items():
                    click.echo(f"rejected {call_id}: {reason}")
                if report.remaining:
                    click.echo(
                        f"{len(report.remaining)} still pending: {report.stopped_because}", err=True
                    )
            if not report.remaining or every is None:
                break
            time.sleep(every)
    if report.remaining:
        sys.exit(1)


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

    with _reported():
        calls = load_labelled(labelled)
        warm_up()  # start-up (rules, gazetteer, jieba) is not counted in the per-call latency
        result = report(*evaluate(calls, extract_case_fields))
    if as_json:
        _echo_json(result)
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

    settings = _settings()
    with _reported():
        report = evaluate_asr(read_manifest(manifest), transcriber_from_settings(settings))
    if as_json:
        _echo_json(report.to_dict())
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

    with _reported():
        results = run_bench(manifest, engines or ENGINES)
    click.echo(format_bench(results))


@main.command()
@click.argument("audio", nargs=-1, type=click.Path(path_type=Path))
def demo(audio: tuple[Path, ...]) -> None:
    """Queue the bundled sample calls, work them off in burst mode, print each filled case."""
    from callscribe.runtime import open_runtime
    from callscribe.worker.intake import register_call_file
    from callscribe.worker.queue import connect, enqueue_call, open_queue
    from callscribe.worker.redis_server import resolve_redis
    from callscribe.worker.worker import CallWorker

    settings = _settings()
    paths = list(audio) or sorted(Path("fixtures/calls").glob("*.wav"))
    if not paths:
        raise click.ClickException("no sample calls found in fixtures/calls")
    runtime = open_runtime(settings)
    with _reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        try:
            connection = connect(url)
            queue = open_queue(connection, settings.queue)
            call_ids = []
            for path in paths:
                record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=settings.data)
                if record.status != CallStatus.DONE:
                    enqueue_call(queue, record.call_id, job_timeout_s=settings.job_timeout_s)
                call_ids.append((path.name, record.call_id))
                click.echo(f"queued {path.name} as call {record.call_id[:12]}")
            CallWorker([queue], connection=connection, serializer=queue.serializer).work(
                burst=True, logging_level=logging.getLogger().level
            )
        finally:
            if private is not None:
                private.stop()
    for name, call_id in call_ids:
        final = runtime.ledger.get(call_id)
        case = runtime.case_system.get_case(call_id)
        click.echo(f"\n== {name}: {final.status_line if final else 'unknown'}")
        if case is not None:
            _echo_json(
                {k: v for k, v in case.fields.items() if k not in ("evidence", "confidence")}
            )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
def serve(host: str, port: int) -> None:
    """Serve the embedded case desk (write-back API, review API, uploads) with uvicorn."""
    import uvicorn

    from callscribe.casesystem.app import create_app

    settings = _settings()
    with _reported():
        app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=False)


@main.group()
def users() -> None:
    """People who sign in to the case desk (operators, QA)."""


@users.command(name="add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["operator", "qa"]))
@click.password_option(help="Prompted for (twice) unless piped in.")
def users_add(name: str, role: str, password: str) -> None:
    """Create a person's account; the password is stored as an argon2 hash."""
    from callscribe.casesystem.auth import AuthStore
    from callscribe.runtime import open_runtime

    with _reported():
        AuthStore(open_runtime(_settings()).engine).add_user(name, role, password)
    click.echo(f"user {name} ({role}) added")


@users.command(name="list")
def users_list() -> None:
    """List accounts: name, role, active."""
    from callscribe.casesystem.auth import AuthStore
    from callscribe.runtime import open_runtime

    for name, role, active in AuthStore(open_runtime(_settings()).engine).list_users():
        click.echo(f"{name}\t{role}\t{'active' if active else 'disabled'}")


@main.group()
def tokens() -> None:
    """Service tokens for the worker's write-back and for call recorders."""


@tokens.command(name="add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["worker", "recorder"]))
def tokens_add(name: str, role: str) -> None:
    """Create a token and print it once (only its SHA-256 is kept)."""
    from callscribe.casesystem.auth import AuthStore
    from callscribe.runtime import open_runtime

    with _reported():
        token = AuthStore(open_runtime(_settings()).engine).add_token(name, role)
    click.echo(token)


@tokens.command(name="revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token by name."""
    from callscribe.casesystem.auth import AuthStore
    from callscribe.runtime import open_runtime

    if not AuthStore(open_runtime(_settings()).engine).revoke_token(name):
        raise click.ClickException(f"no active token named {name}")
    click.echo(f"token {name} revoked")


@tokens.command(name="list")
def tokens_list() -> None:
    """List tokens: name, role, active or revoked."""
    from callscribe.casesystem.auth import AuthStore
    from callscribe.runtime import open_runtime

    for name, role, active in AuthStore(open_runtime(_settings()).engine).list_tokens():
        click.echo(f"{name}\t{role}\t{'active' if active else 'revoked'}")


@main.command()
@click.option("--output", type=click.Path(path_type=Path), help="Write here instead of stdout.")
def openapi(output: Path | None) -> None:
    """Print the case desk's OpenAPI contract (docs/openapi.json is this)."""
    from callscribe.casesystem.app import create_app, openapi_text

    with tempfile.TemporaryDirectory(prefix="callscribe-openapi-") as tmp:
        app = create_app(Settings(data=Path(tmp), db_url=f"sqlite:///{tmp}/openapi.db"))
        document = openapi_text(app)
        app.state.runtime.engine.dispose()
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")


if __name__ == "__main__":
    main()
