"""The PyTorch-API adapter classes equal transformers' PyTorch classes field by field (fp32, <= 1e-5).

Driven the way transformers' own RemBERT tests drive its classes: a tiny config, random weights
(written by transformers' `save_pretrained`), random masks and token types, labels, every output
field requested, dict and tuple outputs. Both sides load the same directory.
"""

from __future__ import annotations

import numpy as np
import pytest
from hf_reference import TASK_CLASSES, hf_model, task_config, to_numpy

import rembert_jax

TOL = 1e-5
B, S, C = 3, 7, 4


@pytest.fixture(scope="module")
def model_dirs(tiny_config, tmp_path_factory):
    """task -> a directory written by transformers' save_pretrained (random weights)."""
    dirs = {}
    for i, task in enumerate(TASK_CLASSES):
        directory = tmp_path_factory.mktemp(task)
        hf_model(task_config(tiny_config, task), task, seed=i).save_pretrained(directory)
        dirs[task] = directory
    return dirs


def make_inputs(config, task, seed=0) -> dict[str, np.ndarray]:
    """Tokenizer-like inputs plus the task's targets (with ignored / out-of-range entries)."""
    rng = np.random.default_rng(seed)
    lead = (B, C) if task == "multiple_choice" else (B,)
    ids = rng.integers(1, config.vocab_size, (*lead, S))
    mask = (rng.random((*lead, S)) > 0.3).astype(np.int64)
    mask[..., 0] = 1
    inputs = {"input_ids": ids, "attention_mask": mask,
              "token_type_ids": rng.integers(0, config.type_vocab_size, (*lead, S))}
    if task in ("masked_lm", "causal_lm", "token_classification"):
        classes = config.vocab_size if task != "token_classification" else config.num_labels
        labels = rng.integers(0, classes, (B, S))
        labels[:, 1] = -100
        inputs["labels"] = labels
    elif task == "sequence_classification":
        inputs["labels"] = rng.integers(0, config.num_labels, (B,))
    elif task == "multiple_choice":
        inputs["labels"] = rng.integers(0, C, (B,))
    elif task == "question_answering":
        inputs["start_positions"] = np.array([0, 3, S + 4])  # S + 4 is clamped and ignored
        inputs["end_positions"] = np.array([2, S, 5])
    return {k: v.astype(np.int64) for k, v in inputs.items()}


def torch_call(model, inputs, **flags):
    import torch

    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}, **flags)


def assert_close(ours, theirs, tol=TOL, where="output"):
    """Nested tuples of arrays equal transformers' tensors (shape and values)."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, tol, f"{where}[{i}]")
        return
    theirs = to_numpy(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, f"{where}: {ours.shape} vs {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol, err_msg=where)


def _load_both(task, directory):
    import transformers

    name = TASK_CLASSES[task]
    ours = getattr(rembert_jax, name).from_pretrained(directory)
    theirs = getattr(transformers, name).from_pretrained(directory, attn_implementation="eager").eval()
    return ours, theirs


@pytest.fixture(scope="module")
def loaded(model_dirs):
    """task -> (our model, transformers' model), both read from the task's directory."""
    return {task: _load_both(task, directory) for task, directory in model_dirs.items()}


# The same flags (and input shapes) in both field tests, so the tuple test reuses the compiled code.
FLAGS = {"output_hidden_states": True, "output_attentions": True}


@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_every_output_field_matches_transformers(task, loaded):
    ours, theirs = loaded[task]
    inputs = make_inputs(ours.config, task)
    flags = dict(FLAGS)
    if task == "causal_lm":
        flags["use_cache"] = False  # the cache layouts differ; cached decoding is tested below
    expected = torch_call(theirs, inputs, **flags)
    got = ours(**inputs, **flags)

    assert type(got).__name__ == type(expected).__name__
    assert list(got.keys()) == list(expected.keys())  # names and order of the set fields
    for key in expected:
        assert_close(got[key], expected[key], where=key)
    assert len(got["hidden_states"]) == ours.config.num_hidden_layers + 1
    assert len(got["attentions"]) == ours.config.num_hidden_layers


@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_tuple_output_matches_transformers(task, loaded):
    ours, theirs = loaded[task]
    inputs = make_inputs(ours.config, task, seed=1)
    flags = {"return_dict": False, **FLAGS}
    if task == "causal_lm":
        flags["use_cache"] = False
    expected = torch_call(theirs, inputs, **flags)
    got = ours(**inputs, **flags)
    assert isinstance(got, tuple)
    assert_close(got, tuple(expected))


def test_model_without_pooler_keeps_the_pooler_slot_in_tuples(tiny_config):
    model = rembert_jax.RemBertModel(tiny_config, add_pooling_layer=False).eval()
    out = model(np.ones((1, 4), np.int32), return_dict=False)
    assert out[1] is None and out[0].shape == (1, 4, tiny_config.hidden_size)


def test_inputs_embeds_match_transformers(loaded):
    ours, theirs = loaded["base"]
    rng = np.random.default_rng(3)
    embeds = rng.normal(size=(B, S, ours.config.input_embedding_size)).astype(np.float32)
    import torch

    with torch.no_grad():
        expected = theirs(inputs_embeds=torch.from_numpy(embeds))
    got = ours(inputs_embeds=embeds)
    assert_close(got.last_hidden_state, expected.last_hidden_state)
    assert_close(got.pooler_output, expected.pooler_output)


def test_multiple_choice_inputs_embeds_match_transformers(loaded):
    ours, theirs = loaded["multiple_choice"]
    embeds = np.random.default_rng(4).normal(size=(B, C, S, ours.config.input_embedding_size)).astype(np.float32)
    import torch

    with torch.no_grad():
        expected = theirs(inputs_embeds=torch.from_numpy(embeds))
    assert_close(ours(inputs_embeds=embeds).logits, expected.logits)


@pytest.mark.parametrize("labels, problem_type", [
    (np.array([[0.5], [-1.0], [2.0]], np.float32), "regression"),
    (np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]], np.float32), "multi_label_classification"),
])
def test_sequence_classification_problem_types_match_transformers(labels, problem_type, tiny_config, tmp_path):
    config = tiny_config.replace(num_labels=labels.shape[1] if problem_type != "regression" else 1)
    hf_model(config, "sequence_classification", seed=5).save_pretrained(tmp_path)
    ours, theirs = _load_both("sequence_classification", tmp_path)
    inputs = {k: v for k, v in make_inputs(config, "base").items()}
    import torch

    with torch.no_grad():
        expected = theirs(**{k: torch.from_numpy(v) for k, v in inputs.items()}, labels=torch.from_numpy(labels))
    got = ours(**inputs, labels=labels)
    assert_close(got.loss, expected.loss)
    assert_close(got.logits, expected.logits)
    assert ours.config.problem_type == theirs.config.problem_type == problem_type  # written back


def test_causal_lm_cached_decoding_matches_transformers(loaded):
    """Prefix with use_cache, then the next tokens with the returned cache == transformers' cached
    decoding == one full pass (the cache argument is `cache`, or `past_key_values`)."""
    ours, theirs = loaded["causal_lm"]
    inputs = make_inputs(ours.config, "causal_lm", seed=6)
    ids, mask = inputs["input_ids"], np.ones_like(inputs["input_ids"])
    full = torch_call(theirs, {"input_ids": ids, "attention_mask": mask})

    first = ours(input_ids=ids[:, :4], attention_mask=mask[:, :4], use_cache=True)
    assert first.cache is not None and first.past_key_values is first.cache
    second = ours(input_ids=ids[:, 4:], attention_mask=mask, past_key_values=first.cache,
                  output_attentions=True)
    assert_close(second.logits, full.logits[:, 4:], tol=1e-4)

    import torch

    with torch.no_grad():
        hf_first = theirs(input_ids=torch.from_numpy(ids[:, :4]), use_cache=True)
        hf_second = theirs(input_ids=torch.from_numpy(ids[:, 4:]), attention_mask=torch.from_numpy(mask),
                           cache=hf_first.cache, output_attentions=True)
    assert_close(second.logits, hf_second.logits)
    assert_close(second.attentions, hf_second.attentions)  # [B, NH, S_new, PL + S_new]


def test_decoder_with_cross_attention_matches_transformers(tiny_decoder_config, tmp_path):
    hf_model(tiny_decoder_config, "causal_lm", seed=7).save_pretrained(tmp_path)
    ours, theirs = _load_both("causal_lm", tmp_path)
    inputs = make_inputs(tiny_decoder_config, "causal_lm", seed=7)
    rng = np.random.default_rng(7)
    inputs["encoder_hidden_states"] = rng.normal(size=(B, 5, tiny_decoder_config.hidden_size)).astype(np.float32)
    inputs["encoder_attention_mask"] = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    flags = {"output_attentions": True, "use_cache": False}
    expected = torch_call(theirs, inputs, **flags)
    got = ours(**inputs, **flags)
    assert list(got.keys()) == list(expected.keys())
    for key in expected:
        assert_close(got[key], expected[key], where=key)


def test_logits_to_keep_slices_like_transformers(loaded):
    ours, theirs = loaded["causal_lm"]
    ids = make_inputs(ours.config, "causal_lm")["input_ids"]
    expected = torch_call(theirs, {"input_ids": ids}, logits_to_keep=2, use_cache=False)
    assert_close(ours(ids, logits_to_keep=2, use_cache=False).logits, expected.logits)


def test_cross_attention_decoder_past_with_new_tokens_and_mask(tiny_decoder_config, tmp_path):
    """transformers' `create_and_check_decoder_model_past_large_inputs`: 3 new tokens with a new
    random mask after a cached prefix equal the uncached pass (and transformers' cached pass)."""
    import torch

    hf_model(tiny_decoder_config, "causal_lm", seed=8).save_pretrained(tmp_path)
    ours, theirs = _load_both("causal_lm", tmp_path)
    rng = np.random.default_rng(8)
    ids = rng.integers(1, tiny_decoder_config.vocab_size, (B, S + 3))
    mask = np.ones_like(ids)
    mask[:, -3:] = rng.integers(0, 2, (B, 3))
    encoder_states = rng.normal(size=(B, 5, tiny_decoder_config.hidden_size)).astype(np.float32)
    encoder_mask = np.ones((B, 5), np.int64)

    first = ours(ids[:, :S], attention_mask=mask[:, :S], encoder_hidden_states=encoder_states,
                 encoder_attention_mask=encoder_mask, use_cache=True)
    cached = ours(ids[:, S:], attention_mask=mask, encoder_hidden_states=encoder_states,
                  encoder_attention_mask=encoder_mask, cache=first.cache, output_hidden_states=True)
    full = ours(ids, attention_mask=mask, encoder_hidden_states=encoder_states, encoder_attention_mask=encoder_mask,
                use_cache=False, output_hidden_states=True)
    np.testing.assert_allclose(cached.hidden_states[0], full.hidden_states[0][:, -3:], rtol=0, atol=1e-5)
    np.testing.assert_allclose(cached.logits, full.logits[:, -3:], rtol=0, atol=1e-4)

    t = {k: torch.from_numpy(v) for k, v in {"ids": ids, "mask": mask, "enc": encoder_states,
                                             "enc_mask": encoder_mask}.items()}
    with torch.no_grad():
        hf_first = theirs(t["ids"][:, :S], attention_mask=t["mask"][:, :S], encoder_hidden_states=t["enc"],
                          encoder_attention_mask=t["enc_mask"], use_cache=True)
        hf_cached = theirs(t["ids"][:, S:], attention_mask=t["mask"], encoder_hidden_states=t["enc"],
                           encoder_attention_mask=t["enc_mask"], cache=hf_first.cache)
    assert_close(cached.logits, hf_cached.logits)
