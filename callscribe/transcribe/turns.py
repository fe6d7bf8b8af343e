"""Merge the per-channel segments of a two-channel call into one transcript, turn by turn."""

from __future__ import annotations

from callscribe.schema import Segment

__all__ = ["merge_channel_segments"]


def merge_channel_segments(per_channel: list[list[Segment]]) -> list[Segment]:
    """Interleave the segments of each channel in time order."""
    merged = [segment for channel in per_channel for segment in channel]
    merged.sort(key=lambda s: (s.start, s.end))
    return merged
