"""Sharding from one rules table: logical axis names -> mesh axes ("data", "fsdp", "tensor").

Every parameter declares its logical axes once (`rembert_jax.logical_axes`, the heads' axes);
`RULES` below is the only place that says where each logical axis lives on the device mesh.
A parallelism mode is then nothing but a mesh shape: the same rules give data parallelism on a
`(n, 1, 1)` mesh (every parameter replicated, the batch split), FSDP on `(1, n, 1)` (parameters
and optimizer state split along `embed`/`embed_in`, gathered per layer by XLA) and tensor
parallelism on `(1, 1, n)` (attention heads, MLP and vocabulary split). Mesh axes of size one
shard nothing, so the modes combine, e.g. `(2, 2, 2)`.

A dimension that a mesh axis does not divide, or whose mesh axis is already taken by an earlier
dimension of the same array, is replicated: the layout is always valid, only less split.

Activations follow the same table: the encoder marks its hidden states, attention heads and MLP
activations with `with_logical_constraint` (the `batch`, `length` and `act_*` rules), which
constrains them on the mesh set by `jax.set_mesh` and does nothing without one. The trainer's
steps always run under a mesh (one device is a `(1, 1, 1)` mesh), so there is one sharding path.

    mesh = make_mesh("fsdp")                                 # all devices on "fsdp"
    shardings = param_shardings(axes, shapes, mesh)          # same tree as the params
    params = jax.jit(init, out_shardings=shardings)(rng)     # initialised straight into the layout
    state_sh = tree_shardings_like_params(state_shapes, params_sh, mesh)  # optimizer state too
    with jax.set_mesh(mesh):                                 # activation constraints see the mesh
        out = jitted_forward(params, shard_batch(batch, mesh))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

# logical axis -> mesh axis (or a tuple of mesh axes, split over both in that order), None = replicate.
RULES: Mapping[str, str | tuple[str, ...] | None] = {
    # activations
    "batch": ("data", "fsdp"),  # FSDP is data parallel for activations: every device gets its own rows
    "length": None,
    "act_embed": None,
    "act_heads": "tensor",
    "act_mlp": "tensor",
    # encoder parameters (rembert_jax.params)
    "vocab": "tensor",  # word embeddings [V, E] and the LM decoder [O, V]: the one big matrix
    "embed_in": "fsdp",
    "positions": None,
    "token_types": None,
    "embed": "fsdp",
    "heads": "tensor",  # q/k/v output dim and attention-output input dim (head-aligned, see below)
    "mlp": "tensor",
    "layers": None,  # scanned over: each step needs the whole layer axis locally
    "pooled": "tensor",
    # head parameters (rembert_jax.heads)
    "embed_out": "fsdp",
    "labels": None,
}


def make_mesh(parallelism: str | Sequence[int] = "data", *, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A `("data", "fsdp", "tensor")` mesh over `devices` (default: all devices of all hosts).

    `parallelism` is a mesh axis name (all devices on that axis) or an explicit `(data, fsdp,
    tensor)` shape whose product is the device count. Axes are `Auto`: XLA propagates shardings
    from the parameters, the batch and the activation constraints.
    """
    devices = list(jax.devices() if devices is None else devices)
    if isinstance(parallelism, str):
        if parallelism not in MESH_AXES:
            raise ValueError(f"parallelism must be one of {list(MESH_AXES)}, got {parallelism!r}")
        shape = tuple(len(devices) if axis == parallelism else 1 for axis in MESH_AXES)
    else:
        shape = tuple(int(s) for s in parallelism)
        if len(shape) != 3 or any(s < 1 for s in shape):
            raise ValueError(f"mesh shape must be three positive sizes (data, fsdp, tensor), got {parallelism!r}")
    if math.prod(shape) != len(devices):
        raise ValueError(f"mesh shape {shape} needs {math.prod(shape)} devices, but {len(devices)} are available")
    return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * 3, devices=devices)


def _mesh_axes_of(logical: str | None, rules: Mapping) -> tuple[str, ...]:
    if logical is None:
        return ()
    if logical not in rules:
        raise ValueError(f"logical axis {logical!r} has no sharding rule; known axes: {sorted(rules)}")
    target = rules[logical]
    if target is None:
        return ()
    return (target,) if isinstance(target, str) else tuple(target)


def logical_to_spec(axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh, *,
                    rules: Mapping = RULES, divisors: Mapping[str, int] | None = None) -> PartitionSpec:
    """The `PartitionSpec` of one array with logical `axes` and `shape` on `mesh`.

    A mesh axis is used only when it divides the dimension (and `divisors[logical]`, e.g. the
    number of attention heads, so a head is never cut in two) and no earlier dimension of the
    array took it; mesh axes of size one (or missing from `mesh`) are left out. Anything else is
    replicated. `mesh` may be abstract (`jax.sharding.get_abstract_mesh()`).
    """
    if len(axes) != len(shape):
        raise ValueError(f"logical axes {tuple(axes)} do not match shape {tuple(shape)}")
    divisors = divisors or {}
    used: set[str] = set()
    spec = []
    for logical, size in zip(axes, shape, strict=True):
        chosen = []
        for mesh_axis in _mesh_axes_of(logical, rules):
            n = mesh.shape.get(mesh_axis, 1)  # an axis the mesh lacks shards nothing
            split = n * math.prod(mesh.shape[a] for a in chosen)
            if n == 1 or mesh_axis in used or size % split or divisors.get(logical, split) % split:
                continue
            chosen.append(mesh_axis)
        used.update(chosen)
        spec.append(None if not chosen else chosen[0] if len(chosen) == 1 else tuple(chosen))
    while spec and spec[-1] is None:
        spec.pop()
    return PartitionSpec(*spec)


def config_divisors(config) -> dict[str, int]:
    """Extra divisibility per logical axis for `config`: the `heads` dim is split by whole heads."""
    return {"heads": config.num_attention_heads}


def _is_axes(x) -> bool:
    return isinstance(x, tuple) and all(a is None or isinstance(a, str) for a in x)


def param_specs(axes_tree, shapes_tree, mesh: Mesh, *, rules: Mapping = RULES,
                divisors: Mapping[str, int] | None = None):
    """Tree of `PartitionSpec`, one per leaf of `shapes_tree` (arrays or `ShapeDtypeStruct`)."""
    return jax.tree_util.tree_map(
        lambda axes, x: logical_to_spec(axes, x.shape, mesh, rules=rules, divisors=divisors),
        axes_tree, shapes_tree, is_leaf=_is_axes)


def param_shardings(axes_tree, shapes_tree, mesh: Mesh, *, rules: Mapping = RULES,
                    divisors: Mapping[str, int] | None = None):
    """Tree of `NamedSharding` for a params tree, derived from its logical axes."""
    specs = param_specs(axes_tree, shapes_tree, mesh, rules=rules, divisors=divisors)
    return jax.tree_util.tree_map(lambda s: NamedSharding(mesh, s), specs,
                                  is_leaf=lambda x: isinstance(x, PartitionSpec))


def _dict_key_path(path) -> tuple[str, ...]:
    """The trailing run of dict keys of a pytree path: the params-relative part of an
    optimizer-state leaf such as `(.., GetAttrKey('mu'), DictKey('encoder'), DictKey('layers'), ..)`."""
    keys: list[str] = []
    for entry in reversed(path):
        if not isinstance(entry, jax.tree_util.DictKey):
            break
        keys.append(str(entry.key))
    return tuple(reversed(keys))


def tree_shardings_like_params(tree_shapes, params_shardings, mesh: Mesh):
    """Shardings for any tree that holds params-shaped subtrees (optimizer state, a train state).

    A leaf whose trailing dict-key path and shape match a parameter gets that parameter's
    sharding (Adam's `mu`/`nu`, the params inside a train state); everything else (step counts,
    scalars, the rng) is replicated.
    """
    by_path: dict[tuple[str, ...], NamedSharding] = {}
    for path, sharding in jax.tree_util.tree_flatten_with_path(params_shardings)[0]:
        by_path[_dict_key_path(path)] = sharding
    replicated = NamedSharding(mesh, PartitionSpec())

    def pick(path, leaf):
        keys = _dict_key_path(path)
        for start in range(len(keys)):  # longest suffix first
            sharding = by_path.get(keys[start:])
            if sharding is not None and _fits(sharding, leaf.shape):
                return sharding
        return replicated

    return jax.tree_util.tree_map_with_path(pick, tree_shapes)


def _fits(sharding: NamedSharding, shape: Sequence[int]) -> bool:
    spec = sharding.spec
    if len(spec) > len(shape):
        return False
    for dim, entry in zip(shape, spec, strict=False):  # spec may be shorter
        names = () if entry is None else (entry,) if isinstance(entry, str) else entry
        if dim % math.prod(sharding.mesh.shape[n] for n in names):
            return False
    return True


def batch_spec(ndim: int, *, rules: Mapping = RULES) -> PartitionSpec:
    """The spec of a batch array of rank `ndim`: leading dim on the batch axes, the rest replicated."""
    target = rules["batch"]
    return PartitionSpec(target, *([None] * (ndim - 1))) if ndim else PartitionSpec()


def batch_axes(*, rules: Mapping = RULES) -> tuple[str, ...]:
    """The mesh axes a batch is split over (the `batch` rule: data and fsdp)."""
    return _mesh_axes_of("batch", rules)


def data_parallel_size(shape: Mapping[str, int], *, rules: Mapping = RULES) -> int:
    """How many ways a batch is split on a mesh of this `shape` (`mesh.shape`): the product of
    the sizes of its `batch_axes`. Batch sizes must be multiples of it."""
    return math.prod(shape.get(a, 1) for a in batch_axes(rules=rules))


def batch_shardings(batch, mesh: Mesh, *, rules: Mapping = RULES):
    """`NamedSharding`s for a batch dict (leading dim = examples), checking it divides evenly."""
    n = data_parallel_size(mesh.shape, rules=rules)

    def one(path, x):
        shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
        if shape and shape[0] % n:
            raise ValueError(f"batch entry {jax.tree_util.keystr(path)} has {shape[0]} rows, not divisible by "
                             f"the {n} data-parallel devices of the mesh {dict(mesh.shape)}; pad or drop the "
                             f"last batch, or pick a batch size that is a multiple of {n}")
        return NamedSharding(mesh, batch_spec(len(shape), rules=rules))

    return jax.tree_util.tree_map_with_path(one, batch)


def shard_batch(batch, mesh: Mesh, *, rules: Mapping = RULES):
    """Place a host batch (the whole global batch, single host) onto the mesh, rows split."""
    return jax.device_put(batch, batch_shardings(batch, mesh, rules=rules))


def with_logical_constraint(x: jax.Array, axes: Sequence[str | None], *, rules: Mapping = RULES) -> jax.Array:
    """`x` constrained to the layout its logical `axes` get from `rules` on the current mesh.

    The mesh is the one `jax.set_mesh` set (the trainer's steps always run under one). Nothing
    happens without a mesh, on a one-device mesh, on a mesh with other axis names than ours
    (someone else's layout), or with `Explicit` axes (there the sharding is part of the types).
    """
    mesh = jax.sharding.get_abstract_mesh()
    if (mesh.empty or mesh.size == 1 or not set(mesh.axis_names) <= set(MESH_AXES)
            or any(t != AxisType.Auto for t in mesh.axis_types)):
        return x
    return jax.lax.with_sharding_constraint(x, logical_to_spec(axes, x.shape, mesh, rules=rules))
