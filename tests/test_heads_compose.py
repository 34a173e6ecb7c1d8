"""The one composition of encoder and head (`rembert_jax.heads.compose`): the positions it keeps
are exactly the full forward's, multiple-choice inputs flatten one way, and the decoder guards."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rembert_jax.heads import TaskModel
from rembert_jax.heads.compose import check_decoding, flatten_choices, forward


def test_kept_positions_are_the_full_forwards(tiny_config):
    config = tiny_config.replace(is_decoder=True)
    model = TaskModel(config, "causal_lm")
    params = model.init(jax.random.key(0))
    ids = np.random.default_rng(0).integers(3, 99, (2, 6)).astype(np.int32)
    full = forward("causal_lm", model.config, model.policy, params, {"input_ids": ids})["logits"]  # [B, S, V]
    last2 = forward("causal_lm", model.config, model.policy, params, {"input_ids": ids}, logits_to_keep=2)["logits"]
    slot = forward("causal_lm", model.config, model.policy, params, {"input_ids": ids}, keep_at=3)["logits"]
    np.testing.assert_allclose(last2, full[:, -2:], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(slot, full[:, 3:4], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(full, model.apply(params, {"input_ids": ids})["logits"], rtol=1e-6, atol=1e-6)


def test_multiple_choice_inputs_flatten_to_rows_of_one_choice():
    ids = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    mask = np.ones((2, 3, 4, 4))  # a 3-D mask per choice keeps its trailing dims
    flat, num_choices = flatten_choices({"input_ids": ids, "attention_mask": mask})
    assert num_choices == 3 and flat["input_ids"].shape == (6, 4) and flat["attention_mask"].shape == (6, 4, 4)
    np.testing.assert_array_equal(flat["input_ids"][4], ids[1, 1])
    with pytest.raises(ValueError, match=r"multiple choice attention_mask must have shape \[batch=2, num_choices=3"):
        flatten_choices({"input_ids": ids, "attention_mask": np.ones((2, 4))})
    with pytest.raises(ValueError, match=r"multiple choice input_ids must have shape \[batch, num_choices, length\]"):
        flatten_choices({"input_ids": ids[0]})


def test_decoder_only_arguments_are_refused_where_nothing_decodes(tiny_config):
    decoder = tiny_config.replace(is_decoder=True)
    with pytest.raises(TypeError, match="RemBertForMaskedLM takes no cache"):
        check_decoding("masked_lm", decoder, caller="RemBertForMaskedLM", cache=True)
    with pytest.raises(ValueError, match="a cache needs a decoder"):
        check_decoding("base", tiny_config, caller="RemBertModel", cache=True)
    with pytest.raises(ValueError, match="only supported by RemBertModel and RemBertForCausalLM in decoder mode"):
        check_decoding("token_classification", decoder, caller="x", cross=True)
    with pytest.raises(TypeError, match="logits_to_keep is an argument of RemBertForCausalLM only"):
        check_decoding("base", decoder, caller="RemBertModel", logits_to_keep=1)
    check_decoding("token_classification", tiny_config, caller="x", cross=True)  # an encoder ignores them
    check_decoding("causal_lm", decoder, caller="generate", cache=True, cross=True, logits_to_keep=1, generate=True)
