"""Where the trainer puts the state and the batches: a `Placement` built from the run config's mesh.

The train step only ever receives shardings, so a different layout is a different `Placement`,
never a change to the step. The layout itself comes from the core's one rules table
(`rembert_jax.sharding`): a `(data, fsdp, tensor)` mesh, parameter shardings from the logical
axes of the encoder and the head, optimizer-state shardings that follow their parameters, and
batches split on their leading axis. Data parallelism is `jax.jit` with a batch-sharded
`NamedSharding` (pmap is in maintenance mode).

The fresh train state is created straight into its layout (`create_state`: one jit with
`out_shardings`), so the full model and its optimizer state never sit on one device. With
several processes (`jax.distributed`), each host puts only its own rows of every batch on its
devices (`rembert_jax.distributed.process_batch_rows` / `global_batch_from_local`), and results
come back to every host with `fetch`.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
from jax.sharding import NamedSharding

from .run_config import MeshSection


@dataclasses.dataclass(frozen=True)
class Placement:
    """Shardings for the TrainState (a tree like it) and for batches. `None`: the default device."""

    mesh: jax.sharding.Mesh | None = None
    state: object = None
    params: object = None
    batch: object = None  # one sharding applied to every batch leaf (leading axis split)

    @property
    def batch_divisor(self) -> int:
        """Batch sizes must be a multiple of this (the devices the batch is split over)."""
        if self.batch is None:
            return 1
        return math.prod(self.mesh.shape[a] for a in ("data", "fsdp"))

    def put_batch(self, batch):
        """A host batch (the whole global batch, numpy) onto the mesh, rows split. With several
        processes each one transfers only its own rows (all hosts must pass the same batch)."""
        if self.batch is None:
            return batch
        if jax.process_count() == 1:
            return jax.device_put(batch, self.batch)
        from rembert_jax.distributed import global_batch_from_local, process_batch_rows

        size = len(next(iter(jax.tree_util.tree_leaves(batch))))
        rows = process_batch_rows(size, self.mesh)
        local = jax.tree_util.tree_map(lambda x: np.asarray(x)[rows], batch)
        return global_batch_from_local(local, self.mesh, size)

    def put_state(self, state):
        return state if self.state is None else jax.device_put(state, self.state)

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
        return (jax.jit(make) if self.state is None else jax.jit(make, out_shardings=self.state))(arg)

    def put_params(self, params):
        """Host params onto the mesh in `self.params`' layout; every device gets only its shards
        (also across processes: each host reads the shards of its own devices)."""
        if self.params is None:
            return jax.device_put(params)

        def one(sharding, x):
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

        return jax.tree_util.tree_map(one, self.params, params)


def mesh_shape(mesh: MeshSection) -> tuple[int, int, int]:
    """`(data, fsdp, tensor)`; a -1 entry takes the devices the others leave."""
    shape = [mesh.data, mesh.fsdp, mesh.tensor]
    if shape.count(-1) > 1:
        raise ValueError(f"mesh: at most one of data/fsdp/tensor may be -1, got {shape}")
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if jax.device_count() % rest:
            raise ValueError(f"mesh {shape}: {jax.device_count()} devices are not divisible by {rest}")
        shape[shape.index(-1)] = jax.device_count() // rest
    if math.prod(shape) > jax.device_count():
        raise ValueError(f"mesh (data, fsdp, tensor) = {tuple(shape)} needs {math.prod(shape)} devices, "
                         f"but {jax.device_count()} are available")
    return tuple(shape)  # type: ignore[return-value]


def make_placement(mesh: MeshSection, *, config, task: str, abstract_state) -> Placement:
    """The placement for a TrainState shaped like `abstract_state` (a `jax.eval_shape` result)."""
    from rembert_jax import sharding as core
    from rembert_jax.heads.specs import task_logical_axes

    shape = mesh_shape(mesh)
    if jax.process_count() > 1 and math.prod(shape) != jax.device_count():
        raise ValueError(f"mesh (data, fsdp, tensor) = {shape} uses {math.prod(shape)} of the {jax.device_count()} "
                         f"devices of the {jax.process_count()} processes: a multi-process run must use them all "
                         "(set one mesh axis to -1)")
    if math.prod(shape) == 1:
        return Placement()
    devices = jax.devices()[: math.prod(shape)]
    jax_mesh = core.make_mesh(shape, devices=devices)
    params = core.param_shardings(task_logical_axes(config, task), abstract_state.params, jax_mesh,
                                  divisors=core.config_divisors(config))
    state = core.tree_shardings_like_params(abstract_state, params, jax_mesh)
    return Placement(mesh=jax_mesh, state=state, params=params,
                     batch=NamedSharding(jax_mesh, core.batch_spec(1)))
