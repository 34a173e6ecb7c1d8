"""The train step and optimizer: accumulation, one trace, masks, layer-wise decay, mixed precision, sharding."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax.heads import TaskModel
from rembert_jax.train.optim import decay_mask, layer_decay_multipliers, make_optimizer, make_schedule
from rembert_jax.train.run_config import OptimSection
from rembert_jax.train.state import create_train_state
from rembert_jax.train.step import make_eval_step, make_train_step


def _batch(config, rows: int, seed: int = 0, length: int = 8) -> dict[str, np.ndarray]:
    rs = np.random.RandomState(seed)
    return {"input_ids": rs.randint(3, config.vocab_size, size=(rows, length)).astype(np.int32),
            "attention_mask": np.ones((rows, length), np.int32),
            "labels": rs.randint(0, config.num_labels, size=rows).astype(np.int32)}


@pytest.fixture(scope="module")
def setup(tiny_config):
    config = tiny_config.replace(classifier_dropout_prob=0.0, num_labels=3)
    model = TaskModel(config, "sequence_classification")
    return config, model, model.init(jax.random.PRNGKey(0))


@functools.cache
def _compiled(model, optim, dropout):
    """One optimizer and jitted step per (model, optimizer settings, dropout): tests that share them
    share the compilation too (the optimizer depends on the params only through their tree)."""
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    tx, schedule = make_optimizer(optim, params, total_steps=10, num_layers=model.config.num_hidden_layers)
    return tx, make_train_step(model, tx, schedule, grad_accum_steps=optim.grad_accum_steps, dropout=dropout)


def _run(model, params, optim, batches, *, dropout=False):
    tx, step = _compiled(model, optim, dropout)
    state = create_train_state(jax.tree_util.tree_map(jnp.copy, params), tx, jax.random.PRNGKey(1))
    metrics = []
    for batch in batches:
        state, m = step(state, batch)
        metrics.append(m)
    return state, jax.device_get(metrics)


def test_accumulating_k_micro_batches_equals_one_step_on_the_k_times_larger_batch(setup):
    config, model, params = setup
    k, rows = 4, 2
    big = [_batch(config, k * rows, seed=s) for s in range(2)]
    micro = [{key: v[i * rows:(i + 1) * rows] for key, v in b.items()} for b in big for i in range(k)]
    # Adam divides by sqrt(v) + eps: with the default eps a gradient entry near 1e-8 turns float
    # rounding of the summation order into lr-sized steps; eps=1e-3 keeps the check about accumulation.
    optim = OptimSection(learning_rate=1e-2, warmup_steps=0, max_grad_norm=1.0, eps=1e-3)

    one, one_metrics = _run(model, params, optim, big)
    accumulated, micro_metrics = _run(model, params, OptimSection(**{**optim.__dict__, "grad_accum_steps": k}), micro)
    # the last micro-step of each cycle reports the norm of the accumulated (applied) gradient
    for step in range(2):
        np.testing.assert_allclose(micro_metrics[(step + 1) * k - 1]["grad_norm"], one_metrics[step]["grad_norm"],
                                   rtol=1e-5)

    assert int(accumulated.step) == 2 * k
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=0),
                           one.params, accumulated.params)
    moved = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree_util.tree_leaves(one.params),
                                                           jax.tree_util.tree_leaves(params), strict=True))
    assert moved > 1e-3  # two real updates happened


def test_train_step_traces_once_and_donates_the_state(setup):
    config, model, params = setup
    traces = []

    class Counting:
        def loss(self, p, batch, *, rng=None):
            traces.append(1)  # runs only while tracing
            return model.loss(p, batch, rng=rng)

    optim = OptimSection(learning_rate=1e-3)
    tx, schedule = make_optimizer(optim, params, total_steps=10, num_layers=2)
    state = create_train_state(jax.tree_util.tree_map(jnp.copy, params), tx, jax.random.PRNGKey(1))
    step = make_train_step(Counting(), tx, schedule)
    first = state
    for seed in range(3):
        state, _ = step(state, _batch(config, 4, seed))
    assert len(traces) == 1
    assert first.params["head"]["classifier"]["kernel"].is_deleted()  # donated: its buffer was reused


def test_dropout_key_depends_on_the_step_only(setup):
    config, model, params = setup
    model = TaskModel(config.replace(hidden_dropout_prob=0.3), "sequence_classification")
    batches = [_batch(config, 4, s) for s in range(3)]
    optim = OptimSection(learning_rate=1e-3)
    _, with_dropout = _run(model, params, optim, batches, dropout=True)
    _, again = _run(model, params, optim, batches, dropout=True)
    _, without = _run(model, params, optim, batches, dropout=False)
    assert [m["loss"] for m in with_dropout] == [m["loss"] for m in again]
    assert with_dropout[0]["loss"] != without[0]["loss"]


def test_weight_decay_skips_biases_and_layer_norms(setup):
    _, _, params = setup
    mask = decay_mask(params)
    assert mask["encoder"]["layers"]["self_attention"]["query"]["kernel"] is True
    assert mask["encoder"]["embeddings"]["word"] is True
    assert mask["head"]["classifier"]["kernel"] is True
    assert mask["encoder"]["layers"]["self_attention"]["query"]["bias"] is False
    assert mask["encoder"]["layers"]["mlp"]["ln"]["scale"] is False
    assert mask["encoder"]["embeddings"]["ln"]["bias"] is False


def test_layer_decay_scales_each_stacked_layer(setup):
    _, _, params = setup  # L = 2: embeddings depth 0, layers 1..2, pooler 3, head 4
    m = layer_decay_multipliers(params, 0.5, num_layers=2)
    np.testing.assert_allclose(np.ravel(m["encoder"]["layers"]["mlp"]["output"]["kernel"]), [0.125, 0.25])
    assert m["encoder"]["layers"]["mlp"]["output"]["kernel"].shape == (2, 1, 1)
    assert float(m["encoder"]["embeddings"]["word"]) == 0.5**4
    assert float(m["encoder"]["pooler"]["kernel"]) == 0.5
    assert float(m["head"]["classifier"]["kernel"]) == 1.0


def test_layer_decay_slows_the_lower_layers(setup):
    config, model, params = setup
    batches = [_batch(config, 4, 0)]
    plain, _ = _run(model, params, OptimSection(learning_rate=1e-2, weight_decay=0.0), batches)
    decayed, _ = _run(model, params, OptimSection(learning_rate=1e-2, weight_decay=0.0, layer_decay=0.5), batches)
    before = params["encoder"]["layers"]["mlp"]["output"]["kernel"]
    d_plain = plain.params["encoder"]["layers"]["mlp"]["output"]["kernel"] - before
    d_decayed = decayed.params["encoder"]["layers"]["mlp"]["output"]["kernel"] - before
    np.testing.assert_allclose(d_decayed, d_plain * np.array([0.125, 0.25])[:, None, None], rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("name", ["linear", "cosine", "constant"])
def test_schedule_warms_up_from_zero_then_decays(name):
    schedule = make_schedule(OptimSection(learning_rate=1.0, warmup_steps=4, schedule=name), total_steps=12)
    assert float(schedule(0)) == 0.0
    assert float(schedule(2)) == pytest.approx(0.5)
    assert float(schedule(4)) == pytest.approx(1.0)
    assert float(schedule(12)) == pytest.approx(1.0 if name == "constant" else 0.0, abs=1e-6)


def test_bf16_compute_keeps_fp32_master_weights(setup):
    config, _, params = setup
    model = TaskModel(config, "sequence_classification", "bf16")
    state, metrics = _run(model, params, OptimSection(learning_rate=1e-3), [_batch(config, 4, 0)])
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(state.params))
    assert metrics[0]["loss"].dtype == np.float32 and np.isfinite(metrics[0]["loss"])


def test_data_parallel_step_matches_one_device(setup):
    from rembert_jax.train.placement import make_placement
    from rembert_jax.train.run_config import MeshSection
    from rembert_jax.train.state import abstract_train_state

    config, model, params = setup
    optim = OptimSection(learning_rate=1e-2, warmup_steps=0, max_grad_norm=1.0, eps=1e-3)  # eps: see accumulation
    batches = [_batch(config, 8, s) for s in range(2)]
    single, _ = _run(model, params, optim, batches)

    tx, schedule = make_optimizer(optim, params, total_steps=10, num_layers=2)
    abstract = abstract_train_state(params, tx, jax.random.PRNGKey(1))  # the same tx as _compiled's
    placement = make_placement(MeshSection(data=4, fsdp=2), config=config, task=model.task, abstract_state=abstract)
    state = jax.device_put(create_train_state(jax.tree_util.tree_map(jnp.copy, params), tx, jax.random.PRNGKey(1)),
                           placement.state)
    step = make_train_step(model, tx, schedule, state_sharding=placement.state, batch_sharding=placement.batch)
    for batch in batches:
        state, _ = step(state, placement.put_batch(batch))
    assert len(state.params["encoder"]["embeddings"]["word"].sharding.device_set) == 8
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), single.params, state.params)

    outputs = make_eval_step(model, params_sharding=placement.params, batch_sharding=placement.batch)(
        state.params, placement.put_batch(batches[0]))
    assert outputs["logits"].shape == (8, 3) and np.isfinite(float(outputs["loss"]))
