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


def example_batch(config, task):
    """Inputs for `task` with padding and token types ([B, C, S] for multiple choice)."""
    rng = np.random.default_rng(0)
    shape = (2, 3, 7) if task == "multiple_choice" else (2, 7)
    ids = rng.integers(1, config.vocab_size, shape)
    mask = np.ones(shape, np.int64)
    mask[..., 0, -2:] = 0
    types = rng.integers(0, config.type_vocab_size, shape)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def our_outputs(config, task, params, batch):
    """Our outputs under the names transformers uses for `task`."""
    if task == "base":
        from rembert_jax import apply

        out = apply(params, batch, config=config)
        return {"last_hidden_state": out["last_hidden_state"], "pooler_output": out["pooler_output"]}
    from rembert_jax.heads import TaskModel

    out = TaskModel(config, task).apply(params, batch)
    keys = ("start_logits", "end_logits") if task == "question_answering" else ("logits",)
    return {k: out[k] for k in keys}
