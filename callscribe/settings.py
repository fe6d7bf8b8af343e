"""Typed settings, read from the environment once, validated at start-up.

Nothing here runs on import: call :func:`get_settings` from an entry point.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callscribe import defaults
from callscribe.errors import ConfigurationError

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Every knob callscribe reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="CALLSCRIBE_", extra="ignore", frozen=True)

    # Where state lives
    data: Path = Field(default=Path(defaults.DATA_DIR), description="Data directory.")
    db_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store; default SQLite in the data dir."
    )
    cache: Path | None = Field(
        default=None, description="Where the joined model is kept; default ~/.cache/callscribe."
    )

    # Queue
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="Redis for the queue; unset means the default, or a private one if none runs.",
    )
    queue: str = defaults.QUEUE_NAME
    job_timeout_s: int = Field(
        default=defaults.JOB_TIMEOUT_S,
        gt=0,
        description="Seconds a call's job may run at least (the floor of its time limit).",
    )
    job_timeout_factor: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="Seconds a job may run per second of audio, once decoding has told the "
        "duration: its limit is the larger of this times the duration and the floor.",
    )
    stale_after_s: float = Field(
        default=120.0,
        gt=0,
        description="Seconds a call may sit queued or in a stage with no live job before the "
        "reconciler (every worker, `callscribe requeue --stale`) queues it again.",
    )
    worker_maintenance_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Seconds between a worker's maintenance runs: rq's registries, the outbox, "
        "the reconciler.",
    )
    worker_lease_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="Seconds a worker's lease on Redis outlives its last renewal (it renews at a "
        "third of this): a killed worker's running call is taken over this long after.",
    )

    # Transcription
    model: str | None = Field(
        default=None, description="A CTranslate2 Whisper directory; default the packaged base."
    )
    engine: Literal["faster-whisper", "openai"] = "faster-whisper"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = Field(default="default", description="CTranslate2 compute type.")
    beam_size: int = Field(default=defaults.BEAM_SIZE, ge=1, le=10)
    cpu_threads: int = Field(default=0, ge=0)
    batch_size: int = Field(
        default=defaults.BATCH_SIZE,
        ge=1,
        le=64,
        description="Packed windows faster-whisper decodes at once (BatchedInferencePipeline, "
        "first temperature only); 1 decodes them one after another with temperature fallback. "
        "Memory grows with it (about 130 MiB a window at beam 5).",
    )
    prompt: str = Field(
        default="",
        description="Whisper's initial prompt; empty (the default) for none (measured: it cost "
        "accuracy). Punctuation comes from the pauses between words.",
    )
    use_vocabulary: bool = Field(
        default=False, description="Put the domain vocabulary into the prompt (measured: off)."
    )
    vocabulary_file: Path | None = Field(
        default=None, description="Vocabulary for the prompt, one term a line; default packaged."
    )
    rehear_digits: bool = Field(
        default=True,
        description="Decode each spoken number again alone, as a second hearing for the "
        "callback-number rules (about 2.4 s per number said on 2 CPU cores).",
    )
    rehear_names: bool = Field(
        default=True,
        description="Decode the caller's answer to the agent's name question again alone, for "
        "the name rules (about 2.4 s per call that asks, on 2 CPU cores).",
    )
    agent_channel: Literal["left", "right"] = "left"
    max_call_seconds: float = Field(default=defaults.MAX_CALL_SECONDS, gt=0)
    max_upload_bytes: int = Field(default=defaults.MAX_UPLOAD_BYTES, gt=0)

    # Drop folder (callscribe watch)
    watch_settle_s: float = Field(
        default=2.0, ge=0, description="Seconds a file's size and mtime must hold still."
    )
    watch_poll_s: float = Field(
        default=1.0, gt=0, description="Seconds between scans (the polling fallback's interval)."
    )
    watch_polling: bool = Field(
        default=False, description="Poll only, no inotify (network shares, NFS/SMB)."
    )

    # Case system
    case_system_url: str | None = Field(
        default=None, description="Base URL of an HTTP case system; unset means the embedded desk."
    )
    case_system_token: SecretStr | None = None
    case_system_timeout_s: float = Field(default=defaults.CASE_SYSTEM_TIMEOUT_S, gt=0)
    case_system_attempts: int = Field(default=defaults.CASE_SYSTEM_ATTEMPTS, ge=1, le=20)
    case_system_backoff_s: float = Field(default=defaults.CASE_SYSTEM_BACKOFF_S, ge=0)
    case_system_backoff_max_s: float = Field(default=defaults.CASE_SYSTEM_BACKOFF_MAX_S, ge=0)

    # Embedded case desk (`callscribe serve`)
    desk_worker_token: SecretStr | None = Field(
        default=None,
        description="A worker token the desk accepts besides those from `callscribe tokens add`.",
    )
    desk_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    desk_secure_cookies: bool = Field(
        default=True,
        description="Mark the session cookie Secure; set false only for plain HTTP off loopback.",
    )
    desk_low_confidence: float = Field(
        default=0.6, ge=0, le=1, description="Fields under this confidence stand out for review."
    )
    desk_login_max_failures: int = Field(
        default=5, ge=1, le=1000, description="Failed sign-ins per user or address before a wait."
    )
    desk_login_window_s: float = Field(
        default=900, gt=0, le=86400, description="The window the failures are counted in."
    )
    desk_login_concurrency: int = Field(
        default=2, ge=1, le=64, description="Password checks (argon2) run at once; others wait."
    )
    desk_login_queue: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="Sign-ins that may wait for a password check; beyond it, 503 with Retry-After.",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="The desk's public base URL, for the links it returns (an upload's "
        "status_url); unset means relative links (/calls/ID), never the client's Host header.",
    )

    # Operations
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the desk's /metrics asks for (24+ chars); unset: no /metrics.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of a worker's or watcher's /metrics (no token); unset: none.",
    )
    metrics_addr: str = Field(
        default="127.0.0.1",
        description="Interface of that port; a private one (e.g. 0.0.0.0 behind a firewall).",
    )

    # Optional LLM extractor
    llm_url: str | None = None
    llm_model: str | None = None
    llm_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)

    @field_validator("model")
    @classmethod
    def _model_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().exists():
            raise ValueError(f"model path {value!r} does not exist")
        return value

    @field_validator("desk_worker_token", "metrics_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("must be at least 24 characters (e.g. `openssl rand -hex 24`)")
        return value

    @field_validator("public_url")
    @classmethod
    def _plain_base_url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and (value.query or value.fragment or value.username):
            raise ValueError("must be a base URL without user, query or fragment")
        return value

    @property
    def database_url(self) -> str:
        """The store's SQLAlchemy URL."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data / 'callscribe.db').resolve()}"

    @property
    def cache_dir(self) -> Path:
        """Where derived files such as the joined model are cached."""
        if self.cache is not None:
            return self.cache
        return Path.home() / ".cache" / "callscribe"


@functools.cache
def get_settings() -> Settings:
    """Read and validate the settings once per process.

    Raises:
        ConfigurationError: a variable has a value we cannot use; the message names it.
    """
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(f"{_env_name(e['loc'])}: {e['msg']}" for e in err.errors())
        raise ConfigurationError(f"invalid settings: {problems}") from err


def _env_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "settings"
    name = str(loc[0])
    return name if name.isupper() else "CALLSCRIBE_" + name.upper()
