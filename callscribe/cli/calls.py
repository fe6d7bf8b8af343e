"""Commands on calls: transcribe, extract, process, enqueue, watch, worker, status, show, outbox."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from callscribe.cli._common import (
    echo_json,
    main,
    metrics_port_option,
    reported,
    serve_metrics_if_asked,
    settings_or_exit,
)
from callscribe.errors import PermanentError, as_file_reason
from callscribe.ledger import CallStatus

log = logging.getLogger(__name__)


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

    settings = settings_or_exit()
    with reported():
        decoded = decode_call_audio(
            audio, agent_channel=settings.agent_channel, max_seconds=settings.max_call_seconds
        )
        transcriber = transcriber_from_settings(settings)
        transcript = transcriber.transcribe(decoded)
    click.echo(export_transcript(transcript, "json" if as_json else fmt or "text", words=words))


@main.command()
@click.argument("transcript_file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
def extract(transcript_file: Path, as_json: bool) -> None:
    """Extract work-order fields from a transcript (our JSON shape, or plain text)."""
    from callscribe.summarize import extract_case_fields
    from callscribe.summarize.input import read_transcript_file

    with reported():
        transcript = read_transcript_file(transcript_file)
        fields = extract_case_fields(transcript)
    if as_json:
        echo_json(fields.to_dict())
        return
    for key, value in fields.to_dict().items():
        if key not in ("evidence", "confidence"):
            click.echo(f"{key}: {value}")


@main.command()
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print call id, transcript and case as JSON.")
def process(audio: Path, as_json: bool) -> None:
    """Run the whole pipeline on one call in this process (no Redis)."""
    from callscribe.intake.register import register_call_file
    from callscribe.pipeline import run_call
    from callscribe.runtime import open_runtime
    from callscribe.worker.jobs import worker_transcriber

    settings = settings_or_exit()
    runtime = open_runtime(settings)
    with reported():
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
            raise click.ClickException(
                as_file_reason(str(err), record.call_id, audio.name)
            ) from err
    if as_json:
        echo_json(
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
@click.option(
    "--queue",
    "queue_name",
    default=None,
    help="Queue name (default CALLSCRIBE_QUEUE; calls whose sidecar says priority urgent go to "
    "the urgent queue).",
)
def enqueue(audio: tuple[Path, ...], queue_name: str | None) -> None:
    """Queue calls for the workers; prints one call id per line.

    A file that cannot be taken (missing, not a regular file, a bad sidecar or call_id) or a
    call Redis does not accept gets one line on stderr, and the command exits 1 after trying
    every file.
    """
    from redis.exceptions import RedisError

    from callscribe.cli.redis_server import resolve_redis
    from callscribe.intake.files import display_name
    from callscribe.intake.queue import CallQueues, connect, enqueue_call, open_queue
    from callscribe.intake.register import register_call_file
    from callscribe.runtime import open_runtime

    settings = settings_or_exit()
    runtime = open_runtime(settings)
    failures = 0
    with reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        if private is not None:
            log.warning("no Redis answered; started a private one at %s (left running)", url)
        connection = connect(url)
        queues = CallQueues(connection, settings.queue)
        chosen = open_queue(connection, queue_name) if queue_name else None
        for path in audio:
            try:
                record, _ = register_call_file(path, ledger=runtime.ledger, data_dir=settings.data)
            except PermanentError as err:
                _complain(str(err))
                failures += 1
                continue
            except OSError as err:
                _complain(f"{display_name(path.name)}: {err.strerror or type(err).__name__}")
                failures += 1
                continue
            if record.status != CallStatus.DONE:
                queue = chosen or queues.for_priority(record.metadata.get("priority"))
                try:
                    enqueue_call(queue, record.call_id, job_timeout_s=settings.job_timeout_s)
                except RedisError as err:
                    _complain(f"call {record.call_id}: registered but not queued: {err}")
                    failures += 1
                    continue
            click.echo(record.call_id)
    if failures:
        sys.exit(1)


def _complain(message: str) -> None:
    click.echo(f"callscribe: {' '.join(message.split())}", err=True)


@main.command()
@click.argument("inbox", type=click.Path(path_type=Path, file_okay=False))
@click.option("--polling", is_flag=True, default=None, help="Scan only, no inotify (NFS/SMB).")
@metrics_port_option
def watch(inbox: Path, polling: bool | None, metrics_port: int | None) -> None:
    """Watch a drop folder: INBOX/inbox -> processing -> done | failed (INBOX/inbox works too)."""
    import signal
    import threading

    from callscribe.cli.redis_server import resolve_redis
    from callscribe.intake.dropfolder import DropFolder
    from callscribe.intake.queue import connect
    from callscribe.intake.watcher import Watcher, queue_enqueuer
    from callscribe.runtime import open_runtime

    settings = settings_or_exit()
    runtime = open_runtime(settings)
    serve_metrics_if_asked(settings, metrics_port, lambda: runtime.engine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        try:
            try:
                folder = DropFolder.at(inbox)
            except OSError as err:
                raise click.ClickException(
                    f"cannot use {inbox} as a drop folder: {err.strerror or err}"
                ) from err
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
@metrics_port_option
def worker(burst: bool, queue_names: tuple[str, ...], metrics_port: int | None) -> None:
    """Work on queued calls until stopped (or, with --burst, until the queue is empty)."""
    from callscribe import defaults
    from callscribe.cli.redis_server import resolve_redis
    from callscribe.intake.queue import connect, open_queue
    from callscribe.runtime import process_runtime
    from callscribe.worker.worker import CallWorker

    settings = settings_or_exit()
    with reported():
        url, private = resolve_redis(settings.redis_url, settings.data)
        try:
            serve_metrics_if_asked(settings, metrics_port, lambda: process_runtime(settings).engine)
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

    record = open_runtime(settings_or_exit()).ledger.get(call_id)
    if record is None:
        raise click.ClickException(f"unknown call id {call_id}")
    click.echo(record.status_line)


@main.command()
@click.argument("call_id")
def show(call_id: str) -> None:
    """Print the stored case of a call as JSON."""
    from callscribe.runtime import open_runtime

    case = open_runtime(settings_or_exit()).case_system.get_case(call_id)
    if case is None:
        raise click.ClickException(f"no case stored for call {call_id}")
    echo_json(case.to_dict())


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

    from callscribe.runtime import open_runtime
    from callscribe.writeback.outbox import Outbox

    with reported():
        runtime = open_runtime(settings_or_exit())
        box = Outbox(runtime.ledger, runtime.case_system)
        if not drain:
            pending = box.pending()
            if as_json:
                echo_json([{**vars(p), "since": p.since.isoformat()} for p in pending])
                return
            for p in pending:
                click.echo(f"{p.call_id}\t{p.status}\tattempts={p.attempts}\t{p.note or ''}")
            click.echo(f"{len(pending)} pending write-back(s)", err=True)
            return
        while True:
            report = box.drain()
            if as_json:
                echo_json(vars(report))
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
