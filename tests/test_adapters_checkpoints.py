"""from_pretrained / save_pretrained / to_transformers of the PyTorch-API adapters.

Our random-init model -> save_pretrained -> transformers' from_pretrained gives equal outputs for
all seven classes (the reverse direction, transformers' checkpoint into ours, is pinned by
test_adapters_torch_parity.py).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hf_reference import TASK_CLASSES, hf_model, to_numpy

import rembert_jax

B, S = 2, 6


def _config(tiny_config, task):
    return tiny_config.replace(is_decoder=True) if task == "causal_lm" else tiny_config


def _inputs(config, task):
    rng = np.random.default_rng(0)
    lead = (B, 3) if task == "multiple_choice" else (B,)
    return {"input_ids": rng.integers(1, config.vocab_size, (*lead, S)),
            "attention_mask": np.concatenate([np.ones((*lead, S - 1), np.int64), np.zeros((*lead, 1), np.int64)], -1)}


def _first_tensor_fields(out):
    return {k: v for k, v in out.items() if k in ("last_hidden_state", "pooler_output", "logits", "start_logits",
                                                   "end_logits")}


def _torch_outputs(model, inputs):
    import torch

    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in inputs.items()})


@pytest.mark.parametrize("task", list(TASK_CLASSES))
def test_save_pretrained_loads_in_transformers_with_equal_outputs(task, tiny_config, tmp_path):
    import transformers

    name = TASK_CLASSES[task]
    ours = getattr(rembert_jax, name)(_config(tiny_config, task), seed=3).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = getattr(transformers, name).from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    inputs = _inputs(ours.config, task)
    expected = _torch_outputs(theirs.eval(), inputs)
    got = ours(**inputs)
    fields = _first_tensor_fields(got)
    assert fields
    for key, value in fields.items():
        np.testing.assert_allclose(value, to_numpy(expected[key]), rtol=0, atol=1e-5, err_msg=key)
    reloaded = getattr(rembert_jax, name).from_pretrained(tmp_path)
    for key, value in _first_tensor_fields(reloaded(**inputs)).items():
        np.testing.assert_array_equal(value, fields[key], err_msg=key)


def test_to_transformers_returns_a_torch_model_with_the_same_weights(tiny_config):
    ours = rembert_jax.RemBertForTokenClassification(tiny_config, seed=4).eval()
    theirs = ours.to_transformers()
    import transformers

    assert isinstance(theirs, transformers.RemBertForTokenClassification) and not theirs.training
    inputs = _inputs(tiny_config, "token_classification")
    np.testing.assert_allclose(ours(**inputs).logits, to_numpy(_torch_outputs(theirs, inputs).logits),
                               rtol=0, atol=1e-5)


def test_base_checkpoint_into_a_head_class_initialises_the_head_and_says_so(tiny_config, tmp_path, caplog):
    base = hf_model(tiny_config, "base", seed=5)
    base.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = rembert_jax.RemBertForQuestionAnswering.from_pretrained(tmp_path)
    assert "newly initialized" in caplog.text and "qa_outputs" in caplog.text
    assert set(model.params) == {"encoder", "head"} and "qa_outputs" in model.params["head"]
    np.testing.assert_array_equal(model.params["encoder"]["embeddings"]["word"],
                                  to_numpy(base.embeddings.word_embeddings.weight))


def test_model_from_a_head_checkpoint_gets_a_fresh_pooler_like_transformers(tiny_config, tmp_path, caplog):
    hf_model(tiny_config, "masked_lm", seed=9).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = rembert_jax.RemBertModel.from_pretrained(tmp_path)
    assert "pooler.dense.weight" in caplog.text
    inputs = _inputs(tiny_config, "base")
    assert model(**inputs).pooler_output.shape == (B, tiny_config.hidden_size)
    bare = rembert_jax.RemBertModel.from_pretrained(tmp_path, add_pooling_layer=False)
    assert "pooler" not in bare.params and bare(**inputs).pooler_output is None


def test_causal_lm_without_decoder_config_warns_like_transformers(tiny_config, caplog):
    with caplog.at_level(logging.WARNING):
        rembert_jax.RemBertForCausalLM(tiny_config, params={})
    assert "add `is_decoder=True.`" in caplog.text


def test_from_pretrained_applies_config_overrides(tiny_config, tmp_path):
    hf_model(tiny_config, "base", seed=6).save_pretrained(tmp_path)
    model = rembert_jax.RemBertForSequenceClassification.from_pretrained(tmp_path, num_labels=5,
                                                                        classifier_dropout_prob=0.0, from_tf=False)
    assert model.config.num_labels == 5 and model.config.classifier_dropout_prob == 0.0
    assert "from_tf" not in model.config.extra  # a loader switch, not a config field
    assert model(**_inputs(tiny_config, "base")).logits.shape == (B, 5)


def test_from_pretrained_reads_keras_h5_into_the_pytorch_api(tiny_config, tmp_path):
    source = rembert_jax.TFRemBertForMaskedLM(tiny_config, seed=7)
    source.save_pretrained(tmp_path)
    model = rembert_jax.RemBertForMaskedLM.from_pretrained(tmp_path)
    inputs = _inputs(tiny_config, "masked_lm")
    np.testing.assert_array_equal(model(**inputs).logits, source(**inputs).logits)


def test_from_pretrained_reads_an_original_tf_checkpoint(tiny_config, tmp_path):
    pytest.importorskip("tensorflow")
    from rembert_jax.convert import save_tf_checkpoint

    source = rembert_jax.RemBertModel(tiny_config, seed=8).eval()
    save_tf_checkpoint(tmp_path, tiny_config, source.params)
    model = rembert_jax.RemBertModel.from_pretrained(tmp_path)
    inputs = _inputs(tiny_config, "base")
    np.testing.assert_array_equal(model(**inputs).last_hidden_state, source(**inputs).last_hidden_state)


def test_from_pretrained_reads_orbax_checkpoints_of_the_same_or_another_task(tiny_config, tmp_path, caplog):
    from rembert_jax.convert import save_orbax

    source = rembert_jax.RemBertForMaskedLM(tiny_config, seed=10).eval()
    directory = tmp_path / "orbax"
    save_orbax(directory, source.config, source.params, task="masked_lm")
    inputs = _inputs(tiny_config, "masked_lm")
    same = rembert_jax.RemBertForMaskedLM.from_pretrained(directory)
    np.testing.assert_array_equal(same(**inputs).logits, source(**inputs).logits)
    with caplog.at_level(logging.WARNING):
        other = rembert_jax.RemBertForTokenClassification.from_pretrained(directory, num_labels=4)
    assert "newly initialized" in caplog.text and other(**inputs).logits.shape == (B, S, 4)


def test_from_pretrained_without_weights_names_what_it_looked_for(tiny_config, tmp_path):
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        rembert_jax.RemBertModel.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing. does not exist"):
        rembert_jax.RemBertModel.from_pretrained(tmp_path / "missing")


def test_models_built_from_a_config_train_and_loaded_models_evaluate(tiny_config, tmp_path):
    import transformers

    model = rembert_jax.RemBertForSequenceClassification(transformers.RemBertConfig(**{
        k: v for k, v in tiny_config.to_dict().items() if k != "model_type"}))
    assert model.training and model.config.to_dict().items() >= {
        k: v for k, v in tiny_config.to_dict().items() if k not in ("architectures", "dtype")}.items()
    assert model.eval() is model and not model.training
    model.save_pretrained(tmp_path)
    assert not rembert_jax.RemBertForSequenceClassification.from_pretrained(tmp_path).training
