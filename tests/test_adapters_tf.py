"""The TF-API adapters: transformers 4.x Keras conventions over the JAX core.

transformers 5 has no TF classes to compare with, so the forward pass is checked against the
PyTorch classes (same weights, same math), and the losses against a numpy transcription of the
HF TF loss mix-ins (spec §3.3): per example [B] for sequence classification, multiple choice and
QA; shape [1] for masked / causal LM and token classification.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hf_reference import TASK_CLASSES, hf_model, task_config, to_numpy

import rembert_jax

B, S, C = 3, 6, 2


@pytest.fixture(scope="module")
def pairs(tiny_config, tmp_path_factory):
    """task -> (our TF-API model read from transformers' PyTorch directory, transformers' model)."""
    out = {}
    for i, task in enumerate(TASK_CLASSES):
        directory = tmp_path_factory.mktemp(f"tf-{task}")
        reference = hf_model(task_config(tiny_config, task), task, seed=10 + i)
        reference.save_pretrained(directory)
        out[task] = (getattr(rembert_jax, "TF" + TASK_CLASSES[task]).from_pretrained(directory), reference)
    return out


def _inputs(config, task, seed=0):
    rng = np.random.default_rng(seed)
    lead = (B, C) if task == "multiple_choice" else (B,)
    inputs = {"input_ids": rng.integers(1, config.vocab_size, (*lead, S)),
              "attention_mask": (rng.random((*lead, S)) > 0.2).astype(np.int64)}
    inputs["attention_mask"][..., 0] = 1
    if task == "base":
        return inputs, {}
    if task in ("masked_lm", "causal_lm"):
        labels = rng.integers(0, config.vocab_size, (B, S))
        labels[:, 2] = -100
    elif task == "token_classification":
        labels = rng.integers(0, config.num_labels, (B, S))
        labels[:, 2] = -100
        labels[0, 3] = -1  # any negative label is masked out by the Keras loss
    elif task == "sequence_classification":
        labels = rng.integers(0, config.num_labels, (B,))
    elif task == "multiple_choice":
        labels = rng.integers(0, C, (B,))
    else:
        return inputs, {"start_positions": np.array([0, 2, 5]), "end_positions": np.array([1, 5, 3])}
    return inputs, {"labels": labels}


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _ce(logits, labels):  # per item
    return -np.take_along_axis(_log_softmax(logits), labels[..., None], -1)[..., 0]


def reference_tf_loss(task, logits, targets):
    """A numpy transcription of transformers 4.x's TF loss mix-ins."""
    if task == "question_answering":
        start, end = logits
        return (_ce(start, targets["start_positions"]) + _ce(end, targets["end_positions"])) / 2
    labels = targets["labels"]
    if task in ("masked_lm", "causal_lm", "token_classification"):
        if task == "causal_lm":
            logits, labels = logits[:, :-1], labels[:, 1:]
        keep = (labels >= 0) if task == "token_classification" else (labels != -100)
        per_token = _ce(logits, np.maximum(labels, 0))
        return np.reshape((per_token * keep).sum() / keep.sum(), (1,))
    return _ce(logits, labels)


def _call(model, task, inputs, targets):
    """Every output requested (the same flags everywhere, so each task compiles once)."""
    decoder_flags = {"use_cache": False} if task in ("base", "causal_lm") else {}
    return model(**inputs, **targets, output_hidden_states=True, output_attentions=True, **decoder_flags)


@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_outputs_and_per_example_losses_match_the_keras_heads(task, pairs):
    import torch

    ours, reference = pairs[task]
    inputs, targets = _inputs(ours.config, task)
    with torch.no_grad():
        expected = reference(**{k: torch.from_numpy(v) for k, v in inputs.items()}, output_hidden_states=True,
                             output_attentions=True, **({"use_cache": False} if task == "causal_lm" else {}))
    got = _call(ours, task, inputs, targets)
    assert type(got).__name__ == "TF" + type(expected).__name__
    for key in expected:
        values = got[key] if isinstance(got[key], tuple) else (got[key],)
        theirs = expected[key] if isinstance(expected[key], tuple) else (expected[key],)
        for a, b in zip(values, theirs, strict=True):
            np.testing.assert_allclose(a, to_numpy(b), rtol=0, atol=1e-5, err_msg=key)
    if task == "base":
        return
    logits = ((to_numpy(expected.start_logits), to_numpy(expected.end_logits)) if task == "question_answering"
              else to_numpy(expected.logits))
    want = reference_tf_loss(task, logits, targets)
    assert got.loss.shape == want.shape == ((1,) if task in ("masked_lm", "causal_lm", "token_classification")
                                            else (B,))
    np.testing.assert_allclose(got.loss, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_save_pretrained_round_trips_through_tf_model_h5(task, pairs, tmp_path):
    ours, _ = pairs[task]
    ours.save_pretrained(tmp_path)
    assert os.path.isfile(tmp_path / "tf_model.h5") and os.path.isfile(tmp_path / "config.json")
    assert not os.path.exists(tmp_path / "model.safetensors")
    reloaded = type(ours).from_pretrained(tmp_path)
    inputs, targets = _inputs(ours.config, task, seed=1)
    before, after = _call(ours, task, inputs, targets), _call(reloaded, task, inputs, targets)
    assert list(after.keys()) == list(before.keys())
    for key in before:
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(before[key]), err_msg=key)


def test_regression_loss_is_per_example_mse(tiny_config):
    model = rembert_jax.TFRemBertForSequenceClassification(tiny_config.replace(num_labels=1), seed=1)
    inputs, _ = _inputs(tiny_config, "base")
    labels = np.array([0.5, -1.0, 2.0], np.float32)
    out = model(**inputs, labels=labels)
    np.testing.assert_allclose(out.loss, (out.logits[:, 0] - labels) ** 2, rtol=1e-6)


def test_positional_order_and_dict_inputs_follow_keras(pairs):
    model, _ = pairs["sequence_classification"]
    inputs, targets = _inputs(model.config, "sequence_classification")
    types = np.zeros_like(inputs["input_ids"])
    by_name = model(**inputs, token_type_ids=types, labels=targets["labels"])
    # input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
    # output_attentions, output_hidden_states, return_dict, labels
    positional = model(inputs["input_ids"], inputs["attention_mask"], types, None, None, None, None, None, False,
                       targets["labels"])
    packed = model({**inputs, "token_type_ids": types, "labels": targets["labels"]}, training=False)
    assert isinstance(positional, tuple)
    np.testing.assert_array_equal(positional[0], by_name.loss)
    np.testing.assert_array_equal(positional[1], by_name.logits)
    np.testing.assert_array_equal(packed.logits, by_name.logits)


def test_head_mask_raises_not_implemented(pairs):
    model, _ = pairs["base"]
    with pytest.raises(NotImplementedError, match="head_mask"):
        model(np.ones((1, 3), np.int32), head_mask=np.ones((2, 4)))


def test_token_classification_drops_out_with_hidden_dropout_prob(tiny_config):
    """Keras' token classifier uses hidden_dropout_prob (0 here), PyTorch's classifier_dropout_prob."""
    config = tiny_config.replace(hidden_dropout_prob=0.0, classifier_dropout_prob=0.5)
    ids = np.arange(1, 13).reshape(2, 6)
    tf_model = rembert_jax.TFRemBertForTokenClassification(config, seed=2)
    np.testing.assert_array_equal(tf_model(ids, training=True).logits, tf_model(ids, training=False).logits)
    torch_model = rembert_jax.RemBertForTokenClassification(config, tf_model.params).train()
    assert not np.array_equal(torch_model(ids).logits, torch_model.eval()(ids).logits)


def test_question_answering_positions_must_index_the_sequence(pairs):
    model, _ = pairs["question_answering"]
    with pytest.raises(ValueError, match=r"start_positions must be in \[0, 4\)"):
        model(np.ones((1, 4), np.int32), start_positions=np.array([4]), end_positions=np.array([1]))


def test_lm_head_bias_is_exposed_like_keras(pairs):
    model, _ = pairs["masked_lm"]
    bias = model.get_lm_head().get_bias()["decoder_bias"]
    assert bias.shape == (model.config.vocab_size,)


def test_causal_lm_past_key_values_continue_the_sequence(pairs):
    model, _ = pairs["causal_lm"]
    ids = np.random.default_rng(5).integers(1, model.config.vocab_size, (B, S))
    full = model(ids, use_cache=False).logits
    first = model(ids[:, :4], use_cache=True)
    second = model(ids[:, 4:], past_key_values=first.past_key_values)
    assert second.past_key_values is not None
    np.testing.assert_allclose(second.logits, full[:, 4:], rtol=0, atol=1e-5)


def test_token_classification_tuple_keeps_the_keras_pooler_slot(pairs):
    model, _ = pairs["token_classification"]
    inputs, targets = _inputs(model.config, "token_classification")
    out = model(**inputs, **targets, output_hidden_states=True, output_attentions=True, return_dict=False)
    as_dict = _call(model, "token_classification", inputs, targets)
    assert len(out) == 5 and out[2] is None  # (loss, logits, None, hidden_states, attentions)
    np.testing.assert_array_equal(out[1], as_dict.logits)
    assert len(out[3]) == model.config.num_hidden_layers + 1
