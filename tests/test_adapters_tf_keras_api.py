"""The TF-API adapters' Keras surface (issue 17, item 4): Keras list and dict first arguments,
transformers' named `call` parameters, `dummy_inputs`, tf.Tensor outputs whatever came in, and
`save_pretrained(saved_model=True)` writing a SavedModel that plain TensorFlow runs.

transformers 5 has no TF classes, so the expectations are transformers 4.x's Keras conventions
(spec §3.3, §5.3): the parameter lists below are those classes' `call` signatures.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import rembert_jax

tf = pytest.importorskip("tensorflow")

IDS = np.array([[5, 6, 7, 8, 9], [9, 10, 11, 0, 0]], np.int32)
MASK = (IDS > 0).astype(np.int32)
_INPUTS = ["input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds"]
_FLAGS = ["output_attentions", "output_hidden_states", "return_dict"]
_DECODER = ["encoder_hidden_states", "encoder_attention_mask", "past_key_values", "use_cache"]
KERAS_CALL_PARAMETERS = {
    "TFRemBertModel": [*_INPUTS, *_DECODER, *_FLAGS, "training"],
    "TFRemBertForMaskedLM": [*_INPUTS, *_FLAGS, "labels", "training"],
    "TFRemBertForCausalLM": [*_INPUTS, *_DECODER, *_FLAGS, "labels", "training"],
    "TFRemBertForSequenceClassification": [*_INPUTS, *_FLAGS, "labels", "training"],
    "TFRemBertForMultipleChoice": [*_INPUTS, *_FLAGS, "labels", "training"],
    "TFRemBertForTokenClassification": [*_INPUTS, *_FLAGS, "labels", "training"],
    "TFRemBertForQuestionAnswering": [*_INPUTS, *_FLAGS, "start_positions", "end_positions", "training"],
}


@pytest.fixture(scope="module")
def model(tiny_config):
    return rembert_jax.TFRemBertForSequenceClassification(tiny_config, seed=0)


@pytest.mark.parametrize("name", list(KERAS_CALL_PARAMETERS))
def test_call_has_the_keras_named_parameters(name):
    cls = getattr(rembert_jax, name)
    parameters = inspect.signature(cls.call).parameters
    assert list(parameters)[1:] == KERAS_CALL_PARAMETERS[name]
    assert parameters["training"].default is False and parameters["input_ids"].default is None
    assert cls.main_input_name == "input_ids"


def test_keras_list_and_tuple_first_arguments_are_the_inputs_in_call_order(model):
    by_name = model(input_ids=IDS, attention_mask=MASK).logits
    np.testing.assert_array_equal(model([IDS, MASK]).logits, by_name)
    np.testing.assert_array_equal(model((tf.constant(IDS), tf.constant(MASK))).logits, by_name)
    np.testing.assert_array_equal(model({"input_ids": IDS, "attention_mask": MASK}).logits, by_name)
    np.testing.assert_array_equal(model([IDS.tolist(), MASK.tolist()]).logits, by_name)  # nested lists inside
    positional_training = model(IDS, MASK, None, None, None, None, None, None, None, None, False)
    np.testing.assert_array_equal(positional_training.logits, by_name)


def test_a_list_of_token_rows_is_refused_with_the_reason(model):
    with pytest.raises(ValueError, match="Keras' list form"):
        model([[5, 6, 7]])


def test_outputs_are_tf_tensors_whatever_the_inputs_were(model):
    import jax.numpy as jnp
    import torch

    for ids in (IDS, IDS.tolist(), jnp.asarray(IDS), torch.tensor(IDS), tf.constant(IDS)):
        out = model(input_ids=ids, labels=np.array([0, 1]), output_hidden_states=True)
        assert isinstance(out.logits, tf.Tensor) and isinstance(out.loss, tf.Tensor)
        assert all(isinstance(h, tf.Tensor) for h in out.hidden_states)
        assert out.logits.numpy().shape == (2, 2)


@pytest.mark.parametrize(("name", "shape"), [("TFRemBertModel", (1, 2)), ("TFRemBertForMultipleChoice", (1, 2, 2))])
def test_dummy_inputs_are_the_keras_ones_and_run(tiny_config, name, shape):
    model = getattr(rembert_jax, name)(tiny_config, seed=0)
    dummies = model.dummy_inputs
    assert sorted(dummies) == ["attention_mask", "input_ids", "token_type_ids"]
    assert all(d.shape == shape and d.dtype == tf.int32 for d in dummies.values())
    assert not np.any(dummies["token_type_ids"].numpy()) and np.all(dummies["input_ids"].numpy() == 1)
    assert isinstance(model(dummies)[0], tf.Tensor)
    assert model.dtype == "float32"


_LOAD_AND_RUN = """
import json, sys
import numpy as np
import tensorflow as tf
results = {}
for name, directory, ids, mask in json.loads(sys.argv[1]):
    serve = tf.saved_model.load(directory).signatures["serving_default"]
    ids, mask = np.array(ids, np.int32), np.array(mask, np.int32)
    out = serve(input_ids=tf.constant(ids), attention_mask=tf.constant(mask), token_type_ids=tf.zeros_like(ids))
    results[name] = {key: value.numpy().tolist() for key, value in out.items()}
assert "rembert_jax" not in sys.modules
print(json.dumps(results))
"""


def test_saved_model_runs_in_plain_tensorflow_with_equal_outputs(tiny_config, tmp_path):
    """Written by save_pretrained(saved_model=True), loaded by tf.saved_model.load in a process that
    never imports rembert_jax, at a batch and length other than any traced here: outputs <= 1e-5."""
    config = tiny_config.replace(output_hidden_states=True)
    encoder = rembert_jax.TFRemBertModel(config, seed=3)
    chooser = rembert_jax.TFRemBertForMultipleChoice(tiny_config, seed=4)
    cases, expected = [], {}
    rng = np.random.default_rng(0)
    for name, model, shape in (("encoder", encoder, (3, 9)), ("chooser", chooser, (2, 3, 6))):
        model.save_pretrained(tmp_path / name, saved_model=True)
        assert (tmp_path / name / "tf_model.h5").is_file() and (tmp_path / name / "config.json").is_file()
        ids = rng.integers(1, config.vocab_size, shape).astype(np.int32)
        mask = np.ones_like(ids)
        mask[..., -2:] = 0
        cases.append((name, str(tmp_path / name / "saved_model" / "1"), ids.tolist(), mask.tolist()))
        expected[name] = model(input_ids=ids, attention_mask=mask, token_type_ids=np.zeros_like(ids))
    run = subprocess.run([sys.executable, "-c", _LOAD_AND_RUN, json.dumps(cases)], capture_output=True, text=True,
                         timeout=300, env={"PATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])

    assert sorted(results["encoder"]) == ["hidden_states", "last_hidden_state", "pooler_output"]
    for key in ("last_hidden_state", "pooler_output"):
        np.testing.assert_allclose(results["encoder"][key], expected["encoder"][key].numpy(), rtol=0, atol=1e-5)
    stacked = np.stack([h.numpy() for h in expected["encoder"].hidden_states])  # [L+1, B, S, H], as Keras serves
    np.testing.assert_allclose(results["encoder"]["hidden_states"], stacked, rtol=0, atol=1e-5)
    assert list(results["chooser"]) == ["logits"]
    np.testing.assert_allclose(results["chooser"]["logits"], expected["chooser"].logits.numpy(), rtol=0, atol=1e-5)
