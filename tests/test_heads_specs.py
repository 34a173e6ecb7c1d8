"""The head parameter table: the Flax modules create exactly the tree `head_specs` declares (the
contract's names and shapes), logical axes cover every leaf, initialisation is the reference's,
and the encoder has a pooler exactly when transformers' class does."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rembert_jax.heads import TASK_POOLER, TASKS, TaskModel, head_specs, task_logical_axes, task_specs
from rembert_jax.params import ParamSpec

H, OUT, V = 32, 43, 99  # the tiny preset (OUT: output_embedding_size)


def _shapes(tree):
    return jax.tree_util.tree_map(lambda x: tuple(x.shape), tree, is_leaf=lambda x: isinstance(x, ParamSpec))


def test_head_trees_are_the_contract(tiny_config):
    lm = {"dense": {"kernel": (H, OUT), "bias": (OUT,)}, "ln": {"scale": (OUT,), "bias": (OUT,)},
          "decoder": {"kernel": (OUT, V), "bias": (V,)}}
    expected = {
        "masked_lm": lm,
        "causal_lm": lm,
        "sequence_classification": {"classifier": {"kernel": (H, 2), "bias": (2,)}},
        "multiple_choice": {"classifier": {"kernel": (H, 1), "bias": (1,)}},
        "token_classification": {"classifier": {"kernel": (H, 2), "bias": (2,)}},
        "question_answering": {"qa_outputs": {"kernel": (H, 2), "bias": (2,)}},
    }
    for task in TASKS:
        assert _shapes(head_specs(tiny_config, task)) == expected[task], task


@pytest.mark.parametrize("task", TASKS)
def test_init_creates_exactly_the_specified_tree(tiny_config, task):
    params = jax.eval_shape(TaskModel(tiny_config, task).init, jax.random.key(0))
    assert _shapes(params) == _shapes(task_specs(tiny_config, task))
    axes = task_logical_axes(tiny_config, task)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(axes, is_leaf=lambda x:
                                                                                 isinstance(x, tuple))
    for leaf, names in zip(jax.tree_util.tree_leaves(params),
                           jax.tree_util.tree_leaves(axes, is_leaf=lambda x: isinstance(x, tuple)), strict=True):
        assert len(names) == leaf.ndim


def test_head_axes_use_the_head_axis_names(tiny_config):
    axes = task_logical_axes(tiny_config, "masked_lm")["head"]
    assert axes == {"dense": {"kernel": ("embed", "embed_out"), "bias": ("embed_out",)},
                    "ln": {"scale": ("embed_out",), "bias": ("embed_out",)},
                    "decoder": {"kernel": ("embed_out", "vocab"), "bias": ("vocab",)}}
    assert task_logical_axes(tiny_config, "token_classification")["head"]["classifier"]["kernel"] == ("embed", "labels")


def test_head_specs_agree_with_the_conversion_name_table(tiny_config):
    from rembert_jax.convert.names import head_shapes

    for task in TASKS:
        assert _shapes(head_specs(tiny_config, task)) == head_shapes(tiny_config, task), task


def test_heads_are_initialised_like_transformers(tiny_config):
    config = tiny_config.replace(vocab_size=2000, initializer_range=0.05)  # enough weights to estimate the std
    head = TaskModel(config, "masked_lm").init_head(jax.random.key(0))
    for name in ("dense", "decoder"):
        kernel = np.asarray(head[name]["kernel"])
        assert abs(kernel.mean()) < 0.005 and abs(kernel.std() - 0.05) < 0.005, name
        assert np.abs(kernel).max() > 2 * 0.05  # normal, not truncated at 2 std
        np.testing.assert_array_equal(head[name]["bias"], 0)
    np.testing.assert_array_equal(head["ln"]["scale"], 1)
    np.testing.assert_array_equal(head["ln"]["bias"], 0)


def test_encoder_pooler_follows_transformers_classes(tiny_config):
    from tests.hf_reference import hf_model

    for task in TASKS:
        config = tiny_config.replace(is_decoder=task == "causal_lm")
        assert (hf_model(config, task).rembert.pooler is not None) == TASK_POOLER[task], task
    assert TASK_POOLER["base"]


def test_unknown_tasks_are_rejected(tiny_config):
    assert head_specs(tiny_config, "base") == {}
    with pytest.raises(ValueError, match=r"task must be one of \('masked_lm', 'causal_lm'"):
        head_specs(tiny_config, "seq_cls")
