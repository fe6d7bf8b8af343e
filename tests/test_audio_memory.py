"""Decoding a long call costs its 16 kHz output and a small working set, never the source whole.

The stated budget (docs/benchmarks.md, "Decoding memory"): peak resident memory while decoding
stays under ``channels x seconds x 16000 x 4`` bytes (the float32 arrays the call is returned
as) plus :data:`WORKING_SET_BUDGET`. Each figure is the peak resident set size of a fresh
interpreter that decodes one file (VmHWM, reset once the decoder is imported), less its
resident size at that point (ru_maxrss would not do: after exec, a child keeps the peak of the
process it was forked from). Before decoding in pieces, the 30-minute 48 kHz stereo FLAC below
took 1319 MiB for 220 MiB of output.

The pieces must not change the audio: every fixture format decodes sample for sample as the
whole file read at once and resampled in one soxr call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
import soxr

from callscribe import defaults
from callscribe.audio import decode as decode_module
from callscribe.audio.decode import decode_call_audio, resample_to_16k
from callscribe.audio.sniff import RawFormat
from tests.conftest import CALLS, ROOT

MIB = 1 << 20
WORKING_SET_BUDGET = 32 * MIB
"""What decoding may take beyond its output arrays, whatever the length or source format."""

FORMATS = CALLS / "formats"

_CHILD = """
import json, sys, time
from pathlib import Path
def vm(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
if len(sys.argv) > 3:
    import importlib.util
    spec = importlib.util.spec_from_file_location("decode_under_test", sys.argv[3])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    decode_call_audio = module.decode_call_audio
else:
    from callscribe.audio.decode import decode_call_audio
from callscribe.errors import AudioRejectedError
Path("/proc/self/clear_refs").write_text("5")
baseline = vm("VmHWM")
started = time.perf_counter()
try:
    audio = decode_call_audio(Path(sys.argv[1]), max_seconds=float(sys.argv[2]))
    result = {"seconds": audio.duration, "channels": len(audio.channels),
              "output_bytes": sum(c.nbytes for c in audio.channels), "rejected": None}
except AudioRejectedError as err:
    result = {"rejected": str(err)}
result["wall_seconds"] = time.perf_counter() - started
result["baseline_bytes"] = baseline
result["peak_bytes"] = vm("VmHWM")
print(json.dumps(result))
"""


def measure_decode(
    path: Path, *, max_seconds: float = defaults.MAX_CALL_SECONDS, decoder: Path | None = None
) -> dict[str, object]:
    """Decode ``path`` in a fresh interpreter; its peak RSS over the post-import baseline.

    Args:
        path: the recording.
        max_seconds: passed to ``decode_call_audio``.
        decoder: a decode.py to load instead of the installed one (the benchmark uses this to
            measure an older version).

    Returns:
        ``seconds``, ``channels`` and ``output_bytes`` of the decoded call (or ``rejected``,
        the refusal's message), ``wall_seconds`` (decoding alone), ``baseline_bytes``,
        ``peak_bytes`` and ``over_baseline``.
    """
    command = [sys.executable, "-c", _CHILD, str(path), repr(max_seconds)]
    if decoder is not None:
        command.append(str(decoder))
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["over_baseline"] = int(str(result["peak_bytes"])) - int(str(result["baseline_bytes"]))
    return result


def write_long_call(
    path: Path, seconds: int, rate: int, *, format: str, subtype: str, channels: int = 2
) -> Path:
    """A quiet two-tone call (a different tone per party), written a second at a time."""
    t = np.arange(rate) / rate
    parties = [0.03 * np.sin(2 * np.pi * 400 * t), 0.02 * np.sin(2 * np.pi * 300 * t + 1.0)]
    second = np.stack(parties[:channels], axis=1).astype(np.float32)
    with soundfile.SoundFile(path, "w", rate, channels, subtype=subtype, format=format) as sink:
        for _ in range(seconds):
            sink.write(second)
    return path


def forget_flac_length(path: Path) -> Path:
    """Zero the STREAMINFO sample count, as a live encoder that cannot seek back leaves it."""
    with path.open("r+b") as handle:
        head = bytearray(handle.read(26))
        assert head[:4] == b"fLaC" and head[4] & 0x7F == 0, "STREAMINFO comes first"
        head[21] &= 0xF0
        head[22:26] = bytes(4)
        handle.seek(0)
        handle.write(head)
    return path


def _output_bytes(seconds: float, channels: int) -> int:
    return int(channels * seconds * defaults.SAMPLE_RATE * 4)


def _assert_within_budget(result: dict[str, object], seconds: float, channels: int) -> None:
    output = _output_bytes(seconds, channels)
    over = int(str(result["over_baseline"]))
    assert over <= output + WORKING_SET_BUDGET, (
        f"decoding took {over / MIB:.0f} MiB over the baseline, the budget is "
        f"{output / MIB:.0f} MiB of output + {WORKING_SET_BUDGET / MIB:.0f} MiB"
    )


def test_thirty_minutes_of_48k_stereo_flac_costs_its_output_and_no_more(tmp_path: Path) -> None:
    path = write_long_call(tmp_path / "call.flac", 1800, 48_000, format="FLAC", subtype="PCM_16")
    result = measure_decode(path)
    assert result["rejected"] is None, result["rejected"]
    assert result["seconds"] == 1800.0 and result["channels"] == 2
    assert result["output_bytes"] == _output_bytes(1800, 2)
    _assert_within_budget(result, 1800, 2)


def test_the_two_hour_limit_in_8k_stereo_mulaw_fits_the_budget(tmp_path: Path) -> None:
    seconds = defaults.MAX_CALL_SECONDS
    path = write_long_call(tmp_path / "call.wav", seconds, 8_000, format="WAV", subtype="ULAW")
    result = measure_decode(path)
    assert result["rejected"] is None, result["rejected"]
    assert result["seconds"] == seconds and result["channels"] == 2
    _assert_within_budget(result, seconds, 2)


def test_a_flac_that_does_not_state_its_length_is_decoded_within_the_budget(
    tmp_path: Path,
) -> None:
    path = write_long_call(tmp_path / "live.flac", 600, 48_000, format="FLAC", subtype="PCM_16")
    forget_flac_length(path)
    assert soundfile.info(str(path)).frames == 2**63 - 1
    result = measure_decode(path)
    assert result["rejected"] is None, result["rejected"]
    assert result["seconds"] == 600.0 and result["channels"] == 2
    _assert_within_budget(result, 600, 2)


def test_a_call_past_the_limit_is_stopped_before_it_takes_more_memory(tmp_path: Path) -> None:
    path = write_long_call(tmp_path / "live.flac", 900, 48_000, format="FLAC", subtype="PCM_16")
    forget_flac_length(path)
    result = measure_decode(path, max_seconds=60)
    assert "over the 60 s maximum" in str(result["rejected"])
    _assert_within_budget(result, 60, 2)


def _whole_file_16k(path: Path, *, raw: RawFormat | None, with_av: bool) -> list[np.ndarray]:
    """The call read whole and resampled in one soxr call: the decoder before pieces."""
    if raw is not None:
        samples, rate = soundfile.read(
            str(path),
            format="RAW",
            subtype=raw.subtype,
            samplerate=raw.sample_rate,
            channels=raw.channels,
            dtype="float32",
            always_2d=True,
        )
    elif with_av:
        samples, rate = _whole_file_with_av(path)
    else:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    samples = samples[:, :2]
    if samples.shape[1] == 2 and np.array_equal(samples[:, 0], samples[:, 1]):
        samples = samples[:, :1]
    resampled = resample_to_16k(samples, int(rate))
    return [resampled[:, i] for i in range(resampled.shape[1])]


def _whole_file_with_av(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        layout = "stereo" if stream.codec_context.channels >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        planes = [o.to_ndarray() for f in container.decode(stream) for o in resampler.resample(f)]
        planes += [o.to_ndarray() for o in resampler.resample(None)]
    return np.ascontiguousarray(np.concatenate(planes, axis=1).T, dtype=np.float32), rate


def _calls_to_compare(tmp: Path) -> list[Path]:
    """Every fixture format, and stereo calls at 48, 16 and 8 kHz in the shapes recorders make."""
    stereo, rate = soundfile.read(CALLS / "call_stereo8k_mulaw.wav", dtype="float32")
    at_48k = soxr.resample(stereo, rate, 48_000, quality="HQ")
    made = {
        "stereo48k.flac": (at_48k, 48_000, "PCM_24"),
        "stereo16k.wav": (resample_to_16k(stereo, rate), 16_000, "PCM_16"),
        "dual_mono.wav": (np.stack([stereo[:, 0]] * 2, axis=1), rate, "PCM_16"),
        "four_channels.wav": (np.concatenate([stereo, stereo[:, ::-1]], axis=1), rate, "FLOAT"),
        "live48k.flac": (at_48k, 48_000, "PCM_16"),
    }
    paths = [p for p in sorted(FORMATS.iterdir()) if p.suffix != ".json"]
    paths += [CALLS / "call_stereo8k_mulaw.wav", CALLS / "call_mono16k.flac"]
    for name, (samples, sample_rate, subtype) in made.items():
        soundfile.write(tmp / name, samples, sample_rate, subtype=subtype)
        paths.append(tmp / name)
    forget_flac_length(tmp / "live48k.flac")
    soundfile.write(tmp / "stereo.alaw", stereo, rate, format="RAW", subtype="ALAW")
    sidecar = {"encoding": "alaw", "sample_rate": rate, "channels": 2}
    (tmp / "stereo.json").write_text(json.dumps(sidecar))
    return [*paths, tmp / "stereo.alaw"]


@pytest.mark.parametrize("piece_frames", [decode_module.PIECE_FRAMES, 999])
def test_pieces_decode_sample_for_sample_as_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece_frames: int
) -> None:
    monkeypatch.setattr(decode_module, "PIECE_FRAMES", piece_frames)
    differ = []
    for path in _calls_to_compare(tmp_path):
        sidecar = path.with_suffix(".json")
        metadata = json.loads(sidecar.read_text()) if sidecar.exists() else None
        raw = RawFormat.from_metadata(metadata) if metadata else None
        with_av = path.suffix not in (".wav", ".flac") or path.name == "live48k.flac"
        expected = _whole_file_16k(path, raw=raw, with_av=with_av)
        decoded = decode_call_audio(path, metadata=metadata)
        same = len(decoded.channels) == len(expected) and all(
            c.dtype == np.float32 and c.flags.c_contiguous and np.array_equal(c, e)
            for c, e in zip(decoded.channels, expected, strict=False)
        )
        if not same:
            differ.append(path.name)
    assert not differ, f"decoded in pieces, these differ from the whole file: {differ}"
