"""The trainer's fresh state is created straight into the sharded layout (`Placement.create_state`):
params and optimizer state come out of the init jit already split as the rules say, with the
values a single-device init gives."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from rembert_jax.heads import TaskModel
from rembert_jax.train.placement import make_placement
from rembert_jax.train.run_config import MeshSection
from rembert_jax.train.state import abstract_train_state, create_train_state

TASK = "sequence_classification"


@pytest.fixture(scope="module")
def setup(tiny_config):
    config = tiny_config.replace(input_embedding_size=16, intermediate_size=48, vocab_size=96)  # fsdp=8 divides E
    model = TaskModel(config, TASK)
    tx = optax.adamw(1e-3)
    init_rng, rng = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    abstract = abstract_train_state(jax.eval_shape(model.init, init_rng), tx, rng)
    placement = make_placement(MeshSection(fsdp=8), config=config, task=TASK, abstract_state=abstract)
    reference = create_train_state(model.init(init_rng), tx, rng)  # one device
    return model, tx, init_rng, rng, placement, reference


def _check_layout_and_values(state, placement, reference):
    word = state.params["encoder"]["embeddings"]["word"]  # [V, E]: E on "fsdp"
    assert "fsdp" in str(word.sharding.spec) and len(word.addressable_shards) == 8
    assert word.addressable_shards[0].data.shape == (96, 2)  # each device holds 1/8 of E
    jax.tree_util.tree_map(lambda x, s: x.sharding.is_equivalent_to(s, x.ndim) or pytest.fail(f"{x.sharding} != {s}"),
                           state, placement.state)
    mu = state.opt_state[0].mu["encoder"]["embeddings"]["word"]  # Adam's first moment follows its parameter
    assert mu.sharding.is_equivalent_to(word.sharding, 2)
    # The same random draws, equal up to float32 rounding: XLA may fuse the sharded program's scaling
    # of the draws differently (jax 0.12 differs from the one-device program by 1 ulp, 7.5e-9).
    # Another draw would differ by O(1) relatively.
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=0), state, reference)


def test_state_from_scratch_is_initialised_sharded(setup):
    model, tx, init_rng, rng, placement, reference = setup
    state = placement.create_state(tx, rng, init=model.init, init_rng=init_rng)
    _check_layout_and_values(state, placement, reference)


def test_state_from_host_weights_is_placed_shard_by_shard(setup):
    model, tx, init_rng, rng, placement, reference = setup
    host = jax.device_get(model.init(init_rng))
    state = placement.create_state(tx, rng, params=host)
    _check_layout_and_values(state, placement, reference)


def test_create_state_needs_exactly_one_source(setup):
    model, tx, init_rng, rng, placement, _ = setup
    with pytest.raises(ValueError, match="exactly one of params"):
        placement.create_state(tx, rng)
