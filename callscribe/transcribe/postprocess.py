"""Mandarin clean-up of Whisper output: Simplified characters, punctuation, hallucinations."""

from __future__ import annotations

import functools
import re

import opencc

__all__ = ["add_final_punctuation", "is_hallucination", "to_simplified"]

_FINAL_PUNCTUATION = "。！？!?…；;，,、：:"

# Text Whisper produces from silence or noise, learnt from subtitle credits in its training data.
_HALLUCINATION_PATTERNS = [
    re.compile(p)
    for p in (
        r"字幕.{0,8}(由|by|BY|By)",
        r"(Amara|amara)\.?(org)?",
        r"请不吝.{0,6}(点赞|订阅)",
        r"(点赞|订阅|转发|打赏).{0,4}(订阅|转发|打赏|支持)",
        r"明镜.{0,3}点点栏目",
        r"字幕(制作|提供|翻译|校对)",
        r"(中文|简体)字幕",
        r"感谢(收看|观看|您的观看)",
        r"谢谢(大家)?(收看|观看)",
        r"(下期|下集)再见",
        r"索兰娅",
    )
]


@functools.cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional characters to Simplified (OpenCC t2s)."""
    return str(_converter().convert(text))


def add_final_punctuation(text: str) -> str:
    """End a sentence with 。 when Whisper left it bare; never touch the characters."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in _FINAL_PUNCTUATION:
        return stripped
    return stripped + "。"


def is_hallucination(text: str) -> bool:
    """True for the subtitle credits Whisper invents on silence, music or noise."""
    return any(p.search(text) for p in _HALLUCINATION_PATTERNS)
