"""Load the packaged rule files (YAML) once; a hotline adapts them without code changes."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from callscribe.errors import ConfigurationError

__all__ = ["heard_as_meant", "load_rules", "weights"]


@functools.cache
def load_rules(name: str) -> dict[str, Any]:
    """The rule file ``rules/<name>.yaml`` as a mapping.

    Raises:
        ConfigurationError: the file is missing or is not a YAML mapping.
    """
    resource = resources.files("callscribe.summarize").joinpath("rules", f"{name}.yaml")
    try:
        data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigurationError(f"rules/{name}.yaml: cannot be read: {err}") from err
    if not isinstance(data, dict):
        raise ConfigurationError(f"rules/{name}.yaml: expected a mapping at the top level")
    return data


def weights(table: dict[Any, Any] | None) -> dict[str, float]:
    """A cue table with string keys (YAML reads ``120:`` as a number) and float weights."""
    return {str(cue): float(weight) for cue, weight in (table or {}).items()}


@functools.cache
def _homophones() -> tuple[tuple[str, str], ...]:
    table = load_rules("cues").get("homophones") or {}
    return tuple((str(heard), str(meant)) for heard, meant in table.items())


def heard_as_meant(text: str) -> str:
    """Undo common Whisper mis-hearings (然气 -> 燃气) before matching cue words."""
    for heard, meant in _homophones():
        text = text.replace(heard, meant)
    return text
