"""Turn a CTranslate2 Whisper model.bin into an openai-whisper PyTorch checkpoint.

The reference engine must run the very weights faster-whisper runs, so its checkpoint is made
from the packaged model.bin rather than downloaded. CTranslate2's format (``ModelSpec.save``,
binary version 6) is a flat list of named tensors::

    u32 version | str spec name | u32 revision | u32 count
    count x (str name | u8 rank | rank x u32 dim | u8 dtype | u32 nbytes | nbytes of data)
    u32 alias count | alias count x (str alias | str target)

where ``str`` is a u16 length (including a NUL) and the UTF-8 bytes with the NUL, all little
endian, and dtype is CTranslate2's DataType enum (0 float32, 1 int8, 2 int16, 3 int32,
4 float16, 5 bfloat16). CTranslate2 fuses self-attention q/k/v into one ``linear_0`` and
cross-attention k/v into one ``linear_1``; openai-whisper's key projections have no bias
(CTranslate2 stores zeros there, which the converter checks).
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from callscribe.errors import ModelError

__all__ = ["checkpoint_path", "ct2_to_openai_state", "ensure_openai_checkpoint", "read_ct2_model"]

log = logging.getLogger(__name__)

_SUPPORTED_VERSION = 6
_DTYPES: dict[int, Any] = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
}

Array = npt.NDArray[Any]


def _unpack(handle: BinaryIO, fmt: str) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise ModelError(f"{getattr(handle, 'name', 'model.bin')}: file ends too early")
    return struct.unpack(fmt, data)


def _string(handle: BinaryIO) -> str:
    (length,) = _unpack(handle, "<H")
    return handle.read(length)[:-1].decode("utf-8")


def read_ct2_model(path: Path) -> tuple[str, dict[str, Array]]:
    """Read every tensor of a CTranslate2 model.bin (aliases resolved), keyed by its name.

    Raises:
        ModelError: not a model.bin of a version we can read, or a dtype we do not know.
    """
    variables: dict[str, Array] = {}
    with path.open("rb") as handle:
        (version,) = _unpack(handle, "<I")
        if version != _SUPPORTED_VERSION:
            raise ModelError(f"{path}: CTranslate2 binary version {version}, expected 6")
        spec = _string(handle)
        _unpack(handle, "<I")
        (count,) = _unpack(handle, "<I")
        for _ in range(count):
            name = _string(handle)
            (rank,) = _unpack(handle, "<B")
            shape = _unpack(handle, f"<{rank}I") if rank else ()
            (dtype_id, nbytes) = _unpack(handle, "<BI")
            if dtype_id not in _DTYPES:
                raise ModelError(f"{path}: tensor {name} has unsupported dtype id {dtype_id}")
            data = handle.read(nbytes)
            variables[name] = np.frombuffer(data, dtype=_DTYPES[dtype_id]).reshape(shape)
        (aliases,) = _unpack(handle, "<I")
        for _ in range(aliases):
            alias, target = _string(handle), _string(handle)
            variables[alias] = variables[target]
    return spec, variables


def _split(array: Array, parts: int) -> list[Array]:
    return list(np.split(array, parts, axis=0))


def _attention(
    out: dict[str, Array], prefix: str, src: dict[str, Array], ct2: str, *, cross: bool
) -> None:
    def w(name: str) -> Array:
        return src[f"{ct2}/{name}/weight"]

    def b(name: str) -> Array:
        return src[f"{ct2}/{name}/bias"]

    if cross:
        q_w, q_b = w("linear_0"), b("linear_0")
        k_w, v_w = _split(w("linear_1"), 2)
        k_b, v_b = _split(b("linear_1"), 2)
        o_w, o_b = w("linear_2"), b("linear_2")
    else:
        q_w, k_w, v_w = _split(w("linear_0"), 3)
        q_b, k_b, v_b = _split(b("linear_0"), 3)
        o_w, o_b = w("linear_1"), b("linear_1")
    if np.any(k_b != 0):
        raise ModelError(f"{ct2}: key projection has a non-zero bias; openai-whisper has none")
    out.update(
        {
            f"{prefix}.query.weight": q_w,
            f"{prefix}.query.bias": q_b,
            f"{prefix}.key.weight": k_w,
            f"{prefix}.value.weight": v_w,
            f"{prefix}.value.bias": v_b,
            f"{prefix}.out.weight": o_w,
            f"{prefix}.out.bias": o_b,
        }
    )
    ln = f"{ct2}/layer_norm"
    ln_name = prefix.rsplit(".", 1)[0] + (".cross_attn_ln" if cross else ".attn_ln")
    out[f"{ln_name}.weight"], out[f"{ln_name}.bias"] = src[f"{ln}/gamma"], src[f"{ln}/beta"]


def _block(out: dict[str, Array], prefix: str, src: dict[str, Array], ct2: str) -> None:
    _attention(out, f"{prefix}.attn", src, f"{ct2}/self_attention", cross=False)
    if f"{ct2}/attention/linear_0/weight" in src:
        _attention(out, f"{prefix}.cross_attn", src, f"{ct2}/attention", cross=True)
    for i, j in ((0, 0), (1, 2)):
        out[f"{prefix}.mlp.{j}.weight"] = src[f"{ct2}/ffn/linear_{i}/weight"]
        out[f"{prefix}.mlp.{j}.bias"] = src[f"{ct2}/ffn/linear_{i}/bias"]
    out[f"{prefix}.mlp_ln.weight"] = src[f"{ct2}/ffn/layer_norm/gamma"]
    out[f"{prefix}.mlp_ln.bias"] = src[f"{ct2}/ffn/layer_norm/beta"]


def _count_layers(src: dict[str, Array], side: str) -> int:
    layer = re.compile(rf"^{side}/layer_(\d+)/")
    return len({m.group(1) for k in src if (m := layer.match(k))})


def ct2_to_openai_state(src: dict[str, Array]) -> tuple[dict[str, int], dict[str, Array]]:
    """Map CTranslate2 Whisper tensors to openai-whisper's ``dims`` and state dict (float32)."""
    try:
        n_audio_layer, n_text_layer = _count_layers(src, "encoder"), _count_layers(src, "decoder")
        out: dict[str, Array] = {
            "encoder.conv1.weight": src["encoder/conv1/weight"],
            "encoder.conv1.bias": src["encoder/conv1/bias"],
            "encoder.conv2.weight": src["encoder/conv2/weight"],
            "encoder.conv2.bias": src["encoder/conv2/bias"],
            "encoder.positional_embedding": src["encoder/position_encodings/encodings"],
            "encoder.ln_post.weight": src["encoder/layer_norm/gamma"],
            "encoder.ln_post.bias": src["encoder/layer_norm/beta"],
            "decoder.token_embedding.weight": src["decoder/embeddings/weight"],
            "decoder.positional_embedding": src["decoder/position_encodings/encodings"],
            "decoder.ln.weight": src["decoder/layer_norm/gamma"],
            "decoder.ln.bias": src["decoder/layer_norm/beta"],
        }
        for i in range(n_audio_layer):
            _block(out, f"encoder.blocks.{i}", src, f"encoder/layer_{i}")
        for i in range(n_text_layer):
            _block(out, f"decoder.blocks.{i}", src, f"decoder/layer_{i}")
        dims = {
            "n_mels": int(src["encoder/conv1/weight"].shape[1]),
            "n_audio_ctx": int(src["encoder/position_encodings/encodings"].shape[0]),
            "n_audio_state": int(src["encoder/conv1/weight"].shape[0]),
            "n_audio_head": int(src["encoder/num_heads"].item()),
            "n_audio_layer": n_audio_layer,
            "n_vocab": int(src["decoder/embeddings/weight"].shape[0]),
            "n_text_ctx": int(src["decoder/position_encodings/encodings"].shape[0]),
            "n_text_state": int(src["decoder/embeddings/weight"].shape[1]),
            "n_text_head": int(src["decoder/num_heads"].item()),
            "n_text_layer": n_text_layer,
        }
    except KeyError as err:
        raise ModelError(f"not a CTranslate2 Whisper model: tensor {err} missing") from err
    return dims, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def checkpoint_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the converted checkpoint of ``model_dir`` is cached."""
    return cache_dir / f"{model_dir.name}.openai.pt"


def ensure_openai_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """Convert ``model_dir``/model.bin once; reuse the checkpoint while it is newer than model.bin.

    The checkpoint also carries the alignment heads from config.json, for word timestamps.
    """
    import torch

    target = checkpoint_path(model_dir, cache_dir)
    model_bin = model_dir / "model.bin"
    if target.is_file() and target.stat().st_mtime >= model_bin.stat().st_mtime:
        return target
    log.info("converting %s to an openai-whisper checkpoint at %s", model_bin, target)
    spec, tensors = read_ct2_model(model_bin)
    if spec != "WhisperSpec":
        raise ModelError(f"{model_bin}: a {spec} model, not Whisper")
    dims, state = ct2_to_openai_state(tensors)
    heads: list[list[int]] = []
    config = model_dir / "config.json"
    if config.is_file():
        heads = json.loads(config.read_text(encoding="utf-8")).get("alignment_heads", [])
    checkpoint = {
        "dims": dims,
        "model_state_dict": {k: torch.from_numpy(v.copy()) for k, v in state.items()},
        "alignment_heads": heads,
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=".openai.", suffix=".pt")
    os.close(fd)
    try:
        torch.save(checkpoint, tmp_name)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target
