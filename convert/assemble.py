"""Build our params tree from any `TensorSource` through the name table, and report like
transformers does.

Format-independent: a reader supplies the source, the `Name`s it expects, the checkpoint
format (a `formats.TABLE` name: "pytorch", "tf-h5", "tf-checkpoint") and how to canonicalise keys (e.g. drop `rembert.`).
Checkpoint slices are copied one at a time into preallocated leaves (stacked layers included),
so the peak is the output plus one tensor.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence

import numpy as np

from .names import Name
from .sources import TensorSource, total_elements

logger = logging.getLogger("rembert_jax.convert")

# RemBERT's weights are floating point; anything else (int32 from a broken export) would be cast to
# nonsense without a word, so readers and writers refuse it naming the tensor.
WEIGHT_DTYPES = ("float32", "bfloat16", "float16", "float64")

# A progress bar is shown when a checkpoint holds more elements than this (~256 MB of fp32).
PROGRESS_MIN_ELEMENTS = 64 * 2**20


@dataclasses.dataclass
class LoadingInfo:
    """What a load did besides copying tensors (transformers' `output_loading_info` fields)."""

    source: str
    missing_keys: list[str] = dataclasses.field(default_factory=list)
    unexpected_keys: list[str] = dataclasses.field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple, tuple]] = dataclasses.field(default_factory=list)
    unused_keys: list[str] = dataclasses.field(default_factory=list)  # known keys of another head/pooler
    newly_initialized_keys: list[str] = dataclasses.field(default_factory=list)

    def log(self) -> None:
        """Report as transformers does: unused and newly initialised weights are warnings, not errors."""
        if self.unused_keys:
            logger.warning("Some weights of %s were not used (they belong to another head or the pooler): %s",
                           self.source, self.unused_keys)
        if self.newly_initialized_keys:
            logger.warning("Some weights were not in %s and are newly initialized: %s. You should probably "
                           "train this model on a down-stream task before using it for predictions.",
                           self.source, self.newly_initialized_keys)
        if self.missing_keys:
            logger.warning("Missing weights in %s (initialized fresh, strict=False): %s",
                           self.source, self.missing_keys)
        if self.unexpected_keys:
            logger.warning("Unexpected weights in %s (ignored, strict=False): %s", self.source,
                           self.unexpected_keys)


def set_leaf(tree: dict, path: Sequence[str], value) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def get_leaf(tree: dict, path: Sequence[str]):
    node = tree
    for part in path:
        node = node[part]
    return node


def to_stored(name: Name, fmt: str, value: np.ndarray) -> np.ndarray:
    """Our slice -> the array format `fmt` stores (a transposed view where the format transposes)."""
    return value.T if name.transposed(fmt) else value


def from_stored(name: Name, fmt: str, value: np.ndarray) -> np.ndarray:
    return value.T if name.transposed(fmt) else value


def check_weight_dtype(dtype, what: str) -> None:
    """ValueError naming `what` (a tensor and its file, a params leaf) unless `dtype` is a float type."""
    name = np.dtype(dtype).name
    if name not in WEIGHT_DTYPES:
        raise ValueError(f"{what} is stored as {name}, not a floating-point type ({', '.join(WEIGHT_DTYPES)}): "
                         "model weights are never integers or booleans, so the checkpoint is corrupt or not "
                         "RemBERT weights")


def _describe_shape(shape: tuple) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def assemble(
    source: TensorSource,
    names: Sequence[Name],
    fmt: str,
    *,
    canonical: Callable[[str], str] = lambda k: k,
    ignored: Callable[[str], bool] = lambda k: False,
    known_elsewhere: Callable[[str], bool] = lambda k: False,
    optional_parts: Sequence[str] = (),
    strict: bool = True,
    dtype=None,
    init: Callable[[Sequence[Name]], dict] | None = None,
    what: str = "the model",
    device: bool = False,
) -> tuple[dict, LoadingInfo]:
    """Read every `Name` from `source` into a nested dict of numpy arrays (jax arrays on the
    default device, placed tensor by tensor, when `device`).

    `canonical` maps a checkpoint key and a table key to a comparable form; `ignored` keys (legacy
    buffers, optimizer slots) are skipped silently; `known_elsewhere` keys (another head, an unused
    pooler) are reported as unused rather than unexpected. A part in `optional_parts` ("head",
    "pooler") that is absent as a whole is filled by `init` and reported as newly initialised.
    Mis-shaped tensors always raise; missing and unexpected ones raise when `strict`, otherwise
    missing ones are filled by `init`. `dtype=None` keeps the stored dtype.
    """
    info = LoadingInfo(source=source.path)
    available: dict[str, str] = {}
    for key in source:
        if ignored(key):
            continue
        canon = canonical(key)
        if canon in available:
            raise ValueError(f"{source.path}: keys {available[canon]!r} and {key!r} name the same tensor")
        available[canon] = key

    expected = {canonical(n.key(fmt)): n for n in names}
    found: list[tuple[Name, str]] = []
    missing: list[Name] = []
    for canon, name in expected.items():
        key = available.get(canon)
        if key is None:
            missing.append(name)
            continue
        stored = tuple(source.shape(key))
        if stored != name.stored_shape(fmt):
            info.mismatched_keys.append((key, stored, name.stored_shape(fmt)))
        found.append((name, key))

    fresh: list[Name] = []
    for part in optional_parts:
        part_names = [n for n in names if n.part == part]
        if part_names and all(n in missing for n in part_names):
            fresh += part_names
            info.newly_initialized_keys += [n.key(fmt) for n in part_names]
    still_missing = [n for n in missing if n not in fresh]
    info.missing_keys = [n.key(fmt) for n in still_missing]
    for canon, key in available.items():
        if canon not in expected:
            (info.unused_keys if known_elsewhere(canon) else info.unexpected_keys).append(key)

    problems = []
    if info.mismatched_keys:
        problems.append("mis-shaped keys: " + "; ".join(
            f"{k} is {_describe_shape(s)} in the checkpoint but {what} needs {_describe_shape(e)}"
            for k, s, e in info.mismatched_keys))
    if strict and info.missing_keys:
        problems.append(f"missing keys: {', '.join(info.missing_keys)}")
    if strict and info.unexpected_keys:
        problems.append(f"unexpected keys: {', '.join(info.unexpected_keys)}")
    if problems:
        hint = ("check that the config matches the checkpoint" if info.mismatched_keys else
                "check the config and task, or pass strict=False to initialise missing weights "
                "and ignore unexpected ones")
        raise ValueError(f"{source.path} does not match {what}: " + " | ".join(problems) + f" ({hint})")

    layer_counts: dict[tuple[str, ...], int] = {}
    for name in names:
        if name.layer is not None:
            layer_counts[name.path] = max(layer_counts.get(name.path, 0), name.layer + 1)
    build = _DeviceLeaves if device else _HostLeaves
    leaves = _read_leaves(source, found, fmt, dtype, layer_counts, build)
    if fresh or still_missing:
        if init is None:
            raise ValueError(f"{source.path}: {what} lacks weights and no initialiser was given: "
                             f"{[n.key(fmt) for n in fresh + still_missing]}")
        _fill(leaves, fresh + still_missing, init(fresh + still_missing), dtype, layer_counts, build)
    params: dict = {}
    for path in dict.fromkeys(n.path for n in names):  # in the table's order, as always
        if path in leaves:
            set_leaf(params, path, leaves[path])
    info.log()
    return params, info


class _HostLeaves:
    """Leaves as numpy arrays: a stacked leaf is preallocated and filled layer by layer."""

    @staticmethod
    def whole(value: np.ndarray, dtype) -> np.ndarray:
        return np.array(value, dtype=dtype, copy=True, order="C")

    @staticmethod
    def stacked(shape: tuple[int, ...], dtype) -> np.ndarray:
        return np.empty(shape, dtype=dtype)

    @staticmethod
    def set_layer(leaf: np.ndarray, layer: int, value: np.ndarray) -> np.ndarray:
        leaf[layer] = value
        return leaf


class _DeviceLeaves:
    """Leaves built straight on the default device, one checkpoint tensor at a time: a stacked leaf
    is allocated there and each layer's slice written into it in place (its buffer donated), so
    the host never holds more than the tensor being moved. Loading this way peaks at about the
    model's size, where a host tree moved afterwards peaks at the model plus its largest leaf."""

    @staticmethod
    def whole(value: np.ndarray, dtype):
        import jax

        return jax.device_put(np.asarray(value, dtype=dtype)).block_until_ready()

    @staticmethod
    def stacked(shape: tuple[int, ...], dtype):
        import jax
        import jax.numpy as jnp

        return jnp.zeros(shape, jax.dtypes.canonicalize_dtype(dtype)).block_until_ready()

    @staticmethod
    def set_layer(leaf, layer: int, value: np.ndarray):
        # block: an update still queued would keep its host slice (and the donated buffer) alive
        return _set_layer_in_place()(leaf, np.asarray(value, dtype=leaf.dtype), layer).block_until_ready()


@functools.cache
def _set_layer_in_place():
    """`leaf.at[layer].set(value)`, jitted (once per leaf shape), writing into `leaf`'s donated buffer."""
    import jax

    return jax.jit(lambda leaf, value, layer: jax.lax.dynamic_update_index_in_dim(leaf, value, layer, 0),
                   donate_argnums=0)


def _read_leaves(source: TensorSource, found: list[tuple[Name, str]], fmt: str, dtype,
                 layer_counts: dict[tuple[str, ...], int], build) -> dict[tuple[str, ...], object]:
    """{leaf path: leaf} of every found tensor, read one at a time and placed by `build`."""
    from tqdm.auto import tqdm

    leaves: dict[tuple[str, ...], object] = {}
    big = total_elements(source.shape(k) for _, k in found) > PROGRESS_MIN_ELEMENTS
    for name, key in tqdm(found, desc=f"reading {source.path}", unit="tensor", disable=not big,
                          leave=False):
        value = from_stored(name, fmt, source.read(key))
        check_weight_dtype(value.dtype, f"{source.file_of(key)}: tensor {key!r}")
        target_dtype = np.dtype(dtype) if dtype is not None else value.dtype
        _place(leaves, name, value, target_dtype, layer_counts, build)
        del value
    return leaves


def _place(leaves: dict, name: Name, value: np.ndarray, dtype, layer_counts: dict, build) -> None:
    """Put one tensor (a whole leaf, or one layer's slice of a stacked leaf) into `leaves`."""
    if name.layer is None:
        leaves[name.path] = build.whole(value, dtype)
        return
    leaf = leaves.get(name.path)
    if leaf is None:
        leaf = build.stacked((layer_counts[name.path],) + name.shape, dtype)
    leaves[name.path] = build.set_layer(leaf, name.layer, value)


def _fill(leaves: dict, names: Sequence[Name], fresh: dict, dtype, layer_counts: dict, build) -> None:
    """Place freshly initialised slices (from a full tree `fresh`) like checkpoint tensors."""
    for name in names:
        value = np.asarray(get_leaf(fresh, name.path))
        if name.layer is not None:
            value = value[name.layer]
        _place(leaves, name, value, np.dtype(dtype or value.dtype), layer_counts, build)


# ------------------------------------------------------------------------------ the other way


@dataclasses.dataclass(frozen=True)
class StoredTensor:
    """One tensor to write: its `Name`, the shape and dtype it will have, and a loader that makes it
    (in the format's layout) only when the writer gets to it, so writers hold one tensor at a time."""

    name: Name
    shape: tuple[int, ...]
    dtype: np.dtype
    load: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


def stored_tensors(params: dict, names: Sequence[Name], fmt: str, *, dtype=None, what: str = "params"
                   ) -> list[StoredTensor]:
    """Each `Name` with a loader of its tensor laid out as format `fmt` stores it, cast to `dtype`
    if given. Checks the whole tree first, naming missing leaves and wrong shapes."""
    problems = []
    out = []
    hosts: dict[tuple[str, ...], np.ndarray] = {}
    for name in names:
        try:
            leaf = get_leaf(params, name.path)
        except (KeyError, TypeError):
            problems.append(f"{'/'.join(name.path)} is missing")
            continue
        shape = tuple(np.shape(leaf))
        want = name.shape if name.layer is None else (f"L>{name.layer}",) + name.shape
        ok = shape == name.shape if name.layer is None else (
            shape[1:] == name.shape and len(shape) == len(name.shape) + 1 and shape[0] > name.layer)
        if not ok:
            problems.append(f"{'/'.join(name.path)} is {_describe_shape(shape)}, expected {_describe_shape(want)}")
            continue
        check_weight_dtype(leaf.dtype, f"{what} leaf {'/'.join(name.path)}")
        leaf_dtype = np.dtype(dtype) if dtype is not None else np.dtype(leaf.dtype)

        def load(name=name, leaf=leaf) -> np.ndarray:
            host = hosts.get(name.path)
            if host is None:  # one host view per leaf (zero-copy for CPU jax arrays and numpy)
                hosts.clear()  # writers go leaf by leaf: keep only the current one (lazy leaves)
                host = hosts[name.path] = np.asarray(leaf)
            value = host if name.layer is None else host[name.layer]
            if dtype is not None:
                value = value.astype(dtype, copy=False)
            return np.ascontiguousarray(to_stored(name, fmt, value))

        out.append(StoredTensor(name, name.stored_shape(fmt), leaf_dtype, load))
    if problems:
        raise ValueError(f"{what} do not match the config: " + "; ".join(dict.fromkeys(problems)))
    return out


def leaf_paths(tree: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in tree.items():
        out += leaf_paths(value, prefix + (key,)) if isinstance(value, dict) else [prefix + (key,)]
    return out


def check_no_extra_leaves(params: dict, names: Sequence[Name], what: str) -> None:
    """A leaf no `Name` points to would be silently dropped by a writer: refuse instead."""
    covered = {n.path for n in names}
    extra = [p for p in leaf_paths(params) if p not in covered]
    if extra:
        raise ValueError(f"{what} hold parameters the checkpoint format has no name for: "
                         f"{', '.join('/'.join(p) for p in extra)} (wrong task or config?)")
