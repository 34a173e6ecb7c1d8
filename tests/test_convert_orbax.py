"""Orbax save/restore of params and task models, restored onto a sharding of the 8 simulated devices."""

from __future__ import annotations

import jax
import ml_dtypes
import numpy as np
import pytest
from convert_testing import assert_trees_equal, random_params
from hf_reference import TASK_CLASSES

from rembert_jax.convert import load_orbax, save_orbax
from rembert_jax.convert.orbax_io import orbax_task

TASKS = list(TASK_CLASSES)


@pytest.mark.parametrize("task", TASKS)
def test_ours_to_orbax_to_ours_is_bit_exact(tiny_config, task, tmp_path):
    params = random_params(tiny_config, task)
    save_orbax(tmp_path / "ckpt", tiny_config, params, task=task)
    config, restored = load_orbax(tmp_path / "ckpt")
    assert config == tiny_config
    assert orbax_task(tmp_path / "ckpt") == task
    assert_trees_equal(params, restored)


def test_restore_lays_params_out_on_the_mesh_by_logical_axes(tiny_config, tmp_path):
    from rembert_jax.heads import task_logical_axes
    from rembert_jax.sharding import config_divisors, make_mesh, param_shardings

    params = random_params(tiny_config, "sequence_classification")
    save_orbax(tmp_path / "ckpt", tiny_config, params, task="sequence_classification")
    mesh = make_mesh("fsdp")
    _, restored = load_orbax(tmp_path / "ckpt", mesh=mesh)
    expected = param_shardings(task_logical_axes(tiny_config, "sequence_classification"), params, mesh,
                               divisors=config_divisors(tiny_config))
    for leaf, sharding in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(expected), strict=True):
        assert leaf.sharding.is_equivalent_to(sharding, leaf.ndim)
    kernel = restored["encoder"]["layers"]["mlp"]["intermediate"]["kernel"]  # [L, H=32, I]: H split 8 ways
    assert {s.data.shape for s in kernel.addressable_shards} == {(2, 4, tiny_config.intermediate_size)}
    assert_trees_equal(params, jax.tree_util.tree_map(np.asarray, restored))


def test_sharded_params_save_and_restore_onto_an_explicit_sharding(tiny_config, tmp_path):
    from jax.sharding import NamedSharding, PartitionSpec

    from rembert_jax import logical_axes
    from rembert_jax.sharding import make_mesh, param_shardings

    mesh = make_mesh("tensor")
    params = random_params(tiny_config, "base")
    sharded = jax.device_put(params, param_shardings(logical_axes(tiny_config), params, mesh))
    save_orbax(tmp_path / "ckpt", tiny_config, sharded)
    replicated = NamedSharding(mesh, PartitionSpec())
    _, restored = load_orbax(tmp_path / "ckpt", shardings=replicated)
    assert all(leaf.sharding == replicated for leaf in jax.tree_util.tree_leaves(restored))
    assert_trees_equal(params, jax.tree_util.tree_map(np.asarray, restored))


def test_large_trees_are_saved_in_parts_each_a_plain_orbax_checkpoint(tiny_config, tmp_path):
    import orbax.checkpoint as ocp

    params = random_params(tiny_config, "masked_lm")
    save_orbax(tmp_path / "ckpt", tiny_config, params, task="masked_lm", part_bytes=8 * 1024)
    parts = sorted((tmp_path / "ckpt" / "params").iterdir())
    assert len(parts) > 3
    first = ocp.Checkpointer(ocp.StandardCheckpointHandler()).restore(parts[0])
    leaves = jax.tree_util.tree_leaves_with_path(first)
    assert leaves
    for path, leaf in leaves:
        expected = params
        for key in path:
            expected = expected[key.key]
        np.testing.assert_array_equal(np.asarray(leaf), expected)
    _, restored = load_orbax(tmp_path / "ckpt")
    assert_trees_equal(params, restored)


def test_restore_casts_to_the_requested_dtype(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    save_orbax(tmp_path / "ckpt", tiny_config, params)
    _, restored = load_orbax(tmp_path / "ckpt", dtype="bfloat16")
    word = restored["embeddings"]["word"]
    assert word.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(word), params["embeddings"]["word"].astype(ml_dtypes.bfloat16))


def test_existing_directory_is_not_overwritten_without_force(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    save_orbax(tmp_path / "ckpt", tiny_config, params)
    with pytest.raises(FileExistsError, match=r"ckpt already exists and is not empty .*; pass force=True"):
        save_orbax(tmp_path / "ckpt", tiny_config, params)
    other = random_params(tiny_config, "base", seed=3)
    save_orbax(tmp_path / "ckpt", tiny_config, other, force=True)
    assert_trees_equal(other, load_orbax(tmp_path / "ckpt")[1])


def test_not_an_orbax_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not an orbax RemBERT checkpoint: expected rembert.json and params/"):
        load_orbax(tmp_path)


def test_mismatched_params_are_refused_before_writing(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    params["pooler"]["kernel"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"pooler/kernel is \[3, 3\], expected \[32, 32\]"):
        save_orbax(tmp_path / "ckpt", tiny_config, params)
    assert not (tmp_path / "ckpt").exists()
