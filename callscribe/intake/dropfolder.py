"""The drop folder on disk: ``inbox/ -> processing/ -> done/ | failed/``, moved atomically.

Every move is one ``os.replace`` inside one filesystem, so a crash at any instant leaves each
file in exactly one folder. While a call is worked on, its file sits in ``processing/`` as
``TOKEN__NAME``: the token is written into the call's ledger metadata when it is registered, so
after a restart the watcher can tell its own half-done file from a second copy of a call.

A sidecar travels with its audio and is moved first; a sidecar found in ``processing/``
without its audio is the trace of a crash between the two moves and goes back to the inbox.
"""

from __future__ import annotations

import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["IGNORED_SUFFIXES", "DropFolder", "is_ignored", "split_token"]

IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
"""Names a recorder is still writing; they are left alone until renamed."""

_SEP = "__"


def is_ignored(name: str) -> bool:
    """Hidden files, files still being written, and sidecars are never taken on their own."""
    lower = name.lower()
    return name.startswith(".") or lower.endswith(IGNORED_SUFFIXES) or lower.endswith(".json")


def split_token(name: str) -> tuple[str | None, str]:
    """``TOKEN__NAME`` -> (TOKEN, NAME); a name without a token -> (None, name)."""
    token, sep, rest = name.partition(_SEP)
    if sep and len(token) == 16 and all(c in "0123456789abcdef" for c in token):
        return token, rest
    return None, name


def safe_name(name: str) -> str:
    """The name with control characters and separators replaced, for folders we write."""
    cleaned = "".join(
        "_" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch in "/\\" else ch
        for ch in name
    )
    cleaned = cleaned.lstrip(".") or "unnamed"
    return cleaned[:200]


@dataclass(frozen=True)
class DropFolder:
    """The four folders. ``watch DIR`` uses ``DIR/inbox`` etc.; ``watch DIR/inbox`` the same."""

    root: Path

    @classmethod
    def at(cls, path: Path) -> DropFolder:
        path = Path(path).absolute()
        folder = cls(path.parent if path.name == "inbox" else path)
        for sub in (folder.inbox, folder.processing, folder.done, folder.failed):
            sub.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    def take(self, audio: Path, sidecar: Path | None) -> Path:
        """Move an inbox file (sidecar first) into processing/ under a fresh token."""
        token = secrets.token_hex(8)
        target = self.processing / f"{token}{_SEP}{safe_name(audio.name)}"
        if sidecar is not None:
            os.replace(sidecar, target.with_suffix(".json"))
        os.replace(audio, target)
        return target

    def finish(
        self, path: Path, *, failed: bool, note: dict[str, Any] | None, note_kind: str
    ) -> Path:
        """Move ``path`` (from inbox/ or processing/) and its sidecar to done/ or failed/.

        The note (``NAME.error.json`` or ``NAME.duplicate.json``) is written before the audio
        moves, so a crash in between only means the move is redone after a restart.
        """
        token, original = split_token(path.name)
        folder = self.failed if failed else self.done
        sidecar = self.sidecar_in_processing(path) if token else None
        target = folder / safe_name(original)
        if _taken(target) or (sidecar is not None and _taken(_sidecar_path(target))):
            stem, dot, suffix = target.name.rpartition(".")
            unique = token or secrets.token_hex(8)
            target = folder / (f"{stem}.{unique}.{suffix}" if dot else f"{target.name}.{unique}")
        if note is not None:
            _write_json(folder / f"{target.name}.{note_kind}.json", note)
        if sidecar is not None:
            os.replace(sidecar, _sidecar_path(target))
        os.replace(path, target)
        return target

    @staticmethod
    def sidecar_in_processing(audio: Path) -> Path | None:
        candidate = audio.with_suffix(".json")
        return candidate if candidate != audio and candidate.exists() else None

    def return_orphan_sidecars(self) -> list[Path]:
        """Sidecars left in processing/ by a crash between the two moves go back to inbox/."""
        audio_stems = {
            p.with_suffix("").name for p in self.processing.iterdir() if p.suffix != ".json"
        }
        returned = []
        for sidecar in self.processing.glob("*.json"):
            if sidecar.with_suffix("").name in audio_stems:
                continue
            _token, original = split_token(sidecar.name)
            target = self.inbox / original
            if not target.exists():
                os.replace(sidecar, target)
                returned.append(target)
        return returned


def _taken(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _sidecar_path(audio: Path) -> Path:
    return audio.with_suffix(".json") if audio.suffix else audio.with_name(audio.name + ".json")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
