"""Calling conventions of the adapters: output objects like transformers', errors that name the
argument, and `generate` on the causal LM."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hf_reference import TASK_CLASSES, hf_model, to_numpy

import rembert_jax
from rembert_jax import adapters

IDS = np.array([[5, 6, 7, 8], [9, 10, 11, 0]])


@pytest.fixture(scope="module")
def classifier(tiny_config):
    return rembert_jax.RemBertForSequenceClassification(tiny_config, seed=0).eval()


# ------------------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_output_classes_have_transformers_names_and_field_order(task):
    import transformers

    ours = getattr(rembert_jax, TASK_CLASSES[task])._output_class
    theirs = getattr(transformers.modeling_outputs, ours.__name__)
    assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(theirs)]


def test_outputs_index_like_transformers(classifier):
    out = classifier(IDS, labels=np.array([1, 0]), output_hidden_states=True)
    assert list(out.keys()) == ["loss", "logits", "hidden_states"]  # attentions is None: not a key
    assert out[0] is out.loss is out["loss"]
    assert out[1] is out.logits and out[2] is out.hidden_states
    assert out[1:] == (out.logits, out.hidden_states)
    assert out.to_tuple() == (out.loss, out.logits, out.hidden_states)
    assert out.attentions is None
    with pytest.raises(KeyError):
        out["attentions"]
    without_labels = classifier(IDS)
    assert without_labels[0] is without_labels.logits  # None fields are skipped by integer indices
    restored = pickle.loads(pickle.dumps(out))
    assert list(restored.keys()) == list(out.keys())


def test_return_dict_false_gives_the_tuple(classifier):
    out = classifier(IDS, labels=np.array([1, 0]), return_dict=False)
    assert isinstance(out, tuple) and len(out) == 2 and out[0].shape == () and out[1].shape == (2, 2)


def test_every_class_is_exported_from_the_package():
    for prefix in ("", "TF"):
        for name in TASK_CLASSES.values():
            assert getattr(rembert_jax, prefix + name) is getattr(adapters, prefix + name)


# --------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, error, match", [
    ({"input_ids": IDS, "foo": 1}, TypeError, "unexpected keyword argument.*foo"),
    ({"input_ids": IDS, "head_mask": np.ones(4)}, NotImplementedError, "head_mask"),
    ({"attention_mask": np.ones((2, 4))}, ValueError, "input_ids or inputs_embeds"),
    ({"input_ids": IDS, "inputs_embeds": np.zeros((2, 4, 18), np.float32)}, ValueError, "both"),
    ({"input_ids": IDS, "attention_mask": np.ones((2, 5))}, ValueError, "attention_mask must have shape"),
    ({"input_ids": IDS, "token_type_ids": np.ones((2, 3), int)}, ValueError, "token_type_ids must have shape"),
    ({"input_ids": IDS + 200}, ValueError, r"input_ids must be in \[0, 99\)"),
    ({"input_ids": IDS, "labels": np.array([1, 2])}, ValueError, r"labels must be in \[0, 2\)"),
    ({"input_ids": IDS, "labels": np.array([[1], [0], [1]])}, ValueError, "labels"),
    ({"input_ids": [[1, 2], [3]]}, ValueError, "input_ids must be rectangular"),
    ({"input_ids": IDS.astype(np.int64) + 2**40}, ValueError, "input_ids holds values outside the int32 range"),
    ({"input_ids": IDS, "past_key_values": object()}, TypeError, "takes no cache"),
    ({"input_ids": "hello"}, TypeError, "input_ids must be an array"),
])
def test_bad_calls_raise_errors_naming_the_argument(classifier, kwargs, error, match):
    with pytest.raises(error, match=match):
        classifier(**kwargs)


def test_too_many_positional_arguments_are_refused(classifier):
    with pytest.raises(TypeError, match="at most 9 positional arguments"):
        classifier(*([None] * 10))


# The models below hold no weights at all (params={}): these errors are raised on the host, before
# anything is computed or compiled.

def test_multiple_choice_needs_choice_shaped_inputs(tiny_config):
    model = rembert_jax.RemBertForMultipleChoice(tiny_config, params={}).eval()
    with pytest.raises(ValueError, match=r"multiple choice input_ids must have shape \[batch, num_choices, length\]"):
        model(IDS)
    with pytest.raises(ValueError, match="multiple choice attention_mask"):
        model(np.ones((2, 3, 4), int), attention_mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        model(np.ones((2, 3, 4), int), labels=np.array([0, 3]))


def test_question_answering_needs_both_positions(tiny_config):
    model = rembert_jax.RemBertForQuestionAnswering(tiny_config, params={}).eval()
    with pytest.raises(ValueError, match="start_positions and end_positions"):
        model(IDS, start_positions=np.array([0, 1]))


def test_a_cache_needs_a_decoder(tiny_config):
    model = rembert_jax.RemBertModel(tiny_config, params={}).eval()
    with pytest.raises(ValueError, match="decoder"):
        model(IDS, cache={"index": 0})


# ---------------------------------------------------------------------------------- generate

def test_generate_matches_transformers_greedy(tiny_config, tmp_path):
    import torch

    config = tiny_config.replace(is_decoder=True)
    reference = hf_model(config, "causal_lm", seed=3)
    reference.save_pretrained(tmp_path)
    model = rembert_jax.RemBertForCausalLM.from_pretrained(tmp_path)
    prompt = np.array([[0, 5, 6, 7], [8, 9, 10, 11]])
    mask = np.array([[0, 1, 1, 1], [1, 1, 1, 1]])
    with torch.no_grad():
        expected = reference.generate(torch.from_numpy(prompt), attention_mask=torch.from_numpy(mask),
                                      max_new_tokens=5, do_sample=False, eos_token_id=None, pad_token_id=0)
    got = model.generate(torch.from_numpy(prompt), torch.from_numpy(mask), max_new_tokens=5, eos_token_id=())
    assert isinstance(got, torch.Tensor)
    np.testing.assert_array_equal(got.numpy(), to_numpy(expected))
