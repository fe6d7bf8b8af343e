"""Two-channel test calls built from labelled clips, for ``callscribe bench``.

A built call plays clips one after another as alternating turns, agent on the left channel and
caller on the right, with seeded pauses between turns, at a phone line's 8 kHz. Its reference
text is the clips' transcripts in turn order and its reference speaker order is the
alternation, so the same few labelled clips give calls of any length with a known answer.

:func:`build_call` is pure (arrays in, arrays out); reading the clips (:func:`load_clips`) and
writing a call as G.711 mu-law WAV (:func:`write_call`) are apart from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from callscribe.errors import ConfigurationError
from callscribe.schema import Speaker

__all__ = [
    "CALL_PLANS",
    "PHONE_RATE",
    "BuiltCall",
    "Clip",
    "Turn",
    "build_call",
    "build_planned_call",
    "level",
    "load_clips",
    "plan_order",
    "write_call",
]

PHONE_RATE = 8_000
"""Samples per second of a built call, as telephone recorders write them."""

LEAD_S = 0.5
"""Seconds of silence before the first turn and after the last."""

PAUSE_RANGE_S = (0.4, 1.5)
"""Seconds of silence between two turns: drawn uniformly in this range from the call's seed."""

TARGET_RMS = 0.08
"""RMS each clip's speech is levelled to: phone systems level each party (AGC)."""

SPEAKERS: tuple[Speaker, Speaker] = ("agent", "caller")
"""Channel 0 (left) is the agent, channel 1 (right) the caller."""

CALL_PLANS = {"72s": "forward", "3min": "forward,reversed,forward", "30min": "cycle:1800"}
"""The built calls ``callscribe bench`` knows: the clips in which order (see :func:`plan_order`)."""


@dataclass(frozen=True)
class Clip:
    """One labelled clip: mono samples at ``rate`` and its reference transcript."""

    name: str
    samples: npt.NDArray[np.float32]
    rate: int
    transcript: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class Turn:
    """Where one clip was placed in a built call."""

    clip: str
    speaker: Speaker
    channel: int
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class BuiltCall:
    """A two-channel call (frames x 2, float32) and the turns it holds, in time order."""

    name: str
    samples: npt.NDArray[np.float32]
    rate: int
    turns: tuple[Turn, ...]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    @property
    def reference(self) -> str:
        """The reference text: every turn's transcript in turn order."""
        return "".join(turn.text for turn in self.turns)

    @property
    def speaker_order(self) -> list[Speaker]:
        """The speakers turn by turn, consecutive repeats collapsed (as ``turns.turn_order``)."""
        order: list[Speaker] = []
        for turn in self.turns:
            if not order or order[-1] != turn.speaker:
                order.append(turn.speaker)
        return order


def build_call(
    name: str,
    clips: Sequence[Clip],
    *,
    seed: int,
    pause_range_s: tuple[float, float] = PAUSE_RANGE_S,
    lead_s: float = LEAD_S,
) -> BuiltCall:
    """Place ``clips`` as alternating turns (agent first) with seeded pauses between them.

    The same clips and seed give the same samples, bit for bit. Turns never overlap: each starts
    after the previous one ended and a pause of ``pause_range_s`` seconds.

    Raises:
        ConfigurationError: no clips, or clips at different sample rates.
    """
    if not clips:
        raise ConfigurationError(f"{name}: a call needs at least one clip")
    rate = clips[0].rate
    if any(clip.rate != rate for clip in clips):
        raise ConfigurationError(f"{name}: the clips must share one sample rate")
    low, high = pause_range_s
    pauses = np.random.default_rng(seed).uniform(low, high, size=len(clips))
    lead = round(lead_s * rate)
    starts: list[int] = []
    cursor = lead
    for clip, pause in zip(clips, pauses, strict=True):
        starts.append(cursor)
        cursor += len(clip.samples) + round(float(pause) * rate)
    last = clips[-1]
    total = starts[-1] + len(last.samples) + lead
    samples = np.zeros((total, 2), dtype=np.float32)
    turns = []
    for i, (clip, start) in enumerate(zip(clips, starts, strict=True)):
        channel = i % 2
        samples[start : start + len(clip.samples), channel] = clip.samples
        turns.append(
            Turn(
                clip=clip.name,
                speaker=SPEAKERS[channel],
                channel=channel,
                start_s=start / rate,
                end_s=(start + len(clip.samples)) / rate,
                text=clip.transcript,
            )
        )
    return BuiltCall(name=name, samples=samples, rate=rate, turns=tuple(turns))


def plan_order(plan: str, durations: Sequence[float]) -> list[int]:
    """The clip indices of a call plan, in turn order.

    A plan is comma-separated ``forward`` (the clips in manifest order) and ``reversed``
    pieces, or ``cycle:SECONDS``: forward, reversed, forward... until the clips alone (without
    pauses) add up to at least ``SECONDS`` less one mean pause per turn.

    Raises:
        ConfigurationError: a plan we do not know.
    """
    forward = list(range(len(durations)))
    if plan.startswith("cycle:"):
        target = float(plan.removeprefix("cycle:"))
        mean_pause = sum(PAUSE_RANGE_S) / 2
        order: list[int] = []
        seconds = 2 * LEAD_S
        while seconds < target:
            piece = forward if len(order) // max(len(forward), 1) % 2 == 0 else forward[::-1]
            for index in piece:
                order.append(index)
                seconds += durations[index] + mean_pause
                if seconds >= target:
                    break
        return order
    pieces = {"forward": forward, "reversed": forward[::-1]}
    try:
        return [index for piece in plan.split(",") for index in pieces[piece.strip()]]
    except KeyError as err:
        raise ConfigurationError(f"unknown call plan {plan!r}") from err


def build_planned_call(name: str, clips: Sequence[Clip], *, seed: int = 0) -> BuiltCall:
    """One of :data:`CALL_PLANS` built from ``clips`` (the seed varies the pauses only).

    Raises:
        ConfigurationError: a call name not in :data:`CALL_PLANS`.
    """
    if name not in CALL_PLANS:
        raise ConfigurationError(f"unknown built call {name!r}; use {', '.join(CALL_PLANS)}")
    order = plan_order(CALL_PLANS[name], [clip.duration for clip in clips])
    return build_call(name, [clips[i] for i in order], seed=seed)


def level(
    samples: npt.NDArray[np.float32], rate: int, target_rms: float = TARGET_RMS
) -> npt.NDArray[np.float32]:
    """Scale a clip so the RMS of its louder half of 20 ms frames is ``target_rms``.

    Measuring on the louder frames keeps a clip's leading and trailing silence from raising
    its gain; the result is clipped to +-0.99 so mu-law encoding never wraps.
    """
    frame = max(rate // 50, 1)
    usable = len(samples) - len(samples) % frame
    if usable == 0:
        return samples.astype(np.float32)
    energy = np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1)
    loud = np.sort(energy)[len(energy) // 2 :]
    rms = float(np.sqrt(np.mean(loud))) or 1.0
    levelled: npt.NDArray[np.float32] = np.clip(samples * (target_rms / rms), -0.99, 0.99).astype(
        np.float32
    )
    return levelled


def load_clips(manifest: Path, rate: int = PHONE_RATE) -> list[Clip]:
    """Read a manifest's clips as mono at ``rate``, each levelled (:func:`level`).

    Raises:
        ConfigurationError: the manifest or a clip cannot be read.
    """
    import soundfile
    import soxr

    from callscribe.transcribe.evaluate import read_manifest

    clips = []
    for entry in read_manifest(manifest):
        try:
            data, source_rate = soundfile.read(entry.audio, dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as err:
            raise ConfigurationError(f"{entry.audio}: cannot read the clip: {err}") from err
        mono = data.mean(axis=1).astype(np.float32)
        if source_rate != rate:
            mono = np.asarray(soxr.resample(mono, source_rate, rate, quality="HQ"), np.float32)
        clips.append(
            Clip(
                name=entry.audio.stem,
                samples=level(mono, rate),
                rate=rate,
                transcript=entry.transcript,
            )
        )
    return clips


def write_call(call: BuiltCall, path: Path) -> Path:
    """Write the call as a two-channel G.711 mu-law WAV (what hotline recorders write)."""
    import soundfile

    soundfile.write(path, call.samples, call.rate, format="WAV", subtype="ULAW")
    return path
