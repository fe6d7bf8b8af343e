"""The initial prompt: a Simplified, punctuated opening line and, optionally, domain vocabulary.

Whisper continues the style of its prompt. A prompt in Simplified characters with Chinese
punctuation makes the model write Simplified, punctuated text. The prompt uses only "。" and "、"
on purpose: both are single tokens, whereas "，" "？" "！" are spelt as three byte tokens, and a
prompt full of them teaches the base model to start that byte sequence and finish it wrongly
(a fullwidth "Ｇ" where "，" was meant).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from callscribe import defaults
from callscribe.errors import ConfigurationError

__all__ = ["HOTLINE_PROMPT", "build_initial_prompt", "read_vocabulary"]

HOTLINE_PROMPT = defaults.WHISPER_PROMPT
"""The hotline's opening line; not the default (settings.prompt is empty), see defaults."""

_MAX_PROMPT_CHARS = 180
"""Whisper keeps at most 223 prompt tokens; Chinese characters are one to three tokens each."""


def _packaged_vocabulary() -> Path:
    return Path(str(resources.files("callscribe.transcribe") / "vocabulary_zh.txt"))


@functools.cache
def read_vocabulary(path: Path | None = None) -> tuple[str, ...]:
    """Terms from a vocabulary file: one per line, ``#`` starts a comment.

    Args:
        path: the file named by ``CALLSCRIBE_VOCABULARY_FILE``; None for the packaged list.

    Raises:
        ConfigurationError: the file cannot be read.
    """
    source = path or _packaged_vocabulary()
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"{source}: cannot read the vocabulary file: {err}") from err
    terms = (line.split("#", 1)[0].strip() for line in lines)
    return tuple(t for t in terms if t)


def build_initial_prompt(
    prompt: str | None = HOTLINE_PROMPT,
    *,
    use_vocabulary: bool = False,
    vocabulary_file: Path | None = None,
) -> str | None:
    """The prompt both engines decode with: vocabulary first, the opening line last.

    The opening line goes last because it is the text nearest to the audio, which sets the
    style (Simplified, punctuated) most strongly.
    """
    parts: list[str] = []
    if use_vocabulary:
        terms = read_vocabulary(vocabulary_file)
        room = _MAX_PROMPT_CHARS - len(prompt or "")
        chosen: list[str] = []
        for term in terms:
            if sum(len(t) + 1 for t in chosen) + len(term) + 1 > room:
                break
            chosen.append(term)
        if chosen:
            parts.append("、".join(chosen) + "。")
    if prompt:
        parts.append(prompt)
    return "".join(parts) or None
