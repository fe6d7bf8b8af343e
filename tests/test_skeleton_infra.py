"""Settings, the packaged model's checksum, and the private Redis of the one-command run."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from callscribe import defaults
from callscribe.cli.redis_server import resolve_redis
from callscribe.errors import ConfigurationError, ModelError, QueueUnavailable
from callscribe.settings import get_settings
from callscribe.transcribe.model import join_packaged_base_model, sha256_of


def test_settings_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSCRIBE_BEAM_SIZE", "many")
    with pytest.raises(ConfigurationError, match="CALLSCRIBE_BEAM_SIZE"):
        get_settings()


def test_settings_refuse_a_model_path_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSCRIBE_MODEL", "/nonexistent/whisper-large")
    with pytest.raises(ConfigurationError, match="CALLSCRIBE_MODEL"):
        get_settings()


def test_packaged_model_is_joined_and_verified(tmp_path: Path) -> None:
    model_dir = join_packaged_base_model(tmp_path)
    assert sha256_of(model_dir / "model.bin") == defaults.BASE_MODEL_SHA256
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {
        p.name for p in model_dir.iterdir()
    }


def test_a_model_that_does_not_match_the_checksum_is_refused(tmp_path: Path) -> None:
    model_dir = join_packaged_base_model(tmp_path)
    with (model_dir / "model.bin").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\xff\xfe")
    with pytest.raises(ModelError, match="does not match"):
        join_packaged_base_model(tmp_path)


def test_private_redis_starts_when_none_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "REDIS_URL", "redis://127.0.0.1:1/0")
    url, server = resolve_redis(None, tmp_path)
    assert server is not None
    try:
        assert url.startswith("unix://")
        assert redis.Redis.from_url(url).ping()
    finally:
        server.stop()
    assert not (tmp_path / "redis.sock").exists()


def test_a_given_redis_url_must_answer(tmp_path: Path) -> None:
    with pytest.raises(QueueUnavailable, match="REDIS_URL"):
        resolve_redis("redis://127.0.0.1:1/0", tmp_path)
