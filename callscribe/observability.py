"""Prometheus metrics: one definition of each, recorded by intake, the worker and the desk.

Each process exposes its own registry: a worker or watcher on a small HTTP port
(:func:`serve_metrics`, ``CALLSCRIBE_METRICS_PORT``), the desk at ``/metrics``. Labels never
carry a call id, a file name or any other value from outside: only the fixed words below.
Recording is cheap and never raises into the caller's work.

Counters and histograms count what this process did. How many calls the store holds in each
status is read from the store at scrape time (:class:`StoreCollector`), so every process that
is given the store reports the same, current numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine, column, func, select, table

__all__ = [
    "AUDIO_SECONDS",
    "CALLS_FINISHED",
    "CALL_STATUSES",
    "OUTBOX_DEPTH",
    "REAL_TIME_FACTOR",
    "RETRIES",
    "STAGE_SECONDS",
    "WATCHER_ERRORS",
    "StoreCollector",
    "count_retry",
    "count_watcher_error",
    "exposition",
    "observe_call_finished",
    "observe_stage",
    "serve_metrics",
    "set_outbox_depth",
]

log = logging.getLogger(__name__)

STAGES = ("decoding", "transcribing", "extracting", "writing-back")
CALL_STATUSES = (
    "queued",
    "transcribing",
    "extracting",
    "writing-back",
    "done",
    "failed",
)
"""The ledger's status words (``callscribe.ledger.CallStatus``); any other is counted as other."""
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


_CALLS = table("calls", column("status"))
"""The ledger's table, as far as counting needs it (this module imports no room of ours)."""


class StoreCollector(Collector):
    """``callscribe_calls{status}``: calls in the store by status, counted at each scrape.

    Also ``callscribe_store_up``: 0 when the count failed (the store did not answer), so a
    dead store shows on the dashboard instead of making the scrape fail.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "callscribe_store_up", "1 when the store answered the count of calls, else 0."
        )
        try:
            counts = self.counts()
        except Exception as err:  # noqa: BLE001  (a scrape reports the store down, never fails)
            log.warning("metrics: the store did not answer: %s", type(err).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        calls = GaugeMetricFamily(
            "callscribe_calls",
            "Calls in the store by status, read at scrape time.",
            labels=["status"],
        )
        for status in (*CALL_STATUSES, "other"):
            calls.add_metric([status], counts.get(status, 0))
        yield calls

    def counts(self) -> dict[str, int]:
        """Calls per status word (unknown words summed under ``other``)."""
        status = _CALLS.c.status
        query = select(status, func.count()).select_from(_CALLS).group_by(status)
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for word, number in conn.execute(query):
                key = _word(str(word), CALL_STATUSES)
                counts[key] = counts.get(key, 0) + int(number)
        return counts


def exposition(store: Engine | None = None) -> CollectorRegistry:
    """The registry to expose: this process's metrics, plus the store's counts when given."""
    if store is None:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(REGISTRY)
    registry.register(StoreCollector(store))
    return registry


def serve_metrics(port: int, addr: str = "127.0.0.1", *, store: Engine | None = None) -> WSGIServer:
    """Expose this process's metrics at ``http://addr:port/metrics`` from a daemon thread.

    Args:
        port: the TCP port (0: any free one; the server's ``server_port`` tells which).
        addr: the interface; keep it private, the port has no authentication.
        store: when given, each scrape also counts the store's calls by status.

    Returns:
        The running server; ``shutdown()`` stops it.

    Raises:
        OSError: the port cannot be bound (taken, or not ours to take).
    """
    server, _thread = start_http_server(port, addr=addr, registry=exposition(store))
    log.info("metrics served on %s:%s", addr, server.server_port)
    return server
