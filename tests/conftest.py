"""Shared fixtures: real Redis on a database of its own, real PostgreSQL, the real model.

Services are never skipped: a missing Redis is started privately, a missing PostgreSQL fails
with a message that says how to start it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from callscribe.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SPEECH = FIXTURES / "speech"
CALLS = FIXTURES / "calls"

TEST_DB_START = 4
"""Like rq's own suite: look for an empty Redis database from db 4 up."""


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CALLSCRIBE_* or REDIS_URL from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("CALLSCRIBE_") or key == "REDIS_URL":
            monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CALLSCRIBE_DATA for the test."""
    path = tmp_path / "var"
    monkeypatch.setenv("CALLSCRIBE_DATA", str(path))
    get_settings.cache_clear()
    return path


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server: the one at REDIS_URL / 127.0.0.1:6379; in CI its absence fails the run,
    elsewhere a private redis-server is started for the session."""
    from callscribe.cli.redis_server import PrivateRedis, redis_answers

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(base):
        yield base.rsplit("/", 1)[0] if base.startswith("redis://") else base
        return
    if os.environ.get("CI"):
        pytest.fail(f"no Redis answers at {base}; .ci/run should have started redis-server")
    server = PrivateRedis.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url.split("?", 1)[0]
    finally:
        server.stop()


def _db_url(server: str, db: int) -> str:
    return f"{server}?db={db}" if server.startswith("unix://") else f"{server}/{db}"


_CLAIM_KEY = "callscribe-tests:claimed-by"
"""Marks a database as taken by one test session, so two sessions on one machine never share
(and flush) the same database. Per-test cleaning deletes every key but this one."""


@pytest.fixture(scope="session")
def redis_test_db(redis_server_url: str) -> Iterator[int]:
    owner = f"{os.uname().nodename}:{os.getpid()}"
    for db in range(TEST_DB_START, 16):
        client = redis.Redis.from_url(_db_url(redis_server_url, db))
        try:
            if client.dbsize() == 0 and client.set(_CLAIM_KEY, owner, nx=True, ex=6 * 3600):
                try:
                    yield db
                finally:
                    _clean_db(client)
                    client.delete(_CLAIM_KEY)
                return
        finally:
            client.close()
    raise RuntimeError("no empty Redis database between 4 and 15 for the tests")


def _clean_db(client: redis.Redis) -> None:
    doomed = [key for key in client.scan_iter(count=1000) if key != _CLAIM_KEY.encode()]
    for start in range(0, len(doomed), 1000):
        client.delete(*doomed[start : start + 1000])


@pytest.fixture
def redis_url(
    redis_server_url: str, redis_test_db: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """REDIS_URL of a database of the tests' own, cleaned before and after each test."""
    url = _db_url(redis_server_url, redis_test_db)
    client = redis.Redis.from_url(url)
    _clean_db(client)
    monkeypatch.setenv("REDIS_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        _clean_db(client)
        client.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The development PostgreSQL (trust auth, database test). Fails, never skips, when absent."""
    import sqlalchemy

    url = os.environ.get(
        "CALLSCRIBE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
    except sqlalchemy.exc.OperationalError as err:
        pytest.fail(
            f"PostgreSQL does not answer at {url} ({err.orig}); start it with "
            "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'"
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """Where the packaged model is joined for the tests (kept between runs)."""
    return Path(os.environ.get("CALLSCRIBE_TEST_CACHE", Path.home() / ".cache" / "callscribe"))


@pytest.fixture(scope="session")
def base_transcriber(model_cache_dir: Path):  # type: ignore[no-untyped-def]
    """The real faster-whisper base model, loaded once for the whole session."""
    from callscribe.transcribe import FasterWhisperEngine, resolve_model_dir

    return FasterWhisperEngine(resolve_model_dir(None, model_cache_dir))


@pytest.fixture(scope="session")
def seeded_pages_store(base_transcriber, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The bundled calls processed by the real model, plus the demo hotline case (see
    tests/pages_support.py); copy it per test with ``fresh_desk``."""
    from tests.pages_support import seed_store

    return seed_store(tmp_path_factory.mktemp("pages-store") / "data", base_transcriber)
