"""Multi-host runs on JAX's own distributed runtime: start it, and feed each host's batch slice.

Every process runs the same program. `initialize` joins the processes (on CPU it also selects
gloo collectives, which must happen before the backend starts); afterwards `jax.devices()` lists
the devices of all hosts and a mesh from `rembert_jax.sharding.make_mesh` spans them. Each host
then loads only its own rows of the global batch (`process_batch_rows`), and
`global_batch_from_local` assembles them into one globally sharded array without any host
ever holding the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from .sharding import RULES, batch_shardings, batch_spec, data_parallel_size


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, local_device_ids=None,
               cpu_collectives: str = "gloo", **kwargs) -> None:
    """`jax.distributed.initialize`, plus CPU collectives so that CPU-only hosts can all-reduce.

    With no arguments, the cluster is auto-detected (SLURM, Cloud TPU, ...). Call it before any
    other JAX call of the process.
    """
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, num_processes={num_processes}), got {process_id}")
    # Without this, cross-process collectives on the CPU backend fail ("not implemented").
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id, local_device_ids=local_device_ids, **kwargs)


def process_batch_rows(global_batch_size: int, mesh: Mesh, *, rules: Mapping = RULES) -> np.ndarray:
    """The rows of the global batch that this process loads, in the order
    `global_batch_from_local` expects them (int64 indices into the global batch).

    They are read off the batch sharding: the rows held by this process's devices, in
    increasing order (duplicates from replication over "tensor" removed). For a mesh built over
    `jax.devices()` this is one contiguous block per process.
    """
    data_ways = data_parallel_size(mesh.shape, rules=rules)
    if global_batch_size < 1 or global_batch_size % data_ways:
        raise ValueError(f"global batch size {global_batch_size} must be a positive multiple of the "
                         f"{data_ways} data-parallel devices of the mesh {dict(mesh.shape)}")
    sharding = NamedSharding(mesh, batch_spec(1, rules=rules))
    blocks = {(index[0].start or 0, global_batch_size if index[0].stop is None else index[0].stop)
              for index in sharding.addressable_devices_indices_map((global_batch_size,)).values()}
    return np.concatenate([np.arange(a, b) for a, b in sorted(blocks)])


def global_batch_from_local(local_batch, mesh: Mesh, global_batch_size: int, *, rules: Mapping = RULES):
    """Assemble each process's rows (a dict of numpy arrays: the global batch at
    `process_batch_rows(...)`) into globally sharded `jax.Array`s, without gathering them."""
    template = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct((global_batch_size, *np.shape(x)[1:]), np.asarray(x).dtype), local_batch)
    shardings = batch_shardings(template, mesh, rules=rules)

    def one(sharding, x):
        x = np.asarray(x)
        return jax.make_array_from_process_local_data(sharding, x, (global_batch_size, *x.shape[1:]))

    return jax.tree_util.tree_map(one, shardings, local_batch)
