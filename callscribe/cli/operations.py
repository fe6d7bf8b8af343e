"""Commands for the operator: failed calls, and queueing calls again."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from callscribe.cli._common import echo_json, main, reported, settings_or_exit
from callscribe.errors import one_line
from callscribe.ledger import CallLedger, CallStatus

if TYPE_CHECKING:
    from callscribe.intake.queue import CallQueues

log = logging.getLogger(__name__)

REASON_MAX_CHARS = 300
"""Characters of a failure's reason on a `callscribe failed` line (--json has it whole)."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the failed calls as JSON.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Most calls to list, the latest failures first.",
)
def failed(as_json: bool, limit: int) -> None:
    """List failed calls: call id, when it failed (UTC), why. `requeue` runs them again."""
    from callscribe.db import iso_utc
    from callscribe.runtime import open_runtime

    with reported():
        ledger = open_runtime(settings_or_exit()).ledger
        records = ledger.list(status=CallStatus.FAILED, limit=limit, by_update=True)
    if as_json:
        echo_json(
            [
                {
                    "call_id": r.call_id,
                    "failed_at": iso_utc(r.updated_at),
                    "reason": one_line(r.error or "unknown error"),
                    "attempts": r.attempts,
                }
                for r in records
            ]
        )
        return
    for r in records:
        reason = one_line(r.error or "unknown error", REASON_MAX_CHARS)
        click.echo(f"{r.call_id}\t{iso_utc(r.updated_at)}\t{reason}")
    click.echo(f"{len(records)} failed call(s)", err=True)


@main.command()
@click.argument("call_ids", nargs=-1, metavar="[CALL_ID]...")
@click.option("--all-failed", is_flag=True, help="Every failed call.")
@click.option(
    "--stale",
    is_flag=True,
    help="Every call queued or in a stage that no live job owns and that has not changed for "
    "CALLSCRIBE_STALE_AFTER_S (what every worker does at its maintenance interval).",
)
def requeue(call_ids: tuple[str, ...], all_failed: bool, stale: bool) -> None:
    """Queue calls again: failed ones, or ones whose job was lost. Prints each call id queued.

    A failed call keeps its stored transcript and fields, so a write-back that failed is only
    written back again; a call that failed for its audio fails again, with its reason. A call
    queued or in a stage is queued again only when no live job owns it.
    """
    from callscribe.cli.redis_server import resolve_redis
    from callscribe.intake.queue import CallQueues, connect
    from callscribe.runtime import open_runtime
    from callscribe.worker.reconcile import requeue_stale

    if sum((bool(call_ids), all_failed, stale)) != 1:
        raise click.UsageError("give call ids, or --all-failed, or --stale")
    settings = settings_or_exit()
    problems = 0
    with reported():
        runtime = open_runtime(settings)
        url, private = resolve_redis(settings.redis_url, settings.data)
        if private is not None:
            log.warning("no Redis answered; started a private one at %s (left running)", url)
        queues = CallQueues(connect(url), settings.queue)
        if stale:
            done = requeue_stale(
                runtime.ledger,
                queues,
                older_than_s=settings.stale_after_s,
                job_timeout_s=settings.job_timeout_s,
                wait_for_lock_s=30.0,
            )
            for call_id in done:
                click.echo(call_id)
            click.echo(f"{len(done)} call(s) queued again", err=True)
            return
        if all_failed:
            records = runtime.ledger.list(status=CallStatus.FAILED, limit=1_000_000)
            call_ids = tuple(r.call_id for r in reversed(records))
        for call_id in call_ids:
            problem = _requeue_one(runtime.ledger, queues, call_id, settings.job_timeout_s)
            if problem is not None:
                click.echo(f"callscribe: {problem}", err=True)
                problems += 1
                continue
            click.echo(call_id)
    if problems:
        sys.exit(1)


def _requeue_one(
    ledger: CallLedger, queues: CallQueues, call_id: str, job_timeout_s: int
) -> str | None:
    """Queue one call again; returns why not, in one line, or None when it was."""
    from callscribe.worker.reconcile import owning_job, requeue_call

    record = ledger.get(call_id)
    if record is None:
        return f"unknown call id {call_id}"
    if record.status == CallStatus.DONE:
        return f"call {call_id} is done; nothing to queue again"
    try:
        if record.status != CallStatus.FAILED and owning_job(queues.normal.connection, call_id):
            return f"call {call_id} is {record.status} and a live job has it"
        queued = requeue_call(
            ledger,
            queues,
            call_id,
            priority=record.metadata.get("priority"),
            from_statuses=(record.status,),
            job_timeout_s=job_timeout_s,
        )
    except ValueError as err:
        return f"call {call_id}: {err}"
    if not queued:
        return f"call {call_id} changed while it was being queued again; try again"
    return None
