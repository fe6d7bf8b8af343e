"""Fault-test parts: a private redis-server to stop and restart, worker subprocesses to kill,
and distinct short real calls.

Never the shared Redis: every server here is our own, on a unix socket under the test's tmp.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from callscribe.cli.redis_server import find_redis_server, redis_answers
from tests.conftest import ROOT, SPEECH

SHORT_CLIPS = (
    "BAC009S0002W0123.wav",
    "BAC009S0764W0122.wav",
    "BAC009S0764W0121.wav",
    "BAC009S0724W0121.wav",
)
"""The shortest real clips (about 4 s each): a call takes about a second on two cores."""


@dataclass
class RedisProcess:
    """A redis-server of the test's own; ``persistent`` means an append-only file, fsynced on
    every write, so a restart finds everything as it was."""

    directory: Path
    persistent: bool
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self, timeout_s: float = 10.0) -> RedisProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        if not self.persistent:
            persistence = ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [
                find_redis_server(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--save",
                "",
                *persistence,
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: redis_answers(self.url), timeout_s, "the private redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        self.socket.unlink(missing_ok=True)

    def lose_everything(self) -> None:
        """From the next start on, no persistence, and nothing kept from before (stopped)."""
        assert self.process is None, "stop it first"
        self.persistent = False
        shutil.rmtree(self.directory / "appendonlydir", ignore_errors=True)
        (self.directory / "dump.rdb").unlink(missing_ok=True)


@dataclass
class WorkerProcess:
    """``callscribe worker`` in a session of its own (it forks rq's scheduler: a kill takes
    the whole group, as a supervisor's would)."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started: list[int] = field(default_factory=list)

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "callscribe.cli", "worker"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(self.process.pid)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (rq's warm shutdown), then the exit status; the group is killed after."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def worker_env(*, redis_url: str, data_dir: Path, cache_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker subprocess: nothing from the developer's shell leaks in."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIBE_") and k != "REDIS_URL"
    }
    env.update(
        {
            "REDIS_URL": redis_url,
            "CALLSCRIBE_DATA": str(data_dir),
            "CALLSCRIBE_CACHE": str(cache_dir),
            "CALLSCRIBE_LOG_LEVEL": "INFO",
            "CALLSCRIBE_WORKER_MAINTENANCE_S": "1",
            "CALLSCRIBE_STALE_AFTER_S": "1",
            "CALLSCRIBE_WORKER_LEASE_S": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def distinct_calls(count: int, directory: Path) -> list[Path]:
    """``count`` real short calls, each a different recording (one sample moved), so that each
    is a call of its own (a call id is the audio's SHA-256)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        name = SHORT_CLIPS[n % len(SHORT_CLIPS)]
        samples, rate = sf.read(SPEECH / name, dtype="int16")
        samples = np.array(samples, copy=True)
        samples[-1] = np.int16((int(samples[-1]) + 1 + n) % 32767)
        path = directory / f"call-{n:02d}.wav"
        sf.write(path, samples, rate, subtype="PCM_16")
        paths.append(path)
    return paths


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(poll_s)
