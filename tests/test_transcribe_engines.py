"""The reference engine: converting the packaged model.bin, and agreeing with faster-whisper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callscribe.audio import decode_call_audio
from callscribe.errors import ConfigurationError, ModelError
from callscribe.transcribe.convert import ct2_to_openai_state, read_ct2_model
from callscribe.transcribe.engine import FasterWhisperEngine, TranscribeOptions, resolve_device
from callscribe.transcribe.loader import load_transcriber
from callscribe.transcribe.model import resolve_model_dir
from tests.conftest import SPEECH

GREEDY_FP32 = TranscribeOptions(
    beam_size=1, temperature=(0.0,), initial_prompt=None, vad_filter=False
)
AGREEMENT_CLIPS = ("BAC009S0002W0123.wav", "SSB00050015.wav")


@pytest.fixture(scope="module")
def model_dir(model_cache_dir: Path) -> Path:
    return resolve_model_dir(None, model_cache_dir)


@pytest.mark.model
def test_model_bin_reads_as_named_tensors_with_fused_attention(model_dir: Path) -> None:
    spec, tensors = read_ct2_model(model_dir / "model.bin")
    assert spec == "WhisperSpec"
    fused_qkv = tensors["encoder/layer_0/self_attention/linear_0/weight"]
    fused_kv = tensors["decoder/layer_0/attention/linear_1/weight"]
    assert fused_qkv.shape == (3 * 512, 512) and fused_kv.shape == (2 * 512, 512)
    assert tensors["decoder/projection/weight"] is tensors["decoder/embeddings/weight"]
    dims, state = ct2_to_openai_state(tensors)
    assert dims["n_audio_layer"] == dims["n_text_layer"] == 6
    assert dims["n_vocab"] == 51865
    np.testing.assert_array_equal(
        state["decoder.blocks.0.cross_attn.value.weight"],
        fused_kv[512:].astype(np.float32),
    )
    assert "encoder.blocks.0.attn.key.bias" not in state


def test_a_file_that_is_not_model_bin_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"\x07\x00\x00\x00not a model")
    with pytest.raises(ModelError, match="binary version 7"):
        read_ct2_model(bogus)


@pytest.mark.model
@pytest.mark.reference
def test_converted_state_dict_fits_openai_whisper_exactly(model_dir: Path) -> None:
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    _spec, tensors = read_ct2_model(model_dir / "model.bin")
    dims, state = ct2_to_openai_state(tensors)
    model = Whisper(ModelDimensions(**dims))
    expected = model.state_dict()
    assert set(state) == set(expected)
    for name, value in state.items():
        assert tuple(value.shape) == tuple(expected[name].shape), name
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    assert whisper.tokenizer.get_tokenizer(True).encode("。") == [1543]


@pytest.mark.model
@pytest.mark.reference
def test_both_engines_write_the_same_text_at_float32(
    model_dir: Path, model_cache_dir: Path
) -> None:
    """Same weights, greedy, float32: CTranslate2 and PyTorch must produce identical text."""
    from callscribe.transcribe.convert import ensure_openai_checkpoint
    from callscribe.transcribe.openai_engine import OpenAIWhisperEngine

    checkpoint = ensure_openai_checkpoint(model_dir, model_dir.parent)
    assert checkpoint.parent == model_dir.parent
    reference = OpenAIWhisperEngine(checkpoint, device="cpu", options=GREEDY_FP32)
    assert reference.compute_type == "float32"
    fast = FasterWhisperEngine(model_dir, device="cpu", compute_type="float32", options=GREEDY_FP32)
    for name in AGREEMENT_CLIPS:
        audio = decode_call_audio(SPEECH / name)
        ours, theirs = fast.transcribe(audio), reference.transcribe(audio)
        assert ours.text, name
        assert ours.text == theirs.text, name
        for a, b in zip(ours.segments, theirs.segments, strict=True):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-3)


def test_device_setting_is_honoured() -> None:
    import ctranslate2

    expected = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


@pytest.mark.model
def test_cpu_engine_defaults_to_int8(model_dir: Path) -> None:
    engine = FasterWhisperEngine(model_dir, device="cpu")
    assert (engine.device, engine.compute_type) == ("cpu", "int8")


def test_unknown_engine_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CALLSCRIBE_ENGINE"):
        load_transcriber("kaldi", None, tmp_path)


@pytest.mark.model
@pytest.mark.reference
@pytest.mark.timeout(120)
def test_reference_engine_finishes_a_clip_whose_vad_end_is_past_the_audio(
    model_dir: Path,
) -> None:
    """openai-whisper looped forever on this clip before the clamp (found by `bench`)."""
    from callscribe.transcribe.convert import ensure_openai_checkpoint
    from callscribe.transcribe.openai_engine import OpenAIWhisperEngine

    engine = OpenAIWhisperEngine(
        ensure_openai_checkpoint(model_dir, model_dir.parent),
        options=TranscribeOptions(beam_size=1),
    )
    transcript = engine.transcribe(decode_call_audio(SPEECH / "BAC009S0764W0122.wav"))
    assert "城市" in transcript.text
