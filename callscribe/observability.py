"""Prometheus metrics: one definition of each, recorded by intake, the worker and the desk.

Each process exposes its own registry: a worker or watcher on a small HTTP port
(:func:`serve_metrics`, ``CALLSCRIBE_METRICS_PORT``), the desk at ``/metrics``. Labels never
carry a call id, a file name or any other value from outside: only the fixed words below.
Recording is cheap and never raises into the caller's work.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "AUDIO_SECONDS",
    "CALLS_FINISHED",
    "OUTBOX_DEPTH",
    "REAL_TIME_FACTOR",
    "RETRIES",
    "STAGE_SECONDS",
    "WATCHER_ERRORS",
    "count_retry",
    "count_watcher_error",
    "observe_call_finished",
    "observe_stage",
    "serve_metrics",
    "set_outbox_depth",
]

log = logging.getLogger(__name__)

STAGES = ("decoding", "transcribing", "extracting", "writing-back")
FINISHED = ("done", "failed")
RETRY_REASONS = ("case-system", "redis", "other")
WATCHER_REASONS = (
    "sidecar",
    "audio",
    "name",
    "duplicate",
    "queue",
    "recovery",
    "other",
)

STAGE_SECONDS = Histogram(
    "callscribe_stage_seconds",
    "Seconds one call spent in a pipeline stage.",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
CALLS_FINISHED = Counter(
    "callscribe_calls_finished_total", "Calls that reached done or failed.", ["status"]
)
AUDIO_SECONDS = Counter("callscribe_audio_seconds_total", "Seconds of call audio transcribed.")
REAL_TIME_FACTOR = Histogram(
    "callscribe_real_time_factor",
    "Processing seconds per second of audio, per call (under 1 is faster than real time).",
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
)
RETRIES = Counter("callscribe_retries_total", "Retryable failures of a call's job.", ["reason"])
OUTBOX_DEPTH = Gauge(
    "callscribe_outbox_depth", "Calls whose case the case system does not have yet."
)
WATCHER_ERRORS = Counter(
    "callscribe_watcher_errors_total", "Drop-folder files moved to failed/, by reason.", ["reason"]
)


def _word(value: str, allowed: tuple[str, ...]) -> str:
    """A label value from a fixed list, so no outside value can reach a label."""
    return value if value in allowed else "other"


def observe_stage(stage: str, seconds: float) -> None:
    """One call spent ``seconds`` in ``stage`` (one of :data:`STAGES`)."""
    if stage in STAGES and seconds >= 0:
        STAGE_SECONDS.labels(stage=stage).observe(seconds)


def observe_call_finished(
    status: str, *, audio_seconds: float | None = None, processing_seconds: float | None = None
) -> None:
    """A call ended ``done`` or ``failed``; with both durations, its real-time factor too."""
    if status not in FINISHED:
        return
    CALLS_FINISHED.labels(status=status).inc()
    if audio_seconds is not None and audio_seconds > 0:
        AUDIO_SECONDS.inc(audio_seconds)
        if processing_seconds is not None and processing_seconds >= 0:
            REAL_TIME_FACTOR.observe(processing_seconds / audio_seconds)


def count_retry(reason: str) -> None:
    """A job failed in a way that will be retried (``case-system``, ``redis`` or ``other``)."""
    RETRIES.labels(reason=_word(reason, RETRY_REASONS)).inc()


def set_outbox_depth(depth: int) -> None:
    OUTBOX_DEPTH.set(max(0, depth))


def count_watcher_error(reason: str) -> None:
    """The watcher moved a file to failed/ (a reason from :data:`WATCHER_REASONS`)."""
    WATCHER_ERRORS.labels(reason=_word(reason, WATCHER_REASONS)).inc()


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose this process's metrics at ``http://addr:port/metrics`` from a daemon thread."""
    start_http_server(port, addr=addr)
    log.info("metrics served on %s:%s", addr, port)
