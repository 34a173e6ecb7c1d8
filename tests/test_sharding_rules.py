"""The rules table turns logical axes into PartitionSpecs: fallbacks, conflicts, errors."""

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from rembert_jax import init_params, logical_axes
from rembert_jax import sharding as S


@pytest.fixture(scope="module")
def meshes():
    return {"data": S.make_mesh("data"), "fsdp": S.make_mesh("fsdp"), "tensor": S.make_mesh("tensor"),
            "2x2x2": S.make_mesh((2, 2, 2)), "fsdp2_tensor4": S.make_mesh((1, 2, 4))}


def test_each_parallelism_puts_all_devices_on_its_axis(meshes):
    assert dict(meshes["data"].shape) == {"data": 8, "fsdp": 1, "tensor": 1}
    assert dict(meshes["fsdp"].shape) == {"data": 1, "fsdp": 8, "tensor": 1}
    assert dict(meshes["tensor"].shape) == {"data": 1, "fsdp": 1, "tensor": 8}
    assert all(t == jax.sharding.AxisType.Auto for t in meshes["2x2x2"].axis_types)


def test_mesh_and_parallelism_errors_name_the_problem():
    with pytest.raises(ValueError, match="needs 16 devices, but 8"):
        S.make_mesh((4, 4, 1))
    with pytest.raises(ValueError, match="three positive sizes"):
        S.make_mesh((8, 1))
    with pytest.raises(ValueError, match="parallelism must be one of"):
        S.make_mesh("pipeline")


def test_data_parallel_replicates_every_parameter(meshes):
    assert S.logical_to_spec(("layers", "embed", "heads"), (2, 32, 32), meshes["data"]) == P()


def test_dimension_not_divisible_by_its_mesh_axis_is_replicated(meshes):
    # mlp -> tensor, but 37 rows don't split over 8 devices
    assert S.logical_to_spec(("embed", "mlp"), (32, 37), meshes["tensor"]) == P()
    assert S.logical_to_spec(("embed", "mlp"), (32, 40), meshes["tensor"]) == P(None, "tensor")


def test_heads_are_split_only_by_whole_heads(meshes):
    mesh = meshes["tensor"]  # 8-way
    # 32 columns split 8 ways, but 4 heads can't be: a head would be cut in half
    assert S.logical_to_spec(("embed", "heads"), (32, 32), mesh, divisors={"heads": 4}) == P()
    assert S.logical_to_spec(("embed", "heads"), (32, 32), mesh, divisors={"heads": 8}) == P(None, "tensor")


def test_a_mesh_axis_is_used_once_per_array(meshes):
    # projection [E, H]: embed_in and embed both map to fsdp; the first dimension takes it
    assert S.logical_to_spec(("embed_in", "embed"), (16, 32), meshes["fsdp"]) == P("fsdp")
    # when the first can't (18 % 8), the second does
    assert S.logical_to_spec(("embed_in", "embed"), (18, 32), meshes["fsdp"]) == P(None, "fsdp")


def test_batch_splits_over_data_and_fsdp_together(meshes):
    assert S.logical_to_spec(("batch", "length"), (8, 16), meshes["2x2x2"]) == P(("data", "fsdp"))
    assert S.batch_spec(2) == P(("data", "fsdp"), None)


def test_unknown_logical_axis_and_rank_mismatch_raise(meshes):
    with pytest.raises(ValueError, match="logical axis 'experts' has no sharding rule"):
        S.logical_to_spec(("experts",), (8,), meshes["data"])
    with pytest.raises(ValueError, match="do not match shape"):
        S.logical_to_spec(("embed",), (8, 8), meshes["data"])


def test_batch_not_divisible_by_data_devices_raises_before_placement(meshes):
    batch = {"input_ids": np.zeros((6, 4), np.int32)}
    with pytest.raises(ValueError, match=r"6 rows, not divisible by the 8 data-parallel devices"):
        S.shard_batch(batch, meshes["data"])


def test_full_size_rembert_layout_under_fsdp_and_tensor_parallelism(meshes):
    """Zero-FLOP check on the real model: what each mode does to the big matrices."""
    from rembert_jax import RemBertConfig

    config = RemBertConfig.from_preset("rembert")
    shapes = jax.eval_shape(lambda r: init_params(config, r), jax.random.key(0))
    specs = S.param_specs(logical_axes(config), shapes, meshes["fsdp2_tensor4"],
                          divisors=S.config_divisors(config))
    layers = specs["layers"]
    assert specs["embeddings"]["word"] == P("tensor", "fsdp")  # 250300 % 4 == 0; E = 256 on fsdp
    assert layers["mlp"]["intermediate"]["kernel"] == P(None, "fsdp", "tensor")
    assert layers["mlp"]["output"]["kernel"] == P(None, "tensor", "fsdp")
    # 18 heads don't split 4 ways, so q/k/v only get fsdp
    assert layers["self_attention"]["query"]["kernel"] == P(None, "fsdp")


def test_optimizer_state_follows_its_parameters_and_counters_are_replicated(tiny_config, meshes):
    import optax

    mesh = meshes["fsdp"]
    config = tiny_config.replace(input_embedding_size=16)
    shapes = jax.eval_shape(lambda r: init_params(config, r), jax.random.key(0))
    params_sh = S.param_shardings(logical_axes(config), shapes, mesh)
    opt_shapes = jax.eval_shape(optax.adamw(1e-3).init, shapes)
    opt_sh = S.tree_shardings_like_params(opt_shapes, params_sh, mesh)
    adam = opt_sh[0]
    assert adam.mu["layers"]["mlp"]["intermediate"]["kernel"].spec == P(None, "fsdp")
    assert adam.nu["embeddings"]["word"].spec == P(None, "fsdp")
    assert adam.count.spec == P()
