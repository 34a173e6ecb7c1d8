"""Sharded training on the 8 simulated CPU devices matches one device, and the arrays really are
laid out as the rules table says.

Each mode runs the trainer's real `make_train_step` (state donated, shardings passed in) for two
steps, with dropout on, from the same initial parameters; losses and final parameters must equal
the single-device run to 1e-5.
"""

import jax
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from rembert_jax import sharding as S
from rembert_jax.heads import TaskModel, task_logical_axes
from rembert_jax.train.state import create_train_state
from rembert_jax.train.step import make_train_step

TASK = "sequence_classification"
STEPS = 2
# Mesh shapes (data, fsdp, tensor) of the three modes, plus all three at once.
MODES = {"data": (8, 1, 1), "fsdp": (1, 8, 1), "tensor": (2, 1, 4), "data_fsdp_tensor": (2, 2, 2)}


@pytest.fixture(scope="module")
def config(tiny_config):
    # The tiny preset with sizes the mesh axes divide (E 18 -> 16, I 37 -> 48, V 99 -> 96), so that
    # every rule actually shards something; the fallback to replication is tested in test_sharding_rules.
    return tiny_config.replace(input_embedding_size=16, intermediate_size=48, vocab_size=96, num_labels=3,
                               hidden_dropout_prob=0.1)


@pytest.fixture(scope="module")
def model(config):
    return TaskModel(config, TASK)


@pytest.fixture(scope="module")
def batches(config):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(STEPS):
        ids = rng.integers(1, config.vocab_size, (8, 12), dtype=np.int32)
        mask = np.ones_like(ids)
        mask[::3, 8:] = 0  # some padding, so the mask takes part
        out.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
                    "labels": rng.integers(0, config.num_labels, (8,), dtype=np.int32)})
    return out


def _optimizer():
    # Adam normalises each gradient, so a near-zero gradient's summation-order noise becomes an
    # lr-sized step either way: lr 1e-3 keeps that under the 1e-5 bar while moving every weight.
    return optax.adamw(1e-3, weight_decay=0.01)


def _train(model, batches, state, step):
    losses = []
    for batch in batches:
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    return state, losses


@pytest.fixture(scope="module")
def single_device(model, batches):
    params = model.init(jax.random.key(0))
    state = create_train_state(params, _optimizer(), jax.random.key_data(jax.random.key(1)))
    step = make_train_step(model, _optimizer(), optax.constant_schedule(1e-3))
    state, losses = _train(model, batches, state, step)
    return jax.device_get(state.params), losses


def _sharded_run(config, model, batches, mesh_shape):
    mesh = S.make_mesh(mesh_shape)
    tx = _optimizer()
    rng = jax.random.key_data(jax.random.key(1))
    # Shapes first, shardings from the logical axes, then a jitted init straight into the layout.
    abstract = jax.eval_shape(lambda r: create_train_state(model.init(jax.random.key(0)), tx, r), rng)
    params_sh = S.param_shardings(task_logical_axes(config, TASK), abstract.params, mesh,
                                  divisors=S.config_divisors(config))
    state_sh = S.tree_shardings_like_params(abstract, params_sh, mesh)
    state = jax.jit(lambda r: create_train_state(model.init(jax.random.key(0)), tx, r),
                    out_shardings=state_sh)(rng)
    batch_sh = jax.sharding.NamedSharding(mesh, S.batch_spec(1))
    step = make_train_step(model, tx, optax.constant_schedule(1e-3), state_sharding=state_sh,
                           batch_sharding=batch_sh)
    placed = [S.shard_batch(b, mesh) for b in batches]
    assert placed[0]["input_ids"].sharding.spec == P(("data", "fsdp"), None)
    return _train(model, placed, state, step)


# The layout the rules table prescribes for a few representative leaves, per mode.
EXPECTED_SPECS = {
    "data": {("encoder", "layers", "mlp", "intermediate", "kernel"): P(),
             ("encoder", "embeddings", "word"): P()},
    "fsdp": {("encoder", "layers", "self_attention", "query", "kernel"): P(None, "fsdp"),
             ("encoder", "layers", "mlp", "output", "kernel"): P(None, None, "fsdp"),
             ("encoder", "embeddings", "word"): P(None, "fsdp"),
             ("head", "classifier", "kernel"): P("fsdp")},
    "tensor": {("encoder", "layers", "self_attention", "query", "kernel"): P(None, None, "tensor"),
               ("encoder", "layers", "self_attention", "output", "kernel"): P(None, "tensor"),
               ("encoder", "layers", "mlp", "intermediate", "kernel"): P(None, None, "tensor"),
               ("encoder", "embeddings", "word"): P("tensor"),
               ("encoder", "pooler", "kernel"): P(None, "tensor")},
    "data_fsdp_tensor": {("encoder", "layers", "mlp", "intermediate", "kernel"): P(None, "fsdp", "tensor"),
                         ("encoder", "embeddings", "word"): P("tensor", "fsdp")},
}


def _leaf(tree, path):
    for key in path:
        tree = tree[key]
    return tree


@pytest.mark.parametrize("mode", list(MODES))
def test_sharded_training_matches_one_device_and_uses_the_rules_layout(config, model, batches, single_device,
                                                                       mode):
    state, losses = _sharded_run(config, model, batches, MODES[mode])
    ref_params, ref_losses = single_device
    np.testing.assert_allclose(losses, ref_losses, atol=1e-5, rtol=0)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, atol=1e-5, rtol=0),
                           state.params, ref_params)

    adam = state.opt_state[0]  # adamw = chain(scale_by_adam, add_decayed_weights, scale_by_lr)
    for path, spec in EXPECTED_SPECS[mode].items():
        assert _leaf(state.params, path).sharding.spec == spec, (mode, path)
        # Adam's moments live exactly where their parameters do (FSDP shards optimizer state too).
        assert _leaf(adam.mu, path).sharding.spec == spec, (mode, path)
        assert _leaf(adam.nu, path).sharding.spec == spec, (mode, path)
    assert state.step.sharding.spec == P() and adam.count.sharding.spec == P()
    if mode == "fsdp":  # each device holds 1/8 of a sharded parameter
        kernel = _leaf(state.params, ("encoder", "layers", "mlp", "output", "kernel"))
        assert kernel.addressable_shards[0].data.shape == (2, 48, 32 // 8)


@pytest.mark.parametrize("mode", ["fsdp", "tensor"])
def test_sharded_inference_matches_one_device(config, model, batches, mode):
    from rembert_jax.train.step import make_eval_step

    params = model.init(jax.random.key(0))
    expected = make_eval_step(model)(params, batches[0])
    mesh = S.make_mesh(MODES[mode])
    params_sh = S.param_shardings(task_logical_axes(config, TASK), params, mesh, divisors=S.config_divisors(config))
    step = make_eval_step(model, params_sharding=params_sh,
                          batch_sharding=jax.sharding.NamedSharding(mesh, S.batch_spec(1)))
    got = step(jax.device_put(params, params_sh), S.shard_batch(batches[0], mesh))
    for key in ("loss", "logits"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(expected[key]), atol=1e-5, rtol=0)
