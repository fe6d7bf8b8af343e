"""Build the sample calls in fixtures/calls/ from the real clips in fixtures/speech/.

Run from the repository root: python scripts/make_fixtures.py. The output is committed; this
script documents how it was made and rebuilds it: the integer PCM and G.711 files bit for bit;
the float WAV differs in its PEAK chunk's timestamp, the Ogg file in its random stream serial,
and lossy encoders may differ between FFmpeg versions.

Made here:

* ``sample_call_mono16k.wav``: the walking skeleton's mono call.
* ``call_stereo8k_mulaw.wav``: the main intake fixture, a hotline recorder's file: 8 kHz G.711
  mu-law, agent on the left channel, caller on the right, eight turns with short gaps, two
  overlaps and one quick reply. ``call_mono16k.flac`` is the same call mixed to one 16 kHz channel
  (the benchmark's comparison).
* ``formats/``: one short turn in every format the intake accepts (WAV PCM 8/16/24/32-bit and
  float, WAV mu-law and A-law, raw G.711 with a sidecar, MP3, AMR-NB, AMR-WB, M4A/AAC,
  OGG/Opus, FLAC). AMR-WB needs Debian's ``libvo-amrwbenc0`` (FFmpeg has no AMR-WB encoder);
  without it that one file is kept as it is.

Each audio file has a ``NAME.reference.json`` beside it with the text (and turns) it holds.
"""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import json
from pathlib import Path

import av
import numpy as np
import soundfile
import soxr
from faster_whisper.vad import VadOptions, get_speech_timestamps

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "fixtures" / "speech"
CALLS = ROOT / "fixtures" / "calls"
FORMATS = CALLS / "formats"
RATE = 16_000
PHONE_RATE = 8_000
GAP_S = 0.6
TARGET_RMS = 0.08
"""Telephone systems level each party (AGC); the clips range from whispers to shouts."""

# Alternating turns of a "call": (clip, speaker).
SAMPLE_CALL = [
    ("BAC009S0764W0121", "agent"),
    ("SSB00050015", "caller"),
    ("BAC009S0724W0121", "agent"),
    ("BAC009S0002W0123", "caller"),
]

# The stereo call: (clip, speaker, seconds from the end of the previous turn's speech to the
# start of this one; negative is an overlap).
STEREO_CALL = [
    ("BAC009S0764W0121", "agent", 0.5),
    ("SSB00050015", "caller", 0.4),
    ("BAC009S0724W0121", "agent", -0.3),
    ("BAC009S0002W0123", "caller", 0.25),
    ("BAC009S0764W0122", "agent", 0.7),
    ("cv_zh_19588558", "caller", 0.2),
    ("cv_zh_22070948", "agent", -0.4),
    ("BAC009S0002W0122", "caller", 0.5),
]

FORMAT_CLIP = "BAC009S0764W0121"


def load_manifest() -> dict[str, str]:
    with (SPEECH / "manifest.tsv").open(encoding="utf-8") as handle:
        return {
            row["file"].removesuffix(".wav"): row["transcript"]
            for row in csv.DictReader(handle, delimiter="\t")
        }


def read_clip(name: str) -> np.ndarray:
    data, rate = soundfile.read(SPEECH / f"{name}.wav", dtype="float32")
    assert rate == RATE, name
    return data


def speech_only(clip: np.ndarray, pad_s: float = 0.1) -> np.ndarray:
    """The clip from its first to its last speech (Silero VAD), levelled to TARGET_RMS."""
    spans = get_speech_timestamps(clip, VadOptions(min_silence_duration_ms=300, speech_pad_ms=0))
    pad = int(pad_s * RATE)
    start = max(0, spans[0]["start"] - pad) if spans else 0
    end = min(len(clip), spans[-1]["end"] + pad) if spans else len(clip)
    part = clip[start:end]
    rms = float(np.sqrt(np.mean(part**2))) or 1.0
    return np.clip(part * (TARGET_RMS / rms), -0.99, 0.99).astype(np.float32)


def build_mono_call(
    turns: list[tuple[str, str]], manifest: dict[str, str]
) -> tuple[np.ndarray, list[dict]]:
    gap = np.zeros(int(GAP_S * RATE), dtype=np.float32)
    parts: list[np.ndarray] = [gap]
    reference = []
    t = GAP_S
    for name, speaker in turns:
        clip = read_clip(name)
        reference.append(
            {
                "start": round(t, 3),
                "end": round(t + len(clip) / RATE, 3),
                "speaker": speaker,
                "text": manifest[name],
            }
        )
        parts += [clip, gap]
        t += len(clip) / RATE + GAP_S
    return np.concatenate(parts), reference


def build_stereo_call(manifest: dict[str, str]) -> tuple[np.ndarray, list[dict]]:
    """(samples x 2 at 16 kHz, agent left / caller right; reference turns)."""
    placed: list[tuple[int, np.ndarray, str, str]] = []
    cursor = 0
    for name, speaker, gap_s in STEREO_CALL:
        clip = speech_only(read_clip(name))
        start = max(0, cursor + int(gap_s * RATE))
        placed.append((start, clip, speaker, name))
        cursor = start + len(clip)
    total = max(start + len(clip) for start, clip, _, _ in placed) + int(0.5 * RATE)
    stereo = np.zeros((total, 2), dtype=np.float32)
    reference = []
    for start, clip, speaker, name in placed:
        stereo[start : start + len(clip), 0 if speaker == "agent" else 1] += clip
        reference.append(
            {
                "start": round(start / RATE, 3),
                "end": round((start + len(clip)) / RATE, 3),
                "speaker": speaker,
                "text": manifest[name],
            }
        )
    return stereo, reference


def to_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    return np.asarray(soxr.resample(samples, RATE, rate, quality="VHQ"), dtype=np.float32)


def write_reference(audio: Path, turns: list[dict], **extra: object) -> None:
    path = audio.with_name(audio.name.split(".")[0] + ".reference.json")
    body = {"text": "".join(t["text"] for t in turns), "turns": turns, **extra}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def encode_with_av(
    path: Path, samples: np.ndarray, rate: int, codec: str, container: str, bit_rate: int
) -> None:
    """Encode mono float samples with PyAV's bundled FFmpeg."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :]
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def encode_amr_wb(path: Path, samples16k: np.ndarray) -> bool:
    """AMR-WB storage format (RFC 4867 section 5) through Debian's libvo-amrwbenc."""
    name = ctypes.util.find_library("vo-amrwbenc") or "libvo-amrwbenc.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return False
    lib.E_IF_init.restype = ctypes.c_void_p
    lib.E_IF_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_short),
        ctypes.POINTER(ctypes.c_ubyte),
        ctypes.c_int,
    ]
    lib.E_IF_exit.argtypes = [ctypes.c_void_p]
    state = lib.E_IF_init()
    pcm = (np.clip(samples16k, -1, 1) * 32767).astype(np.int16)
    pcm = np.concatenate([pcm, np.zeros(-len(pcm) % 320, dtype=np.int16)])
    out = bytearray(b"#!AMR-WB\n")
    buf = (ctypes.c_ubyte * 64)()
    mode = 8  # 23.85 kbit/s
    for i in range(0, len(pcm), 320):
        frame = np.ascontiguousarray(pcm[i : i + 320])
        size = lib.E_IF_encode(
            state, mode, frame.ctypes.data_as(ctypes.POINTER(ctypes.c_short)), buf, 0
        )
        out += bytes(buf[:size])
    lib.E_IF_exit(state)
    path.write_bytes(bytes(out))
    return True


def build_formats(manifest: dict[str, str]) -> None:
    FORMATS.mkdir(parents=True, exist_ok=True)
    clip = speech_only(read_clip(FORMAT_CLIP))
    phone = to_rate(clip, PHONE_RATE)
    turn = [
        {
            "start": 0.0,
            "end": round(len(clip) / RATE, 3),
            "speaker": None,
            "text": manifest[FORMAT_CLIP],
        }
    ]

    def made(path: Path, **extra: object) -> None:
        write_reference(path, turn, source=f"fixtures/speech/{FORMAT_CLIP}.wav", **extra)

    for subtype, label in [
        ("PCM_U8", "pcm8"),
        ("PCM_16", "pcm16"),
        ("PCM_24", "pcm24"),
        ("PCM_32", "pcm32"),
        ("FLOAT", "float32"),
        ("ULAW", "mulaw"),
        ("ALAW", "alaw"),
    ]:
        path = FORMATS / f"turn_{label}_8k.wav"
        soundfile.write(path, phone, PHONE_RATE, subtype=subtype)
        made(path)
    for subtype, suffix, label in [("ULAW", "ulaw", "g711u"), ("ALAW", "alaw", "g711a")]:
        path = FORMATS / f"turn_{label}_8k.{suffix}"
        soundfile.write(path, phone, PHONE_RATE, format="RAW", subtype=subtype)
        sidecar = {"sample_rate": PHONE_RATE, "encoding": suffix, "channels": 1}
        path.with_suffix(".json").write_text(json.dumps(sidecar) + "\n", encoding="utf-8")
        made(path)
    flac = FORMATS / "turn_flac_8k.flac"
    soundfile.write(flac, phone, PHONE_RATE, subtype="PCM_16")
    made(flac)
    encode_with_av(FORMATS / "turn_mp3_8k.mp3", phone, PHONE_RATE, "libmp3lame", "mp3", 16_000)
    made(FORMATS / "turn_mp3_8k.mp3")
    encode_with_av(
        FORMATS / "turn_amr_8k.amr", phone, PHONE_RATE, "libopencore_amrnb", "amr", 12_200
    )
    made(FORMATS / "turn_amr_8k.amr")
    encode_with_av(FORMATS / "turn_m4a_8k.m4a", phone, PHONE_RATE, "aac", "ipod", 24_000)
    made(FORMATS / "turn_m4a_8k.m4a")
    encode_with_av(FORMATS / "turn_opus_8k.opus", phone, PHONE_RATE, "libopus", "ogg", 16_000)
    made(FORMATS / "turn_opus_8k.opus")
    if encode_amr_wb(FORMATS / "turn_amrwb_16k.awb", clip):
        made(FORMATS / "turn_amrwb_16k.awb")


def main() -> None:
    manifest = load_manifest()
    CALLS.mkdir(parents=True, exist_ok=True)
    audio, reference = build_mono_call(SAMPLE_CALL, manifest)
    soundfile.write(CALLS / "sample_call_mono16k.wav", audio, RATE, subtype="PCM_16")
    write_reference(CALLS / "sample_call_mono16k.wav", reference)

    stereo, turns = build_stereo_call(manifest)
    phone = np.stack([to_rate(stereo[:, 0], PHONE_RATE), to_rate(stereo[:, 1], PHONE_RATE)], 1)
    main_call = CALLS / "call_stereo8k_mulaw.wav"
    soundfile.write(main_call, phone, PHONE_RATE, subtype="ULAW")
    write_reference(main_call, turns, channels={"left": "agent", "right": "caller"})
    mixed = np.clip(stereo.sum(axis=1), -1, 1)
    mono = CALLS / "call_mono16k.flac"
    soundfile.write(mono, mixed, RATE, subtype="PCM_16")
    write_reference(mono, [{**t, "speaker": None} for t in turns])
    build_formats(manifest)


if __name__ == "__main__":
    main()
