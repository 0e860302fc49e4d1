import numpy as np
import pytest

from pipeline import models


def test_bundled_model_is_joined_and_verified():
    d = models.bundled_ct2_dir()
    assert models.sha256_file(d / "model.bin") == models.BUNDLED_SHA256
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (d / name).exists()


def test_resolve_default_and_errors(tmp_path):
    assert models.resolve(None).sha256 == models.BUNDLED_SHA256
    assert models.resolve("large-v3").ct2_dir is None
    with pytest.raises(models.ModelError, match="no CTranslate2 model.bin"):
        models.resolve(str(tmp_path))


@pytest.fixture(scope="module")
def ct2_vars():
    return models.read_ct2_variables(models.bundled_ct2_dir() / "model.bin")


def test_conversion_is_exact(ct2_vars):
    dims, sd = models.ct2_to_openai_state(ct2_vars)
    assert dims == {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512, "n_audio_head": 8,
                    "n_audio_layer": 6, "n_vocab": 51865, "n_text_ctx": 448,
                    "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6}
    fused = ct2_vars["encoder/layer_0/self_attention/linear_0/weight"]
    np.testing.assert_array_equal(sd["encoder.blocks.0.attn.key.weight"], fused[512:1024])
    bias = ct2_vars["decoder/layer_3/self_attention/linear_0/bias"]
    assert not np.any(bias[512:1024]), "key bias must be zero to drop it"
    kv = ct2_vars["decoder/layer_2/attention/linear_1/weight"]
    np.testing.assert_array_equal(sd["decoder.blocks.2.cross_attn.value.weight"], kv[512:])


def test_openai_checkpoint_loads_strictly():
    import torch
    import whisper

    ckpt = torch.load(models.openai_checkpoint(models.bundled_ct2_dir()), weights_only=False)
    m = whisper.Whisper(whisper.ModelDimensions(**ckpt["dims"]))
    m.load_state_dict(ckpt["model_state_dict"], strict=True)
    assert len(ckpt["alignment_heads"]) == 8
