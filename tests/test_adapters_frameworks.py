"""Framework in, framework out, and one compilation per input shape."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rembert_jax
from rembert_jax.adapters import _compute as _adapter_compute

IDS = [[5, 6, 7, 8, 9], [1, 2, 3, 4, 0]]
MASK = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]


@pytest.fixture(scope="module")
def classifier(tiny_config):
    return rembert_jax.RemBertForSequenceClassification(tiny_config.replace(num_labels=3), seed=0).eval()


def test_numpy_and_lists_in_give_numpy_out(classifier):
    from_lists = classifier(input_ids=IDS, attention_mask=MASK)
    from_numpy = classifier(input_ids=np.array(IDS), attention_mask=np.array(MASK))
    assert type(from_lists.logits) is np.ndarray and from_lists.logits.shape == (2, 3)
    np.testing.assert_array_equal(from_lists.logits, from_numpy.logits)


def test_jax_in_gives_jax_out(classifier):
    out = classifier(input_ids=jnp.asarray(IDS), attention_mask=jnp.asarray(MASK), labels=jnp.asarray([0, 2]))
    assert isinstance(out.logits, jax.Array) and isinstance(out.loss, jax.Array)


def test_torch_in_gives_torch_out(classifier):
    torch = pytest.importorskip("torch")
    out = classifier(input_ids=torch.tensor(IDS), attention_mask=torch.tensor(MASK), labels=torch.tensor([0, 2]),
                     output_hidden_states=True)
    assert isinstance(out.logits, torch.Tensor) and out.logits.dtype == torch.float32
    assert isinstance(out.loss, torch.Tensor) and out.loss.shape == ()
    assert all(isinstance(h, torch.Tensor) for h in out.hidden_states)
    expected = classifier(input_ids=np.array(IDS), attention_mask=np.array(MASK)).logits
    np.testing.assert_array_equal(out.logits.numpy(), expected)


def test_tensorflow_in_gives_tensorflow_out(tiny_config):
    tf = pytest.importorskip("tensorflow")
    model = rembert_jax.TFRemBertForTokenClassification(tiny_config, seed=0)
    out = model({"input_ids": tf.constant(IDS), "attention_mask": tf.constant(MASK)},
                labels=tf.constant([[0, 1, 1, 0, -100], [1, 1, 0, 0, -100]]))
    assert isinstance(out.logits, tf.Tensor) and tuple(out.logits.shape) == (2, 5, 2)
    assert isinstance(out.loss, tf.Tensor) and tuple(out.loss.shape) == (1,)
    np.testing.assert_array_equal(out.logits.numpy(), model(np.array(IDS), np.array(MASK)).logits)


def test_repeated_calls_of_one_shape_compile_once(tiny_config):
    model = rembert_jax.RemBertForMaskedLM(tiny_config.replace(hidden_dropout_prob=0.05), seed=1).eval()
    before = sum(_adapter_compute.TRACE_COUNTS.values())
    rng = np.random.default_rng(0)
    for _ in range(4):
        model(input_ids=rng.integers(1, 99, (2, 6)), labels=rng.integers(0, 99, (2, 6)))
    assert sum(_adapter_compute.TRACE_COUNTS.values()) - before == 1
    for _ in range(3):  # a new shape compiles once more, then is reused too
        model(input_ids=rng.integers(1, 99, (3, 4)), labels=rng.integers(0, 99, (3, 4)))
    assert sum(_adapter_compute.TRACE_COUNTS.values()) - before == 2
    model.train()  # dropout: a new compiled function, reused across calls (fresh rng each call)
    first = model(input_ids=np.ones((2, 6), int)).logits
    second = model(input_ids=np.ones((2, 6), int)).logits
    assert sum(_adapter_compute.TRACE_COUNTS.values()) - before == 3
    assert not np.array_equal(first, second)


def test_import_does_not_pull_in_torch_or_tensorflow():
    # (the TF-API classes answer in tf.Tensors, so they import TensorFlow by design)
    code = ("import sys, numpy as np, rembert_jax\n"
            "from rembert_jax import adapters\n"
            "config = rembert_jax.RemBertConfig.from_preset('tiny')\n"
            "rembert_jax.RemBertModel(config)(np.ones((1, 3), 'int32'))\n"
            "rembert_jax.RemBertForMaskedLM(config)([[1, 2, 3]], labels=[[1, 2, 3]])\n"
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules, sorted(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""})


def test_half_precision_outputs_reach_torch_as_bfloat16(tiny_config):
    torch = pytest.importorskip("torch")
    model = rembert_jax.RemBertModel(tiny_config, policy="bf16", seed=2).eval()
    out = model(torch.tensor(IDS), output_hidden_states=True)
    assert out.last_hidden_state.dtype == torch.bfloat16 and out.hidden_states[0].dtype == torch.bfloat16
    reference = rembert_jax.RemBertModel(tiny_config, model.params, seed=2).eval()(np.array(IDS))
    np.testing.assert_allclose(out.last_hidden_state.float().numpy(), reference.last_hidden_state, atol=0.1)
