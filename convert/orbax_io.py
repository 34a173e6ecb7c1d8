"""Orbax checkpoints of params (bare encoder or task model), restored straight onto a sharding.

A checkpoint directory holds two orbax items: `params` (the array tree, `StandardSave`) and
`rembert` (JSON: the config and the task), so `load_orbax(dir)` needs nothing else. Restoring
builds the target as `jax.ShapeDtypeStruct`s carrying the requested shardings (e.g. from the
logical axes on a mesh), so each device reads only its own slice from disk: the full model is
never materialised on one device or on the host.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from rembert_jax.config import RemBertConfig

from .names import BASE, name_table
from .pytorch_save import resolve_task

_PARAMS_ITEM = "params"
_META_ITEM = "rembert"


def _checkpointer():
    import orbax.checkpoint as ocp

    registry = ocp.handlers.DefaultCheckpointHandlerRegistry()
    for args in (ocp.args.StandardSave, ocp.args.StandardRestore):
        registry.add(_PARAMS_ITEM, args, ocp.StandardCheckpointHandler)
    for args in (ocp.args.JsonSave, ocp.args.JsonRestore):
        registry.add(_META_ITEM, args, ocp.JsonCheckpointHandler)
    return ocp, ocp.Checkpointer(ocp.CompositeCheckpointHandler(handler_registry=registry))


def save_orbax(directory: str | os.PathLike, config: RemBertConfig, params: dict, *, task: str | None = None,
               force: bool = False) -> str:
    """Save `params` (sharded or not) and the config/task to `directory` (written atomically by orbax:
    a temporary directory renamed when complete). `force` replaces an existing checkpoint."""
    task = resolve_task(params, task, config)
    encoder = params["encoder"] if task != BASE else params
    from .assemble import check_no_extra_leaves, stored_tensors

    names = name_table(config, task, add_pooling_layer="pooler" in encoder)
    stored_tensors(params, names, "pytorch", what="params")  # shape check only: nothing is loaded
    check_no_extra_leaves(params, names, "params")
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory) and not force:
        raise FileExistsError(f"{directory} already exists; pass force=True to replace it")
    ocp, checkpointer = _checkpointer()
    meta = {"config": config.to_dict(), "task": task}
    checkpointer.save(directory, args=ocp.args.Composite(**{
        _PARAMS_ITEM: ocp.args.StandardSave(params), _META_ITEM: ocp.args.JsonSave(meta)}), force=force)
    return directory


def _logical_axes(config: RemBertConfig, task: str, pooler: bool) -> dict:
    if task == BASE:
        from rembert_jax.params import logical_axes

        return logical_axes(config, add_pooling_layer=pooler)
    from rembert_jax.heads import task_logical_axes

    return task_logical_axes(config, task)


def _read_meta(directory: str) -> tuple[RemBertConfig, str, Any]:
    ocp, checkpointer = _checkpointer()
    if not os.path.isdir(os.path.join(directory, _META_ITEM)) or not os.path.isdir(os.path.join(directory, _PARAMS_ITEM)):
        raise FileNotFoundError(f"{directory} is not an orbax RemBERT checkpoint: expected the items "
                                f"'{_PARAMS_ITEM}' and '{_META_ITEM}' written by save_orbax")
    restored = checkpointer.restore(directory, args=ocp.args.Composite(**{_META_ITEM: ocp.args.JsonRestore()}))
    meta = restored[_META_ITEM]
    metadata = checkpointer.metadata(directory)
    tree = metadata.item_metadata[_PARAMS_ITEM] if hasattr(metadata, "item_metadata") else metadata[_PARAMS_ITEM]
    tree = getattr(tree, "tree", tree)
    return RemBertConfig.from_dict(meta["config"]), meta["task"], tree


def load_orbax(directory: str | os.PathLike, *, mesh: jax.sharding.Mesh | None = None, shardings=None,
               dtype=None) -> tuple[RemBertConfig, dict]:
    """Restore `(config, params)` saved by `save_orbax`.

    Args:
      mesh: lay the params out on this ("data", "fsdp", "tensor") mesh by their logical axes
        (`rembert_jax.sharding` rules).
      shardings: instead, one `jax.sharding.Sharding` for every leaf or a tree of them like the params.
        Neither: everything on the default device.
      dtype: restore every leaf as this dtype (e.g. "bfloat16"); None keeps the saved dtype.
    """
    ocp, checkpointer = _checkpointer()
    directory = os.path.abspath(os.fspath(directory))
    config, task, tree = _read_meta(directory)
    shapes = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(tuple(m.shape), np.dtype(dtype) if dtype is not None else m.dtype), tree)
    encoder = shapes["encoder"] if task != BASE else shapes
    if mesh is not None and shardings is not None:
        raise ValueError("pass either mesh= or shardings=, not both")
    if mesh is not None:
        from rembert_jax.sharding import config_divisors, param_shardings

        axes = _logical_axes(config, task, "pooler" in encoder)
        shardings = param_shardings(axes, shapes, mesh, divisors=config_divisors(config))
    elif shardings is None:
        shardings = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    if isinstance(shardings, jax.sharding.Sharding):
        shardings = jax.tree_util.tree_map(lambda _: shardings, shapes)
    target = jax.tree_util.tree_map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)
    restored = checkpointer.restore(directory, args=ocp.args.Composite(**{
        _PARAMS_ITEM: ocp.args.StandardRestore(target)}))
    return config, restored[_PARAMS_ITEM]


class LazyLeaf:
    """One saved leaf, restored (to host numpy) only when converted with `np.asarray`: lets writers
    stream an orbax checkpoint leaf by leaf instead of restoring the whole tree first."""

    def __init__(self, directory: str, path: tuple[str, ...], shape: tuple[int, ...], dtype):
        self.directory, self.path, self.shape, self.dtype = directory, path, tuple(shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        import orbax.checkpoint as ocp

        def nest(value):
            for part in reversed(self.path):
                value = {part: value}
            return value

        item = nest(jax.ShapeDtypeStruct(self.shape, self.dtype))
        restore_args = nest(ocp.RestoreArgs(restore_type=np.ndarray, dtype=self.dtype))
        checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
        restored = checkpointer.restore(os.path.join(self.directory, _PARAMS_ITEM), args=ocp.args.PyTreeRestore(
            item=item, restore_args=restore_args, partial_restore=True))
        for part in self.path:
            restored = restored[part]
        return np.asarray(restored, dtype=dtype)


def lazy_orbax_params(directory: str | os.PathLike, *, dtype=None) -> tuple[RemBertConfig, str, dict]:
    """`(config, task, tree of LazyLeaf)` of a `save_orbax` checkpoint: nothing is read yet."""
    directory = os.path.abspath(os.fspath(directory))
    config, task, tree = _read_meta(directory)

    def build(node, path):
        if isinstance(node, dict):
            return {k: build(v, path + (k,)) for k, v in node.items()}
        return LazyLeaf(directory, path, node.shape, dtype if dtype is not None else node.dtype)

    return config, task, build(tree, ())


def orbax_task(directory: str | os.PathLike) -> str:
    """The task a `save_orbax` checkpoint was saved for ("base" = bare encoder)."""
    return _read_meta(os.path.abspath(os.fspath(directory)))[1]
