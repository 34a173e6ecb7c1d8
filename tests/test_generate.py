"""`generate` for the causal LM against transformers' `RemBertForCausalLM.generate` on the same
weights: greedy tokens and per-step logits with left-padded prompts, EOS stopping, cached decoding
equal to uncached, the sampling warpers against transformers' own, and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from rembert_jax.heads import TaskModel, generate
from rembert_jax.heads.generate import _generate
from rembert_jax.heads.sampling import apply_temperature, apply_top_k, apply_top_p, next_token
from tests.hf_reference import hf_model, to_numpy

NEW = 8  # max_new_tokens
PAD = 0
PROMPTS = np.array([[0, 0, 5, 6, 7], [3, 4, 5, 6, 7], [0, 9, 10, 11, 12]])  # 0 = left padding
MASK = (PROMPTS != PAD).astype(np.int64)


def _decoder(config, tmp_path_factory):
    """transformers' tiny RemBertForCausalLM with weights scaled up (at init scale every step
    predicts the same token, which would make the comparison weak) and our model on its checkpoint."""
    import torch

    from rembert_jax.convert import load_pytorch

    torch_model = hf_model(config, "causal_lm")
    with torch.no_grad():
        for name, p in torch_model.named_parameters():
            if name.endswith("weight") and "LayerNorm" not in name:
                p.mul_(8)
    torch_model.generation_config.eos_token_id = None
    directory = tmp_path_factory.mktemp("causal_lm")
    torch_model.save_pretrained(directory)
    _, params = load_pytorch(directory, task="causal_lm")
    return torch_model, TaskModel(config, "causal_lm"), params


@pytest.fixture(scope="module")
def decoder(tiny_config, tmp_path_factory):
    return _decoder(tiny_config.replace(is_decoder=True), tmp_path_factory)


def hf_generate(torch_model, eos, **kwargs):
    import torch

    out = torch_model.generate(input_ids=torch.tensor(PROMPTS), attention_mask=torch.tensor(MASK),
                               max_new_tokens=NEW, do_sample=False, pad_token_id=PAD, eos_token_id=eos,
                               output_logits=True, return_dict_in_generate=True, **kwargs)
    return to_numpy(out.sequences), np.stack([to_numpy(x) for x in out.logits], axis=1)  # [B, steps, V]


@pytest.fixture(scope="module")
def greedy(decoder):
    """transformers' greedy run without EOS; ours with an EOS that the second row emits at step 1."""
    torch_model, model, params = decoder
    free, _ = hf_generate(torch_model, None)
    eos = int(free[1, PROMPTS.shape[1] + 1])
    expected, expected_logits = hf_generate(torch_model, eos)
    tokens, logits = generate(model, params, PROMPTS, MASK, max_new_tokens=NEW, eos_token_id=eos,
                              pad_token_id=PAD, return_logits=True)
    return eos, expected, expected_logits, np.asarray(tokens), np.asarray(logits), free


def test_greedy_tokens_match_transformers_generate(greedy):
    eos, expected, _, tokens, _, _ = greedy
    assert (expected[:, PROMPTS.shape[1]:] == eos).any()  # EOS stopping really happens
    assert tokens.shape == (3, PROMPTS.shape[1] + NEW)
    np.testing.assert_array_equal(tokens[:, : expected.shape[1]], expected)
    assert (tokens[:, expected.shape[1]:] == PAD).all()


def test_step_logits_match_transformers_output_logits(greedy):
    _, _, expected_logits, _, logits, _ = greedy
    steps = expected_logits.shape[1]
    np.testing.assert_allclose(logits[:, :steps], expected_logits, rtol=0, atol=1e-5)
    assert (logits[:, steps:] == 0).all()


def test_generation_stops_when_every_row_emitted_eos(decoder, greedy):
    torch_model, model, params = decoder
    free = greedy[-1]
    S = PROMPTS.shape[1]
    eos = sorted({int(free[0, S]), int(free[1, S + 1]), int(free[2, S + 1])})  # all rows done by step 1
    expected, _ = hf_generate(torch_model, eos)
    assert expected.shape[1] < S + NEW  # transformers stopped early
    tokens = np.asarray(generate(model, params, PROMPTS, MASK, max_new_tokens=NEW, eos_token_id=eos,
                                 pad_token_id=PAD))
    np.testing.assert_array_equal(tokens[:, : expected.shape[1]], expected)
    assert (tokens[:, expected.shape[1]:] == PAD).all()


def test_a_numpy_integer_eos_id_works_like_an_int(decoder, greedy):
    _, model, params = decoder
    eos = int(greedy[-1][0, PROMPTS.shape[1]])  # row 0's first new token
    kwargs = {"max_new_tokens": NEW, "pad_token_id": PAD}
    as_int = generate(model, params, PROMPTS, MASK, eos_token_id=eos, **kwargs)
    as_numpy = generate(model, params, PROMPTS, MASK, eos_token_id=np.int64(eos), **kwargs)
    np.testing.assert_array_equal(as_numpy, as_int)


def test_cached_decoding_equals_uncached(decoder, greedy):
    _, model, params = decoder
    eos, _, _, tokens, logits, _ = greedy
    uncached, uncached_logits = generate(model, params, PROMPTS, MASK, max_new_tokens=NEW, eos_token_id=eos,
                                         pad_token_id=PAD, return_logits=True, use_cache=False)
    np.testing.assert_array_equal(np.asarray(uncached), tokens)
    np.testing.assert_allclose(np.asarray(uncached_logits), logits, rtol=0, atol=1e-5)


def test_generate_is_traced_once_for_prompts_of_one_shape(decoder, greedy):
    _, model, params = decoder
    eos = greedy[0]
    before = _generate._cache_size()
    other = np.where(MASK == 1, (PROMPTS + 20) % 99, PAD)
    generate(model, params, other, MASK, max_new_tokens=NEW, eos_token_id=eos, pad_token_id=PAD, return_logits=True)
    assert _generate._cache_size() == before


def test_new_sampling_values_reuse_the_compiled_program(tiny_config):
    """temperature / top_k / top_p are traced: one compile serves every setting, and each setting
    still takes effect (top_k=1 samples the greedy tokens)."""
    import jax

    model = TaskModel(tiny_config.replace(is_decoder=True), "causal_lm")
    params = model.init(jax.random.key(0))
    kwargs = {"max_new_tokens": 4, "eos_token_id": (), "pad_token_id": PAD, "rng": jax.random.key(1)}
    greedy_tokens = np.asarray(generate(model, params, PROMPTS, MASK, **kwargs))
    generate(model, params, PROMPTS, MASK, do_sample=True, temperature=0.7, top_k=5, top_p=0.9, **kwargs)
    compiled = _generate._cache_size()
    for temperature, top_k, top_p in [(1.3, 0, 1.0), (0.5, 2, 0.5), (2.0, 50, 1.0), (1.0, 0, 0.01)]:
        generate(model, params, PROMPTS, MASK, do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p,
                 **kwargs)
    top1 = generate(model, params, PROMPTS, MASK, do_sample=True, temperature=3.0, top_k=1, **kwargs)
    assert _generate._cache_size() == compiled
    np.testing.assert_array_equal(np.asarray(top1), greedy_tokens)


def test_missing_attention_mask_is_inferred_from_padding_like_transformers(decoder, greedy):
    _, model, params = decoder
    eos, _, _, tokens, _, _ = greedy
    inferred = generate(model, params, PROMPTS, max_new_tokens=NEW, eos_token_id=eos, pad_token_id=PAD,
                        return_logits=True)[0]  # same settings as `greedy`: no new compile
    np.testing.assert_array_equal(np.asarray(inferred), tokens)


def test_sampling_with_top_k_1_is_greedy_and_sampling_follows_the_rng(decoder, greedy):
    import jax

    _, model, params = decoder
    kwargs = {"max_new_tokens": NEW, "eos_token_id": (), "pad_token_id": PAD}
    top1 = generate(model, params, PROMPTS, MASK, do_sample=True, top_k=1, rng=jax.random.key(3), **kwargs)
    np.testing.assert_array_equal(np.asarray(top1), greedy[-1])  # transformers' greedy run without EOS

    def sample(seed):
        return np.asarray(generate(model, params, PROMPTS, MASK, do_sample=True, temperature=3.0, top_p=0.95,
                                   rng=jax.random.key(seed), **kwargs))

    first = sample(0)
    np.testing.assert_array_equal(sample(0), first)
    assert not np.array_equal(sample(1), first)
    np.testing.assert_array_equal(first[:, : PROMPTS.shape[1]], PROMPTS)


def test_cross_attention_decoding_matches_transformers_uncached_generate(tiny_decoder_config, tmp_path_factory):
    """With `encoder_hidden_states`, transformers 5.24's cached `generate` is broken for RemBERT
    (with an `encoder_attention_mask` it raises a shape error; without one it diverges from its own
    forward after the first step; RemBERT's generation tests are disabled upstream), so the
    reference is its `generate(use_cache=False)`, which re-runs the forward on the whole sequence."""
    import torch

    torch_model, model, params = _decoder(tiny_decoder_config, tmp_path_factory)
    states = np.random.default_rng(0).normal(size=(3, 4, tiny_decoder_config.hidden_size)).astype(np.float32)
    states_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])  # [B, Senc]
    steps = 5
    expected = torch_model.generate(input_ids=torch.tensor(PROMPTS), attention_mask=torch.tensor(MASK),
                                    encoder_hidden_states=torch.tensor(states),
                                    encoder_attention_mask=torch.tensor(states_mask), max_new_tokens=steps,
                                    do_sample=False, pad_token_id=PAD, use_cache=False)
    tokens = generate(model, params, PROMPTS, MASK, max_new_tokens=steps, eos_token_id=(), pad_token_id=PAD,
                      encoder_hidden_states=states, encoder_attention_mask=states_mask)
    np.testing.assert_array_equal(np.asarray(tokens), to_numpy(expected))


@pytest.mark.parametrize(("temperature", "top_k", "top_p"), [(0.7, 0, 1.0), (1.0, 5, 1.0), (1.0, 0, 0.8),
                                                              (1.3, 7, 0.6), (1.0, 0, 0.01)])
def test_warpers_match_transformers(temperature, top_k, top_p):
    import torch
    from transformers.generation import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    logits = np.random.default_rng(0).normal(size=(4, 50)).astype(np.float32)
    logits[0, :3] = logits[0, 3]  # ties at the top-k boundary
    expected = torch.tensor(logits)
    if temperature != 1.0:
        expected = TemperatureLogitsWarper(temperature)(None, expected)
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1.0:
        expected = TopPLogitsWarper(top_p)(None, expected)
    ours = apply_top_p(apply_top_k(apply_temperature(logits, temperature), top_k), top_p)
    np.testing.assert_allclose(np.asarray(ours), to_numpy(expected), rtol=1e-6)  # -inf where removed


def test_sampled_tokens_stay_inside_top_k():
    import jax

    logits = np.random.default_rng(1).normal(size=(64, 30)).astype(np.float32)
    tokens = np.asarray(next_token(logits, jax.random.key(0), do_sample=True, top_k=3))
    allowed = np.argsort(-logits, axis=-1)[:, :3]
    assert all(t in row for t, row in zip(tokens, allowed, strict=True))
    assert len(set(tokens.tolist())) > 3  # really sampled, not argmax


@pytest.mark.parametrize(
    ("changes", "kwargs", "message"),
    [
        ({"is_decoder": False}, {}, r"generate needs a decoder: build the model with config.replace\(is_decoder=True\)"),
        ({}, {"attention_mask": np.array([[1, 1, 0, 0, 0]] * 3)}, r"needs left-padded prompts"),
        ({}, {"attention_mask": None, "input_ids": np.array([[5, 6, 0]] * 3)},
         r"attention_mask \(inferred from pad_token_id=0\) has zeros after a token"),
        ({}, {"do_sample": True}, r"do_sample=True needs an rng"),
        ({}, {"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({}, {"top_k": -1}, r"top_k must be an integer >= 0"),
        ({}, {"temperature": 0.0}, r"temperature must be > 0"),
        ({}, {"max_new_tokens": 0}, r"max_new_tokens must be an integer >= 1"),
        ({}, {"max_new_tokens": 60}, r"prompt length 5 \+ max_new_tokens 60 exceeds max_position_embeddings=64"),
        ({}, {"eos_token_id": 99}, r"eos_token_id must be in \[0, vocab_size=99\)"),
        ({}, {"input_ids": np.full((3, 5), 120)}, r"input_ids must be in \[0, 99\)"),
    ],
    ids=["encoder_config", "right_padding", "inferred_right_padding", "sampling_without_rng", "top_p", "top_k", "temperature",
         "no_new_tokens", "too_long", "eos_out_of_vocab", "ids_out_of_vocab"],
)
def test_bad_arguments_raise_before_tracing(tiny_config, changes, kwargs, message):
    import jax

    model = TaskModel(tiny_config.replace(**{"is_decoder": True, **changes}), "causal_lm")
    params = jax.eval_shape(model.init, jax.random.key(0))  # never used: the checks come first
    arguments = {"input_ids": PROMPTS, "attention_mask": MASK, "max_new_tokens": NEW, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, params, **arguments)


def test_only_causal_lm_models_generate(tiny_config):
    import jax

    model = TaskModel(tiny_config, "masked_lm")
    with pytest.raises(ValueError, match=r"generate needs a TaskModel\(config, 'causal_lm'\)"):
        generate(model, jax.eval_shape(model.init, jax.random.key(0)), PROMPTS, max_new_tokens=2)
