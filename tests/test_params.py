"""Encoder parameters: the tree, its logical axes, the reference initialisation, the full size."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rembert_jax import RemBertConfig, init_params, logical_axes
from rembert_jax.params import count_params


def test_full_preset_has_exactly_the_released_parameter_count():
    config = RemBertConfig.from_preset("rembert")
    shapes = jax.eval_shape(lambda key: init_params(config, key), jax.random.key(0))  # no memory used
    assert count_params(shapes) == 575_920_384  # spec §1.3: RemBertModel with pooler
    assert shapes["embeddings"]["word"].shape == (250300, 256)
    assert shapes["layers"]["self_attention"]["query"]["kernel"].shape == (32, 1152, 1152)
    without_pooler = jax.eval_shape(lambda key: init_params(config, key, add_pooling_layer=False),
                                    jax.random.key(0))
    assert count_params(shapes) - count_params(without_pooler) == 1152 * 1152 + 1152


@pytest.mark.parametrize("decoder", [False, True], ids=["encoder", "decoder_with_cross_attention"])
def test_tiny_tree_has_as_many_parameters_as_transformers(tiny_config, decoder):
    from hf_reference import hf_model

    config = tiny_config.replace(is_decoder=True, add_cross_attention=True) if decoder else tiny_config
    shapes = jax.eval_shape(lambda key: init_params(config, key), jax.random.key(0))
    theirs = sum(p.numel() for p in hf_model(config).parameters())
    assert count_params(shapes) == theirs
    assert ("cross_attention" in shapes["layers"]) == decoder


def test_logical_axes_name_every_dimension(tiny_config):
    config = tiny_config.replace(is_decoder=True, add_cross_attention=True)
    shapes = jax.eval_shape(lambda key: init_params(config, key), jax.random.key(0))
    axes = logical_axes(config)
    flat_shapes = jax.tree_util.tree_leaves_with_path(shapes)
    flat_axes = jax.tree_util.tree_leaves_with_path(axes, is_leaf=lambda x: isinstance(x, tuple))
    assert [p for p, _ in flat_shapes] == [p for p, _ in flat_axes]
    for (path, shape), (_, names) in zip(flat_shapes, flat_axes, strict=True):
        assert len(names) == len(shape.shape), jax.tree_util.keystr(path)
    assert axes["embeddings"]["word"] == ("vocab", "embed_in")
    assert axes["layers"]["mlp"]["intermediate"]["kernel"] == ("layers", "embed", "mlp")


def test_initialisation_follows_the_reference():
    config = RemBertConfig.from_preset("tiny").replace(hidden_size=128, intermediate_size=512,
                                                       num_attention_heads=4)
    params = jax.jit(lambda key: init_params(config, key))(jax.random.key(0))
    word = np.asarray(params["embeddings"]["word"])
    assert not word[config.pad_token_id].any()  # padding row zeroed, like nn.Embedding(padding_idx)
    kernel = np.asarray(params["layers"]["mlp"]["intermediate"]["kernel"])
    assert abs(kernel.std() - 0.02) < 1e-3 and abs(kernel.mean()) < 1e-3  # normal(0, initializer_range)
    assert not np.asarray(params["layers"]["mlp"]["intermediate"]["bias"]).any()
    np.testing.assert_array_equal(params["layers"]["self_attention"]["ln"]["scale"], 1.0)
    assert not np.asarray(params["embeddings"]["ln"]["bias"]).any()
    # every layer of the stack is drawn independently
    assert not np.allclose(kernel[0], kernel[1])
