"""A jitted apply on a batch sharded over the 8 simulated CPU devices equals the unsharded result."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from rembert_jax import init_params
from rembert_jax.encoder import apply


@pytest.fixture(scope="module")
def params(tiny_config):
    return jax.jit(lambda k: init_params(tiny_config, k))(jax.random.key(0))


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto])
def test_batch_sharded_apply_equals_unsharded(tiny_config, params, axis_type):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, tiny_config.vocab_size, (16, 12)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[3, 7:] = 0
    types = rng.integers(0, 2, ids.shape).astype(np.int32)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    mesh = jax.make_mesh((8,), ("data",), axis_types=(axis_type,))
    data = NamedSharding(mesh, P("data"))
    forward = jax.jit(lambda p, b: apply(p, b, config=tiny_config))
    with jax.set_mesh(mesh):
        out = forward(jax.device_put(params, NamedSharding(mesh, P())), jax.device_put(batch, data))

    assert out["last_hidden_state"].sharding.is_equivalent_to(data, 3)  # stays batch-sharded
    ref = apply(params, batch, config=tiny_config)
    np.testing.assert_allclose(out["last_hidden_state"], ref["last_hidden_state"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["pooler_output"], ref["pooler_output"], rtol=0, atol=1e-6)
