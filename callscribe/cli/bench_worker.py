"""``callscribe bench --worker``: a warm worker, enqueue to ``done``, and calls per hour.

Real parts throughout: a private redis-server, a fresh data directory (SQLite store, the
embedded case desk) per configuration, and ``callscribe worker`` processes that load the model
before they take a job. For each configuration (worker processes x threads each):

1. the workers start and register with rq (the model is then resident); each is warmed up on
   one short clip, untimed;
2. **latency**: the 72 s and the 3-minute built call are queued one at a time, each timed from
   ``enqueue`` to the ledger's ``done``, while nothing else runs;
3. **throughput**: a batch of built 72 s calls (each with its own pauses, so each is a new
   recording) is queued at once and timed until the last is ``done``: calls per hour.

Stage seconds come from the workers' own ``callscribe_stage_seconds`` histograms (their
metrics ports, scraped before and after): decoding, transcribing (Silero VAD and Whisper),
extracting, writing-back; what remains of enqueue-to-done is the queue and the store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from callscribe.errors import ConfigurationError
from callscribe.ledger import CallLedger, CallStatus
from callscribe.settings import Settings
from callscribe.transcribe.bench_calls import BuiltCall, build_planned_call, load_clips, write_call
from callscribe.transcribe.evaluate import character_errors, normalise_for_scoring, read_manifest
from callscribe.transcribe.postprocess import to_simplified
from callscribe.transcribe.turns import turn_order

__all__ = [
    "CallTiming",
    "WorkerConfig",
    "WorkerRun",
    "format_worker_runs",
    "parse_configs",
    "run_worker_bench",
]

STAGES = ("decoding", "transcribing", "extracting", "writing-back")
START_TIMEOUT_S = 600.0
"""Seconds the workers may take to load the model and register."""

POLL_S = 0.02
"""Seconds between looks at the ledger while a call is owed work."""


@dataclass(frozen=True)
class WorkerConfig:
    """How many worker processes, and CTranslate2 threads in each."""

    workers: int
    threads: int

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.threads}"


@dataclass(frozen=True)
class CallTiming:
    """One call taken from enqueue to done by a warm worker."""

    call: str
    audio_s: float
    enqueue_to_done_s: float
    stages_s: dict[str, float]
    errors: int
    ref_chars: int
    turns_in_order: bool

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else 0.0

    @property
    def overhead_share(self) -> float:
        """Everything but transcription (decoding, extraction, write-back, queue and store) as
        a share of the transcription's seconds."""
        transcribing = self.stages_s.get("transcribing", 0.0)
        return (self.enqueue_to_done_s - transcribing) / transcribing if transcribing else 0.0


@dataclass(frozen=True)
class WorkerRun:
    """One configuration's latency calls and its batch."""

    config: WorkerConfig
    latency: list[CallTiming]
    batch_calls: int
    batch_audio_s: float
    batch_wall_s: float
    batch_stages_s: dict[str, float] = field(default_factory=dict)

    @property
    def calls_per_hour(self) -> float:
        return self.batch_calls / self.batch_wall_s * 3600 if self.batch_wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "calls_per_hour": round(self.calls_per_hour, 1),
            "latency": [
                {**asdict(t), "cer": round(t.cer, 4), "overhead_share": round(t.overhead_share, 4)}
                for t in self.latency
            ],
        }


def parse_configs(text: str) -> list[WorkerConfig]:
    """``1x2,2x1`` -> one worker of two threads, two workers of one thread.

    Raises:
        ConfigurationError: not a list of WORKERSxTHREADS.
    """
    configs = []
    for part in text.split(","):
        workers, _, threads = part.strip().partition("x")
        if not (workers.isdigit() and threads.isdigit()) or not int(workers) or not int(threads):
            raise ConfigurationError(f"bench: {part!r} is not WORKERSxTHREADS (e.g. 1x2)")
        configs.append(WorkerConfig(int(workers), int(threads)))
    return configs


def run_worker_bench(
    settings: Settings, manifest: Path, configs: Sequence[WorkerConfig], batch: int
) -> list[WorkerRun]:
    """Measure each configuration on a private Redis, one after the other.

    Raises:
        ConfigurationError: the clips cannot be read, or a worker did not start.
        QueueUnavailable: the private redis-server did not start.
    """
    from callscribe.cli.redis_server import PrivateRedis

    with tempfile.TemporaryDirectory(prefix="callscribe-bench-worker-") as tmp:
        workdir = Path(tmp)
        clips = load_clips(manifest)
        warmups = [e.audio for e in read_manifest(manifest)]
        latency_calls = [_written(build_planned_call(n, clips), workdir) for n in ("72s", "3min")]
        batch_calls = [
            _written(build_planned_call("72s", clips, seed=seed), workdir, f"72s_seed{seed}")
            for seed in range(1, batch + 1)
        ]
        server = PrivateRedis.start(workdir / "redis")
        try:
            runs = []
            for config in configs:
                runs.append(
                    _run_config(
                        settings,
                        config,
                        server.url,
                        workdir / config.label,
                        warmups[: config.workers],
                        latency_calls,
                        batch_calls,
                    )
                )
                redis.Redis.from_url(server.url).flushdb()
            return runs
        finally:
            server.stop()


def _written(call: BuiltCall, workdir: Path, name: str | None = None) -> tuple[BuiltCall, Path]:
    return call, write_call(call, workdir / f"call_{name or call.name}.wav")


def _run_config(
    settings: Settings,
    config: WorkerConfig,
    redis_url: str,
    data: Path,
    warmups: list[Path],
    latency_calls: list[tuple[BuiltCall, Path]],
    batch_calls: list[tuple[BuiltCall, Path]],
) -> WorkerRun:
    from callscribe.intake.queue import connect, enqueue_call, open_queue
    from callscribe.intake.register import register_call_file
    from callscribe.runtime import open_runtime

    db_url = f"sqlite:///{(data / 'callscribe.db').resolve()}"
    local = settings.model_copy(
        update={"data": data, "db_url": db_url, "redis_url": redis_url, "case_system_url": None}
    )
    ledger = open_runtime(local).ledger
    connection = connect(redis_url)
    queue = open_queue(connection, local.queue)
    ports = [_free_port() for _ in range(config.workers)]
    env = {
        **os.environ,
        "CALLSCRIBE_DATA": str(data),
        "CALLSCRIBE_DB_URL": db_url,
        "CALLSCRIBE_CACHE": str(settings.cache_dir),
        "CALLSCRIBE_CPU_THREADS": str(config.threads),
        "REDIS_URL": redis_url,
    }
    env.pop("CALLSCRIBE_CASE_SYSTEM_URL", None)
    logs = [(data / f"worker{i}.log").open("wb") for i in range(config.workers)]
    workers = [
        subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            [sys.executable, "-m", "callscribe.cli", "worker", "--metrics-port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        _wait_for_workers(connection, workers, data)

        def run(calls: Sequence[Path]) -> tuple[list[str], float]:
            ids = [
                register_call_file(path, ledger=ledger, data_dir=data)[0].call_id for path in calls
            ]
            started = time.perf_counter()
            for call_id in ids:
                enqueue_call(queue, call_id, job_timeout_s=local.job_timeout_s)
            _wait_done(ledger, ids)
            return ids, time.perf_counter() - started

        run(warmups)
        latency = []
        for call, path in latency_calls:
            before = _stage_sums(ports)
            [call_id], seconds = run([path])
            latency.append(_timing(call, ledger, call_id, seconds, _delta(before, ports)))
        before = _stage_sums(ports)
        _ids, wall = run([path for _call, path in batch_calls])
        return WorkerRun(
            config=config,
            latency=latency,
            batch_calls=len(batch_calls),
            batch_audio_s=sum(call.duration for call, _path in batch_calls),
            batch_wall_s=wall,
            batch_stages_s=_delta(before, ports),
        )
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def _wait_for_workers(
    connection: redis.Redis, workers: list[subprocess.Popen[bytes]], data: Path
) -> None:
    from rq import Worker

    deadline = time.monotonic() + START_TIMEOUT_S
    while Worker.count(connection=connection) < len(workers):
        for i, process in enumerate(workers):
            if process.poll() is not None:
                log_tail = (data / f"worker{i}.log").read_text(errors="replace").splitlines()[-1:]
                raise ConfigurationError(
                    f"bench: worker {i} exited with {process.returncode}: "
                    f"{log_tail[0] if log_tail else 'no output'}"
                )
        if time.monotonic() > deadline:
            raise ConfigurationError(f"bench: workers did not start in {START_TIMEOUT_S:.0f}s")
        time.sleep(0.2)


def _wait_done(ledger: CallLedger, call_ids: list[str]) -> None:
    pending = set(call_ids)
    while pending:
        for call_id in list(pending):
            record = ledger.get(call_id)
            if record is None:
                continue
            if record.status == CallStatus.FAILED:
                raise ConfigurationError(f"bench: call {call_id} failed: {record.error}")
            if record.status == CallStatus.DONE:
                pending.discard(call_id)
        if pending:
            time.sleep(POLL_S)


def _timing(
    call: BuiltCall, ledger: CallLedger, call_id: str, seconds: float, stages: dict[str, float]
) -> CallTiming:
    record = ledger.get(call_id)
    transcript = record.transcript if record is not None else None
    text = transcript.text if transcript is not None else ""
    order = [str(s) for s in turn_order(transcript.segments)] if transcript is not None else []
    ref = normalise_for_scoring(to_simplified(call.reference))
    return CallTiming(
        call=call.name,
        audio_s=call.duration,
        enqueue_to_done_s=seconds,
        stages_s=stages,
        errors=character_errors(ref, normalise_for_scoring(to_simplified(text))),
        ref_chars=len(ref),
        turns_in_order=order == [str(s) for s in call.speaker_order],
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stage_sums(ports: list[int]) -> dict[str, float]:
    """Seconds per stage summed over the workers' histograms, as their metrics ports say."""
    sums = dict.fromkeys(STAGES, 0.0)
    for port in ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:  # noqa: S310
            text = page.read().decode()
        for line in text.splitlines():
            if line.startswith('callscribe_stage_seconds_sum{stage="'):
                stage = line.split('"')[1]
                if stage in sums:
                    sums[stage] += float(line.rsplit(" ", 1)[1])
    return sums


def _delta(before: dict[str, float], ports: list[int]) -> dict[str, float]:
    after = _stage_sums(ports)
    return {stage: round(after[stage] - before[stage], 4) for stage in STAGES}


def format_worker_runs(runs: Sequence[WorkerRun]) -> str:
    """Latency per call, then calls per hour, per configuration."""
    lines = [
        f"{'workers x thr':<14}{'call':<7}{'audio s':>8}{'enqueue->done s':>16}{'x audio':>8}"
        f"{'transcr s':>10}{'decode':>8}{'extract':>8}{'write':>7}{'rest':>7}{'overhead':>9}"
        f"{'CER':>8}{'turns':>7}"
    ]
    for run in runs:
        for t in run.latency:
            stages = t.stages_s
            rest = t.enqueue_to_done_s - sum(stages.values())
            lines.append(
                f"{run.config.label:<14}{t.call:<7}{t.audio_s:>8.1f}{t.enqueue_to_done_s:>16.2f}"
                f"{t.enqueue_to_done_s / t.audio_s:>8.3f}{stages['transcribing']:>10.2f}"
                f"{stages['decoding']:>8.2f}{stages['extracting']:>8.2f}"
                f"{stages['writing-back']:>7.2f}{rest:>7.2f}{t.overhead_share:>9.1%}"
                f"{t.cer:>8.2%}{'ok' if t.turns_in_order else 'WRONG':>7}"
            )
    lines.append("")
    lines.append(
        f"{'workers x thr':<14}{'calls':>6}{'audio s':>9}{'wall s':>8}{'calls/hour':>11}"
        f"{'transcr s':>10}{'other stages s':>15}"
    )
    for run in runs:
        other = sum(v for k, v in run.batch_stages_s.items() if k != "transcribing")
        lines.append(
            f"{run.config.label:<14}{run.batch_calls:>6}{run.batch_audio_s:>9.1f}"
            f"{run.batch_wall_s:>8.1f}{run.calls_per_hour:>11.0f}"
            f"{run.batch_stages_s.get('transcribing', 0.0):>10.2f}{other:>15.2f}"
        )
    return "\n".join(lines)
