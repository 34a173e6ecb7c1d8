"""The encoder equals transformers' PyTorch RemBertModel (fp32, <= 1e-5 max abs).

Each reference model is built from a tiny config with random weights, written with
`save_pretrained` and read back through `rembert_jax.convert.load_pytorch`, so these tests also
pin the checkpoint loading path. Inputs are numpy; both sides see the same arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from hf_reference import hf_model, to_numpy

from rembert_jax.encoder import apply

TOL = 1e-5
B, S = 3, 9


def _load(model, directory):
    from rembert_jax.convert import load_pytorch

    model.save_pretrained(directory)
    return load_pytorch(directory)


@pytest.fixture(scope="module")
def encoder(tiny_config, tmp_path_factory):
    model = hf_model(tiny_config, seed=0)
    config, params = _load(model, tmp_path_factory.mktemp("encoder"))
    return model, config, params


@pytest.fixture(scope="module")
def decoder(tiny_decoder_config, tmp_path_factory):
    model = hf_model(tiny_decoder_config, seed=1)
    config, params = _load(model, tmp_path_factory.mktemp("decoder"))
    return model, config, params


def _torch_run(model, **kwargs):
    import torch

    tensors = {k: (torch.from_numpy(np.asarray(v)) if v is not None else None) for k, v in kwargs.items()
               if k not in ("output_hidden_states", "output_attentions", "use_cache")}
    flags = {k: v for k, v in kwargs.items() if k in ("output_hidden_states", "output_attentions", "use_cache")}
    with torch.no_grad():
        return model(**tensors, **flags)


def _close(ours, theirs, tol=TOL):
    ours, theirs = np.asarray(ours), to_numpy(theirs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol)


def _inputs(config, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, config.vocab_size, (B, S)).astype(np.int64)
    mask = np.ones((B, S), np.int64)
    mask[1, 6:] = 0  # right padding
    mask[2, :2] = 0  # left padding
    types = rng.integers(0, config.type_vocab_size, (B, S)).astype(np.int64)
    return ids, mask, types


def test_every_output_matches_transformers_with_padding_and_token_types(encoder):
    model, config, params = encoder
    ids, mask, types = _inputs(config)
    ref = _torch_run(model, input_ids=ids, attention_mask=mask, token_type_ids=types,
                     output_hidden_states=True, output_attentions=True)
    out = apply(params, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, config=config,
                output_hidden_states=True, output_attentions=True)
    _close(out["last_hidden_state"], ref.last_hidden_state)
    _close(out["pooler_output"], ref.pooler_output)
    assert len(out["hidden_states"]) == config.num_hidden_layers + 1
    for ours, theirs in zip(out["hidden_states"], ref.hidden_states, strict=True):
        _close(ours, theirs)
    assert len(out["attentions"]) == config.num_hidden_layers
    for ours, theirs in zip(out["attentions"], ref.attentions, strict=True):
        _close(ours, theirs)


def test_defaults_are_all_ones_mask_and_zero_token_types(encoder):
    model, config, params = encoder
    ids, _, _ = _inputs(config, seed=1)
    ref = _torch_run(model, input_ids=ids)
    out = apply(params, {"input_ids": ids}, config=config)
    _close(out["last_hidden_state"], ref.last_hidden_state)
    _close(out["pooler_output"], ref.pooler_output)


@pytest.mark.parametrize("batched", [False, True], ids=["positions_1xS", "positions_BxS"])
def test_custom_position_ids_match(encoder, batched):
    model, config, params = encoder
    ids, mask, _ = _inputs(config, seed=2)
    rng = np.random.default_rng(3)
    positions = rng.integers(0, config.max_position_embeddings, (B if batched else 1, S)).astype(np.int64)
    ref = _torch_run(model, input_ids=ids, attention_mask=mask, position_ids=positions)
    out = apply(params, {"input_ids": ids, "attention_mask": mask, "position_ids": positions}, config=config)
    _close(out["last_hidden_state"], ref.last_hidden_state)


def test_inputs_embeds_of_width_input_embedding_size_match(encoder):
    model, config, params = encoder
    _, mask, types = _inputs(config, seed=4)
    embeds = np.random.default_rng(5).normal(size=(B, S, config.input_embedding_size)).astype(np.float32)
    ref = _torch_run(model, inputs_embeds=embeds, attention_mask=mask, token_type_ids=types)
    out = apply(params, {"inputs_embeds": embeds, "attention_mask": mask, "token_type_ids": types}, config=config)
    _close(out["last_hidden_state"], ref.last_hidden_state)
    _close(out["pooler_output"], ref.pooler_output)


def test_3d_mask_matches_and_fully_masked_row_attends_uniformly(encoder):
    model, config, params = encoder
    ids, _, _ = _inputs(config, seed=6)
    mask3 = np.random.default_rng(7).integers(0, 2, (B, S, S)).astype(np.int64)
    mask3[:, :, 0] = 1
    mask3[1, 4, :] = 0  # one query row sees nothing: PyTorch gives it a uniform distribution
    # transformers v5 takes a 3-D mask only as a prepared 4-D additive mask.
    additive = (1.0 - mask3[:, None].astype(np.float32)) * np.finfo(np.float32).min
    ref = _torch_run(model, input_ids=ids, attention_mask=additive, output_attentions=True)
    out = apply(params, {"input_ids": ids, "attention_mask": mask3}, config=config, output_attentions=True)
    _close(out["last_hidden_state"], ref.last_hidden_state)
    for ours, theirs in zip(out["attentions"], ref.attentions, strict=True):
        _close(ours, theirs)
    np.testing.assert_allclose(np.asarray(out["attentions"][0])[1, :, 4], 1.0 / S, rtol=1e-6)


def test_model_without_pooler_returns_none(tiny_config, tmp_path):
    model = hf_model(tiny_config, seed=8, add_pooling_layer=False)
    config, params = _load(model, tmp_path)
    assert "pooler" not in params
    ids, mask, _ = _inputs(config, seed=8)
    ref = _torch_run(model, input_ids=ids, attention_mask=mask)
    out = apply(params, {"input_ids": ids, "attention_mask": mask}, config=config)
    assert out["pooler_output"] is None and ref.pooler_output is None
    _close(out["last_hidden_state"], ref.last_hidden_state)


def _encoder_states(config, batch=B, length=5, seed=10):
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(batch, length, config.hidden_size)).astype(np.float32)
    mask = np.ones((batch, length), np.int64)
    mask[0, 3:] = 0
    return states, mask


def test_decoder_with_cross_attention_and_encoder_mask_matches(decoder):
    model, config, params = decoder
    ids, mask, types = _inputs(config, seed=9)
    states, enc_mask = _encoder_states(config)
    ref = _torch_run(model, input_ids=ids, attention_mask=mask, token_type_ids=types, encoder_hidden_states=states,
                     encoder_attention_mask=enc_mask, output_hidden_states=True, output_attentions=True,
                     use_cache=False)
    out = apply(params, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, config=config,
                encoder_hidden_states=states, encoder_attention_mask=enc_mask, output_hidden_states=True,
                output_attentions=True)
    _close(out["last_hidden_state"], ref.last_hidden_state)
    _close(out["pooler_output"], ref.pooler_output)
    for ours, theirs in zip(out["hidden_states"], ref.hidden_states, strict=True):
        _close(ours, theirs)
    for ours, theirs in zip(out["attentions"], ref.attentions, strict=True):
        _close(ours, theirs)  # causal & padding
    for ours, theirs in zip(out["cross_attentions"], ref.cross_attentions, strict=True):
        _close(ours, theirs)


def test_decoder_without_encoder_states_is_causal_self_attention_only(decoder):
    model, config, params = decoder
    ids, mask, _ = _inputs(config, seed=11)
    ref = _torch_run(model, input_ids=ids, attention_mask=mask, use_cache=False)
    out = apply(params, {"input_ids": ids, "attention_mask": mask}, config=config)
    _close(out["last_hidden_state"], ref.last_hidden_state)


def test_decoder_uses_a_3d_mask_as_given_like_a_prepared_transformers_mask(decoder):
    model, config, params = decoder
    ids, _, _ = _inputs(config, seed=12)
    mask3 = np.tril(np.ones((S, S), np.int64))[None].repeat(B, 0)
    mask3[0, :, 3] = 0  # causal plus a hole: the caller's mask is the whole story
    additive = (1.0 - mask3[:, None].astype(np.float32)) * np.finfo(np.float32).min
    ref = _torch_run(model, input_ids=ids, attention_mask=additive, use_cache=False)
    out = apply(params, {"input_ids": ids, "attention_mask": mask3}, config=config)
    _close(out["last_hidden_state"], ref.last_hidden_state)
