"""Orbax checkpoints of params (bare encoder or task model), restored straight onto a sharding.

Layout of a `save_orbax` directory:

    rembert.json              {"config": ..., "task": ..., "parts": [[leaf path, ...], ...]}
    params/part-00000/        a standard orbax pytree checkpoint of some leaves of the tree
    params/part-00001/        ...

Parts are written without OCDBT, in chunks of at most `CHUNK_BYTES` (so tensorstore streams them
from the arrays' buffers); orbax restores either layout.

Orbax copies arrays to the host before writing them (numpy leaves, and device arrays off the
CPU), which for one big save doubles the resident memory; saving the tree in parts of about
`PART_BYTES`, one after the other, bounds that extra copy to one part. Each part is an ordinary orbax checkpoint (restorable with
`ocp.StandardCheckpointer`). Restoring builds targets as `jax.ShapeDtypeStruct`s with the
requested shardings (e.g. from the logical axes on a mesh), so each device reads only its own
slices: the model is never materialised on one device or on the host.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from rembert_jax.config import RemBertConfig

from .assemble import check_weight_dtype, get_leaf, leaf_paths, set_leaf
from .destination import write_failure
from .files import atomic_directory
from .loader import for_task, to_device
from .names import BASE
from .write_plan import tensors_to_write

META_NAME = "rembert.json"
PARAMS_DIR = "params"
PART_BYTES = 512 * 2**20
# Arrays are written in chunks of at most this size, without OCDBT: tensorstore then streams each
# chunk from the array's own buffer; with OCDBT (orbax's default) it holds the encoded part in
# memory until written, about 40% of the part extra for random weights (measured).
CHUNK_BYTES = 32 * 2**20


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp, ocp.Checkpointer(ocp.StandardCheckpointHandler())


def _return_freed_memory() -> None:
    """Hand memory freed by a finished part back to the OS. orbax's per-save host copies are many
    mid-sized allocations that glibc keeps in its heaps after they are freed; without trimming, the
    resident size grows with every part as if nothing had been freed."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def _quiet_worker_errors():
    """orbax's worker threads log a failed write with a full traceback (logger "absl") before the
    same error reaches `save`, which re-raises it as a `DestinationError` naming the path: one
    message, not three tracebacks."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _plan_parts(params: dict, part_bytes: int) -> list[list[tuple[str, ...]]]:
    parts: list[list[tuple[str, ...]]] = [[]]
    size = 0
    for path in leaf_paths(params):
        leaf = get_leaf(params, path)
        nbytes = int(np.prod(np.shape(leaf))) * np.dtype(leaf.dtype).itemsize
        if parts[-1] and size + nbytes > part_bytes:
            parts.append([])
            size = 0
        parts[-1].append(path)
        size += nbytes
    return parts


def _subtree(tree: dict, paths: list[tuple[str, ...]]) -> dict:
    out: dict = {}
    for path in paths:
        set_leaf(out, path, get_leaf(tree, path))
    return out


def save_orbax(directory: str | os.PathLike, config: RemBertConfig, params: dict, *, task: str | None = None,
               force: bool = False, part_bytes: int = PART_BYTES) -> str:
    """Save `params` (jax arrays, sharded or not, or numpy) with the config and task to `directory`.

    The checkpoint is built beside `directory` and moved in only when complete. An existing
    non-empty `directory` is refused unless `force`, which replaces only rembert.json and params/."""
    task, tensors = tensors_to_write(config, params, task, "jax")  # shape check only: nothing is loaded
    ocp, _ = _checkpointer()
    writer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_ocdbt=False))
    parts = _plan_parts(params, part_bytes)
    with atomic_directory(directory, produces=lambda f: f in (META_NAME, PARAMS_DIR), force=force,
                          needed_bytes=sum(t.nbytes for t in tensors)) as staging:
        try:
            for k, paths in enumerate(parts):
                part = _subtree(params, paths)
                save_args = jax.tree_util.tree_map(lambda _: ocp.SaveArgs(chunk_byte_size=CHUNK_BYTES), part)
                with _quiet_worker_errors():
                    writer.save(os.path.join(staging, PARAMS_DIR, f"part-{k:05d}"),
                                args=ocp.args.PyTreeSave(part, save_args=save_args))
                _return_freed_memory()
        except (OSError, ValueError, RuntimeError) as e:  # tensorstore reports a full disk as ValueError
            raise write_failure(directory, e) from None
        finally:
            writer.close()  # its threads are done before the staging folder is removed
        meta = {"config": config.to_dict(), "task": task, "parts": [["/".join(p) for p in paths] for paths in parts]}
        with open(os.path.join(staging, META_NAME), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
    return os.path.realpath(os.fspath(directory))


def write_orbax(directory: str | os.PathLike, config: RemBertConfig, params: dict, *, task: str | None = None,
                force: bool = False) -> str:
    """The "jax" writer of `dispatch.save`: `save_orbax` from host, lazy or device leaves. orbax
    snapshots numpy leaves before writing (a second copy) but writes CPU jax arrays from their own
    buffers: give it jax arrays (moved leaf by leaf)."""
    return save_orbax(directory, config, to_device(params), task=task, force=force)


class SavedLeaf(NamedTuple):
    """Where one leaf of our tree is stored: the orbax checkpoint directory, its path in that
    checkpoint's tree, and orbax's array metadata (shape, dtype)."""

    part: str
    stored: tuple[str, ...]
    meta: Any


def _logical_axes(config: RemBertConfig, task: str, pooler: bool) -> dict:
    if task == BASE:
        from rembert_jax.params import logical_axes

        return logical_axes(config, add_pooling_layer=pooler)
    from rembert_jax.heads import task_logical_axes

    return task_logical_axes(config, task)


def tree_metadata(checkpoint: str) -> dict:
    """orbax's array metadata tree of one pytree checkpoint directory (nothing else is read)."""
    _, checkpointer = _checkpointer()
    with _quiet_worker_errors():  # orbax warns that a CheckpointManager item has no _CHECKPOINT_METADATA of its own
        metadata = checkpointer.metadata(checkpoint)
    tree = getattr(metadata, "item_metadata", metadata)
    return getattr(tree, "tree", tree)


def _read_meta(directory: str) -> tuple[RemBertConfig, str, dict[tuple[str, ...], SavedLeaf]]:
    """(config, task, {leaf path: where it is saved})."""
    meta_path = os.path.join(directory, META_NAME)
    if not os.path.isfile(meta_path) or not os.path.isdir(os.path.join(directory, PARAMS_DIR)):
        raise FileNotFoundError(f"{directory} is not an orbax RemBERT checkpoint: expected {META_NAME} and "
                                f"{PARAMS_DIR}/ written by save_orbax")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        config, task, parts = RemBertConfig.from_dict(meta["config"]), meta["task"], meta["parts"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{meta_path} is not a valid save_orbax description ({e})") from None
    leaves = {}
    for k, paths in enumerate(parts):
        part = os.path.join(directory, PARAMS_DIR, f"part-{k:05d}")
        if not os.path.isdir(part):
            raise FileNotFoundError(f"{directory}: part {part} named in {META_NAME} is missing")
        try:
            tree = tree_metadata(part)
            found = {tuple(path.split("/")): get_leaf(tree, tuple(path.split("/"))) for path in paths}
        except Exception as e:  # noqa: BLE001 - orbax / tensorstore raise bare Exception, TypeError, KeyError...
            raise ValueError(f"{part}: its orbax metadata (_METADATA, an array's .zarray or manifest.ocdbt) is unreadable or lacks the "
                             f"leaves {meta_path} names ({type(e).__name__}: {str(e)[:200]}); the checkpoint is "
                             "truncated or corrupt") from None
        for path, m in found.items():
            check_weight_dtype(m.dtype, f"{part}: leaf {'/'.join(path)}")
            leaves[path] = SavedLeaf(part, path, m)
    return config, task, leaves


def load_orbax(directory: str | os.PathLike, *, mesh: jax.sharding.Mesh | None = None, shardings=None,
               dtype=None) -> tuple[RemBertConfig, dict]:
    """Restore `(config, params)` saved by `save_orbax` (`rembert_jax.convert.load(format="jax")`).

    Args:
      mesh: lay the params out on this ("data", "fsdp", "tensor") mesh by their logical axes
        (`rembert_jax.sharding` rules).
      shardings: instead, one `jax.sharding.Sharding` for every leaf or a tree of them like the params.
        Neither: everything on the default device.
      dtype: restore every leaf as this dtype (e.g. "bfloat16"); None keeps the saved dtype.
    """
    from .dispatch import load

    return load(directory, format="jax", task="auto", mesh=mesh, shardings=shardings, dtype=dtype)


def read_orbax(path: str | os.PathLike, *, task: str | None = None, config: RemBertConfig | None = None, dtype=None,
               strict: bool = True, rng: jax.Array | int = 0, device: bool = False, mesh=None, shardings=None):
    """The "jax" reader of `dispatch.load`: (config, params, None, task) of a `save_orbax` checkpoint;
    leaves restored onto `mesh` / `shardings` / the default device with `device`, else lazy (`LazyLeaf`).
    `strict` has nothing to check: the checkpoint holds exactly our tree."""
    directory = os.path.abspath(os.fspath(path))
    saved_config, saved_task, leaves = _read_meta(directory)
    params = (restore_leaves(saved_config, saved_task, leaves, mesh=mesh, shardings=shardings, dtype=dtype)
              if device else lazy_leaves(leaves, dtype))
    return for_task(params, config or saved_config, saved_task, task, source=directory, rng=rng, device=device)


def restore_leaves(config: RemBertConfig, task: str, leaves: dict[tuple[str, ...], SavedLeaf], *, mesh=None,
                   shardings=None, dtype=None) -> dict:
    """The params tree of `leaves` (our path -> where saved), restored as jax arrays laid out on `mesh`
    by their logical axes, or on `shardings` (one for all or a tree), or on the default device; each
    device reads only its own slices."""
    if mesh is not None and shardings is not None:
        raise ValueError("pass either mesh= or shardings=, not both")
    ocp, _ = _checkpointer()
    shapes: dict = {}
    for path, saved in leaves.items():
        m = saved.meta
        set_leaf(shapes, path, jax.ShapeDtypeStruct(tuple(m.shape), np.dtype(dtype) if dtype is not None else m.dtype))
    if mesh is not None:
        from rembert_jax.sharding import config_divisors, param_shardings

        encoder = shapes["encoder"] if task != BASE else shapes
        axes = _logical_axes(config, task, "pooler" in encoder)
        shardings = param_shardings(axes, shapes, mesh, divisors=config_divisors(config))
    elif shardings is None:
        shardings = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    if isinstance(shardings, jax.sharding.Sharding):
        shardings = jax.tree_util.tree_map(lambda _: shardings, shapes)
    checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    params: dict = {}
    for part in dict.fromkeys(saved.part for saved in leaves.values()):
        paths = [p for p, saved in leaves.items() if saved.part == part]
        target: dict = {}
        for path in paths:
            s = get_leaf(shapes, path)
            set_leaf(target, leaves[path].stored, jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=get_leaf(shardings, path)))
        restored = _restore(checkpointer, part, ocp.args.PyTreeRestore(
            item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target), partial_restore=True))
        for path in paths:
            set_leaf(params, path, get_leaf(restored, leaves[path].stored))
    return _ordered_like(shapes, params)


def _restore(checkpointer, part: str, args):
    """`checkpointer.restore(part, args=args)`; a data file that can't be read is a ValueError naming the part."""
    try:
        with _quiet_worker_errors():
            return checkpointer.restore(part, args=args)
    except Exception as e:  # noqa: BLE001 - tensorstore failures surface as bare Exception or ValueError
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{part}: cannot read the saved arrays ({message[:300]}); the checkpoint is truncated "
                         "or corrupt") from None


def _ordered_like(reference: dict, tree: dict) -> dict:
    return {k: _ordered_like(v, tree[k]) if isinstance(v, dict) else tree[k] for k, v in reference.items()}


class LazyLeaf:
    """One saved leaf, restored (to host numpy) only when converted with `np.asarray`: lets writers
    stream an orbax checkpoint leaf by leaf instead of restoring the whole tree first."""

    def __init__(self, part: str, path: tuple[str, ...], shape: tuple[int, ...], dtype, saved_dtype):
        self.part, self.path, self.shape = part, path, tuple(shape)
        self.dtype, self.saved_dtype = np.dtype(dtype), np.dtype(saved_dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        import orbax.checkpoint as ocp

        def nest(value):
            for key in reversed(self.path):
                value = {key: value}
            return value

        item = nest(jax.ShapeDtypeStruct(self.shape, self.saved_dtype))
        restore_args = nest(ocp.RestoreArgs(restore_type=np.ndarray, dtype=self.saved_dtype))
        checkpointer = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
        restored = _restore(checkpointer, self.part, ocp.args.PyTreeRestore(
            item=item, restore_args=restore_args, partial_restore=True))
        value = np.asarray(get_leaf(restored, self.path))
        return value.astype(dtype or self.dtype, copy=False)


def lazy_leaves(leaves: dict[tuple[str, ...], SavedLeaf], dtype=None) -> dict:
    """The params tree of `leaves` as `LazyLeaf`s (cast to `dtype` when read): nothing is read yet."""
    tree: dict = {}
    for path, saved in leaves.items():
        m = saved.meta
        set_leaf(tree, path, LazyLeaf(saved.part, saved.stored, m.shape, dtype if dtype is not None else m.dtype,
                                      m.dtype))
    return tree


def orbax_task(directory: str | os.PathLike) -> str:
    """The task a `save_orbax` checkpoint was saved for ("base" = bare encoder)."""
    return _read_meta(os.path.abspath(os.fspath(directory)))[1]
