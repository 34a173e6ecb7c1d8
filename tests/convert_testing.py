"""Helpers shared by the tests/test_convert_*.py files (random params of every task, tree equality)."""

from __future__ import annotations

import jax
import numpy as np

from rembert_jax import init_params


def random_params(config, task, seed=0):
    """Our params for `task` ("base" = bare encoder) with every leaf random (biases and LayerNorms
    too, so parity can't pass on zeros and ones), as numpy arrays."""
    from rembert_jax.heads import TaskModel

    rng = jax.random.PRNGKey(seed)
    params = init_params(config, rng) if task == "base" else TaskModel(config, task).init(rng)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    noise = np.random.default_rng(seed)
    leaves = [np.asarray(x) + np.float32(0.05) * noise.standard_normal(x.shape, np.float32) for x in leaves]
    return jax.tree_util.tree_unflatten(treedef, leaves)


def assert_trees_equal(a, b):
    """Same structure, dtypes and bits."""
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
