"""Where the trainer puts the state and the batches: a `Placement` built from the run config's mesh.

There is always a mesh: by default every device on the `data` axis (`mesh_shape`), one device
included, and the steps run under it (`jax.set_mesh`, see `train.step`). The train step only ever
receives shardings, so a different layout is a different `Placement`, never a change to the step.
The layout itself comes from the core's one rules table (`rembert_jax.sharding`): a `(data, fsdp,
tensor)` mesh, parameter shardings from the logical axes of the encoder and the head,
optimizer-state shardings that follow their parameters, and batches split on their leading axis.
Data parallelism is `jax.jit` with a batch-sharded `NamedSharding` (pmap is in maintenance mode).

The fresh train state is created straight into its layout (`create_state`: one jit with
`out_shardings`), so the full model and its optimizer state never sit on one device. With
several processes (`jax.distributed`), each host puts only its own rows of every batch on its
devices (`rembert_jax.distributed.process_batch_rows` / `global_batch_from_local`), and results
come back to every host with `fetch`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import jax
import numpy as np
from jax.sharding import NamedSharding

from rembert_jax import sharding as core

from .run_config import MeshSection


@dataclasses.dataclass(frozen=True)
class Placement:
    """The mesh, and the shardings on it of the TrainState (a tree like it) and of batches."""

    state: object  # a TrainState of shardings
    batch: NamedSharding  # one sharding applied to every batch leaf (leading axis split)

    @property
    def mesh(self) -> jax.sharding.Mesh:
        return self.batch.mesh

    @property
    def params(self):
        """The shardings of the parameters (those of the state's params)."""
        return self.state.params

    def put_batch(self, batch):
        """A host batch (the whole global batch, numpy) onto the mesh, rows split. With several
        processes each one transfers only its own rows (all hosts must pass the same batch)."""
        if jax.process_count() == 1:
            return jax.device_put(batch, self.batch)
        from rembert_jax.distributed import global_batch_from_local, process_batch_rows

        size = len(next(iter(jax.tree_util.tree_leaves(batch))))
        rows = process_batch_rows(size, self.mesh)
        local = jax.tree_util.tree_map(lambda x: np.asarray(x)[rows], batch)
        return global_batch_from_local(local, self.mesh, size)

    def fetch(self, tree):
        """Device arrays -> numpy on this host, also when they are split over several processes."""
        if jax.process_count() == 1:
            return jax.device_get(tree)
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)

    def create_state(self, optimizer, rng, *, params=None, init=None, init_rng=None):
        """A fresh `TrainState` made by one jit straight into `self.state`'s layout.

        Either `init` (init_rng -> params, e.g. `TaskModel.init`) runs on the devices, or host
        `params` (converted weights) are placed first, each device receiving only its shards.
        The optimizer state is initialised in the same jit, sharded like its parameters.
        """
        from .state import create_train_state

        if (params is None) == (init is None):
            raise ValueError("create_state needs exactly one of params (host weights) or init (rng -> params)")
        if params is not None:
            arg, make = self.put_params(params), lambda p: create_train_state(p, optimizer, rng)
        else:
            arg, make = init_rng, lambda r: create_train_state(init(r), optimizer, rng)
        return jax.jit(make, out_shardings=self.state)(arg)

    def put_params(self, params):
        """Host params onto the mesh in `self.params`' layout; every device gets only its shards
        (also across processes: each host reads the shards of its own devices)."""

        def one(sharding, x):
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

        return jax.tree_util.tree_map(one, self.params, params)


def mesh_shape(mesh: MeshSection, batch_sizes: Mapping[str, int] | None = None,
               num_devices: int | None = None) -> tuple[int, int, int]:
    """The `(data, fsdp, tensor)` shape of the run's mesh over `num_devices` (default: all).

    Explicit sizes are used as given. A -1 entry (the default `data: -1`) takes the devices the
    others leave; on a batch axis (data, fsdp) it takes the largest number of them that every
    batch size in `batch_sizes` (name -> size) splits over evenly, so a batch size the device
    count does not divide still trains, on fewer devices (`make_placement` says so).
    """
    total = jax.device_count() if num_devices is None else num_devices
    shape = [mesh.data, mesh.fsdp, mesh.tensor]
    if shape.count(-1) > 1:
        raise ValueError(f"mesh: at most one of data/fsdp/tensor may be -1, got {shape}")
    if -1 in shape:
        auto = shape.index(-1)
        size = max(total // math.prod(s for s in shape if s != -1), 1)
        if core.MESH_AXES[auto] in core.batch_axes():
            def splits(n):  # every batch size is a multiple of the batch axes' devices with `n` on `auto`
                sizes = dict(zip(core.MESH_AXES, shape[:auto] + [n] + shape[auto + 1:], strict=True))
                return all(b % core.data_parallel_size(sizes) == 0 for b in (batch_sizes or {}).values())

            size = next(n for n in range(size, 0, -1) if n == 1 or splits(n))
        shape[auto] = size
    if math.prod(shape) > total:
        raise ValueError(f"mesh (data, fsdp, tensor) = {tuple(shape)} needs {math.prod(shape)} devices, "
                         f"but {total} are available")
    return tuple(shape)  # type: ignore[return-value]


def make_placement(mesh: MeshSection, *, config, task: str, abstract_state,
                   batch_sizes: Mapping[str, int] | None = None, log: Callable[[str], None] | None = None) -> Placement:
    """The placement for a TrainState shaped like `abstract_state` (a `jax.eval_shape` result).

    `batch_sizes` (e.g. `{"train.batch_size": 32}`) must split evenly over the batch axes; a mesh
    that leaves devices idle is reported through `log`, with what to set to use them all.
    """
    from rembert_jax.heads.specs import task_logical_axes

    batch_sizes = dict(batch_sizes or {})
    total = jax.device_count()
    shape = mesh_shape(mesh, batch_sizes)
    used = math.prod(shape)
    if jax.process_count() > 1 and used != total:
        raise ValueError(f"mesh (data, fsdp, tensor) = {shape} uses {used} of the {total} "
                         f"devices of the {jax.process_count()} processes: a multi-process run must use them all "
                         f"(set one mesh axis to -1, and batch sizes that are multiples of the devices it gets)")
    divisor = core.data_parallel_size(dict(zip(core.MESH_AXES, shape, strict=True)))
    for key, size in batch_sizes.items():
        if size % divisor:
            raise ValueError(f"{key}={size} must be a multiple of the {divisor} devices the "
                             f"batch is split over (mesh {dict(zip(core.MESH_AXES, shape, strict=True))})")
    if used < total and log is not None:
        log(_idle_devices_notice(mesh, shape, total, batch_sizes))
    jax_mesh = core.make_mesh(shape, devices=jax.devices()[:used])
    params = core.param_shardings(task_logical_axes(config, task), abstract_state.params, jax_mesh,
                                  divisors=core.config_divisors(config))
    state = core.tree_shardings_like_params(abstract_state, params, jax_mesh)
    return Placement(state=state, batch=NamedSharding(jax_mesh, core.batch_spec(1)))


def _idle_devices_notice(mesh: MeshSection, shape: tuple[int, int, int], total: int,
                         batch_sizes: Mapping[str, int]) -> str:
    """One line: how many devices the run uses and leaves idle, and what to set to use them all."""
    sizes = dict(zip(core.MESH_AXES, shape, strict=True))
    used = math.prod(shape)
    line = (f"mesh {', '.join(f'{a}={s}' for a, s in sizes.items())}: training on {used} of the {total} devices, "
            f"{total - used} idle")
    auto = next((a for a in core.MESH_AXES if getattr(mesh, a) == -1), None)
    if auto is None:
        return f"{line}; set one mesh axis to -1 (e.g. mesh.data=-1) to use them all"
    rest = used // sizes[auto]
    if auto in core.batch_axes():
        need = core.data_parallel_size({**sizes, auto: total // rest})  # what -1 would get if the batches split
        short = [f"{k}={v}" for k, v in batch_sizes.items() if v % need]
        if short:
            them = "it to a multiple" if len(short) == 1 else "them to multiples"
            return (f"{line}: {' and '.join(short)} {'does' if len(short) == 1 else 'do'} not split over {need} "
                    f"devices; set {them} of {need} to use them all, or choose the mesh yourself (mesh.{auto}=N)")
    return f"{line}: the other mesh axes ({rest} devices) do not divide the {total} devices"
