"""Where the trainer puts the state and the batches: a `Placement` built from the run config's mesh.

The train step only ever receives shardings, so a different layout is a different `Placement`,
never a change to the step. The layout itself comes from the core's one rules table
(`rembert_jax.sharding`): a `(data, fsdp, tensor)` mesh, parameter shardings from the logical
axes of the encoder and the head, optimizer-state shardings that follow their parameters, and
batches split on their leading axis. Data parallelism is `jax.jit` with a batch-sharded
`NamedSharding` (pmap is in maintenance mode).
"""

from __future__ import annotations

import dataclasses
import math

import jax
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
        return batch if self.batch is None else jax.device_put(batch, self.batch)

    def put_state(self, state):
        return state if self.state is None else jax.device_put(state, self.state)


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
    if math.prod(shape) == 1:
        return Placement()
    devices = jax.devices()[: math.prod(shape)]
    jax_mesh = core.make_mesh(shape, devices=devices)
    params = core.param_shardings(task_logical_axes(config, task), abstract_state.params, jax_mesh,
                                  divisors=core.config_divisors(config))
    state = core.tree_shardings_like_params(abstract_state, params, jax_mesh)
    return Placement(mesh=jax_mesh, state=state, params=params,
                     batch=NamedSharding(jax_mesh, core.batch_spec(1)))
