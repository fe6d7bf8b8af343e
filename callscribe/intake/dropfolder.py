"""The drop folder on disk: ``inbox/ -> processing/ -> done/ | failed/``, moved atomically.

Every move is one ``os.replace`` inside one filesystem, so a crash at any instant leaves each
file in exactly one folder. While a call is worked on, its file sits in ``processing/`` as
``TOKEN__NAME``: the token is written into the call's ledger metadata when it is registered, so
after a restart the watcher can tell its own half-done file from a second copy of a call.

A sidecar travels with its audio and is moved first; a sidecar found in ``processing/``
without its audio is the trace of a crash between the two moves and goes back to the inbox.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callscribe.intake.files import lexists

__all__ = [
    "IGNORED_SUFFIXES",
    "SAFE_NAME_MAX_BYTES",
    "DropFolder",
    "is_ignored",
    "name_token",
    "safe_name",
    "split_token",
]

IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
"""Names a recorder is still writing; they are left alone until renamed."""

_SEP = "__"

SAFE_NAME_MAX_BYTES = 180
"""UTF-8 bytes of a name the folder writes. 255 (NAME_MAX) less what is added to it: the
processing token (18), or a ``.TOKEN`` (17) and ``.duplicate.json`` (15) and a temporary
``.NAME.tmp`` (5) in done/ and failed/. The watcher takes no longer names (they fail)."""


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
    """The name with control characters and separators replaced, for folders we write.

    At most :data:`SAFE_NAME_MAX_BYTES` in UTF-8: a longer name keeps its start and its
    extension with a short hash of the whole name between them, so that the folder's own
    suffixes (``.TOKEN``, ``.duplicate.json``, ``.tmp``) still fit in the file system's 255.
    """
    cleaned = "".join(
        "_" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch in "/\\" else ch
        for ch in name
    )
    cleaned = cleaned.lstrip(".") or "unnamed"
    if _utf8_len(cleaned) <= SAFE_NAME_MAX_BYTES:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext) <= 8 and ext.isascii() and ext.isalnum() else ""
    stem = stem if suffix else cleaned
    tail = f"~{name_token(name)[:8]}{suffix}"
    budget = SAFE_NAME_MAX_BYTES - _utf8_len(tail)
    kept: list[str] = []
    for ch in stem:
        budget -= _utf8_len(ch)
        if budget < 0:
            break
        kept.append(ch)
    return "".join(kept) + tail


def name_token(name: str) -> str:
    """An opaque short token for a file name, for log lines: the name may hold personal data.

    The first 12 hex digits of the name's SHA-256; ``NAME.error.json`` records it beside the
    name, so an operator can find the file a log line speaks of.
    """
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


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
        self,
        path: Path,
        *,
        failed: bool,
        note: dict[str, Any] | None,
        note_kind: str,
        sidecar: Path | None = None,
    ) -> Path:
        """Move ``path`` (from inbox/ or processing/) and its sidecar to done/ or failed/.

        ``sidecar`` is the one to move with a file still in the inbox; a file in processing/
        brings its own. A name too long for the folder is shortened (:func:`safe_name`).
        The note (``NAME.error.json`` or ``NAME.duplicate.json``) is written before the audio
        moves, so a crash in between only means the move is redone after a restart.
        """
        token, original = split_token(path.name)
        folder = self.failed if failed else self.done
        if token:
            sidecar = self.sidecar_in_processing(path)
        target = folder / safe_name(original)
        if lexists(target) or (sidecar is not None and lexists(_sidecar_path(target))):
            stem, dot, suffix = target.name.rpartition(".")
            unique = token or secrets.token_hex(8)
            target = folder / (f"{stem}.{unique}.{suffix}" if dot else f"{target.name}.{unique}")
        if note is not None:
            _write_json(folder / f"{target.name}.{note_kind}.json", note)
        if sidecar is not None:
            with contextlib.suppress(FileNotFoundError):
                os.replace(sidecar, _sidecar_path(target))
        os.replace(path, target)
        return target

    @staticmethod
    def sidecar_in_processing(audio: Path) -> Path | None:
        candidate = audio.with_suffix(".json")
        return candidate if candidate != audio and lexists(candidate) else None

    def return_orphan_sidecars(self) -> list[Path]:
        """Sidecars left in processing/ by a crash between the two moves go back to inbox/.

        One that cannot be moved back stays where it is; the others are still returned.
        """
        audio_stems = {
            p.with_suffix("").name for p in self.processing.iterdir() if p.suffix != ".json"
        }
        returned = []
        for sidecar in self.processing.glob("*.json"):
            if sidecar.with_suffix("").name in audio_stems:
                continue
            _token, original = split_token(sidecar.name)
            target = self.inbox / original
            if lexists(target):
                continue
            try:
                os.replace(sidecar, target)
            except OSError:
                continue
            returned.append(target)
        return returned


def _sidecar_path(audio: Path) -> Path:
    return audio.with_suffix(".json") if audio.suffix else audio.with_name(audio.name + ".json")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    # A name from a non-UTF-8 file system holds lone surrogates: written as JSON escapes.
    tmp.write_bytes(text.encode("utf-8", "backslashreplace"))
    os.replace(tmp, path)
