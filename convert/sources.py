"""Read-only views of checkpoint files, one tensor at a time.

A `TensorSource` lists its keys and shapes without reading data and reads one tensor on
request, so converters stream: peak memory is the output plus one tensor, never the whole
checkpoint twice. Errors name the file (and the key) that is wrong.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
from collections.abc import Callable, Iterable

import numpy as np

SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
TORCH_BIN_NAME = "pytorch_model.bin"
TORCH_BIN_INDEX_NAME = "pytorch_model.bin.index.json"


class TensorSource:
    """Keys, shapes and lazily read numpy arrays of one checkpoint (possibly several shards)."""

    def __init__(self, path: str, shapes: dict[str, tuple[int, ...]], reader: Callable[[str], np.ndarray],
                 closer: Callable[[], None] | None = None, files: dict[str, str] | None = None,
                 metadata: dict[str, str] | None = None):
        self.path = path
        self.metadata = metadata or {}
        self._shapes = shapes
        self._reader = reader
        self._closer = closer
        self._files = files or {}

    def keys(self) -> list[str]:
        return list(self._shapes)

    def __iter__(self):
        return iter(self._shapes)

    def __contains__(self, key: str) -> bool:
        return key in self._shapes

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[key]

    def file_of(self, key: str) -> str:
        """The file that holds `key` (a shard for sharded checkpoints)."""
        return self._files.get(key, self.path)

    def read(self, key: str) -> np.ndarray:
        try:
            return self._reader(key)
        except (OSError, ValueError, RuntimeError) as e:
            raise ValueError(f"{self.file_of(key)}: cannot read tensor {key!r} ({e}); the file is truncated "
                             "or corrupt — re-download or re-convert it") from None

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> TensorSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------ safetensors


def _open_safetensors(path: str, stack: contextlib.ExitStack):
    from safetensors import SafetensorError, safe_open

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        return stack.enter_context(safe_open(path, framework="numpy"))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable safetensors file ({e}); the file is truncated, "
                         "corrupt or in another format") from None


def open_safetensors(path: str) -> TensorSource:
    """A single `*.safetensors` file.

    Each tensor is read through its own short-lived `safe_open`: the library memory-maps the
    file, and pages of a mapping that stays open count as resident until it is closed, so one
    long-lived handle would hold the whole file in RSS on top of the copies we build."""
    from safetensors import safe_open

    with contextlib.ExitStack() as stack:
        handle = _open_safetensors(path, stack)
        shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in list(handle.keys())}
        metadata = handle.metadata()

    def read(key: str) -> np.ndarray:
        with safe_open(path, framework="numpy") as f:
            return f.get_tensor(key)

    return TensorSource(path, shapes, read, metadata=metadata)


def read_index(index_path: str) -> dict[str, str]:
    """`weight_map` of a sharded checkpoint's index file: key -> shard file name."""
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
    except FileNotFoundError:
        raise FileNotFoundError(f"no such index file: {index_path}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{index_path} is not a valid sharded-checkpoint index ({e}); it needs a "
                         "'weight_map' object of key -> shard file") from None
    return {str(k): str(v) for k, v in weight_map.items()}


def read_index_files(index_path: str) -> list[str]:
    """The shard files an index names, as paths beside it (each once, in order)."""
    folder = os.path.dirname(index_path)
    return [os.path.join(folder, f) for f in sorted(set(read_index(index_path).values()))]


def merge_sources(path: str, sources: list[TensorSource]) -> TensorSource:
    """One source over several shards whose keys are their own (indexes that name tensors
    differently from the shards, like TF's, are only used for the list of files)."""
    shapes, owner, files = {}, {}, {}
    for source in sources:
        for key in source:
            if key in owner:
                raise ValueError(f"{path}: tensor {key!r} is in both {owner[key].path} and {source.path}")
            shapes[key], owner[key], files[key] = source.shape(key), source, source.path

    def close():
        for source in sources:
            source.close()

    metadata = sources[0].metadata if sources else {}
    return TensorSource(path, shapes, lambda k: owner[k].read(k), close, files, metadata)


def open_sharded(index_path: str, open_shard: Callable[[str], TensorSource]) -> TensorSource:
    """A sharded checkpoint: the index plus one `TensorSource` per shard file (opened lazily-once)."""
    weight_map = read_index(index_path)
    folder = os.path.dirname(index_path)
    shards: dict[str, TensorSource] = {}
    shapes, files = {}, {}
    try:
        for file in sorted(set(weight_map.values())):
            shards[file] = open_shard(os.path.join(folder, file))
        for key, file in weight_map.items():
            if key not in shards[file]:
                raise ValueError(f"{index_path} maps {key!r} to {file}, but that shard has no such tensor")
            shapes[key] = shards[file].shape(key)
            files[key] = os.path.join(folder, file)
    except BaseException:
        for shard in shards.values():
            shard.close()
        raise

    def close():
        for shard in shards.values():
            shard.close()

    metadata = next(iter(shards.values())).metadata if shards else {}
    return TensorSource(index_path, shapes, lambda k: shards[weight_map[k]].read(k), close, files, metadata)


# ----------------------------------------------------------------------------- torch pickles


def torch_to_numpy(tensor) -> np.ndarray:
    """A CPU torch tensor as numpy, bf16 included (numpy has no bf16; ml_dtypes does)."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        import ml_dtypes

        return tensor.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def open_torch_bin(path: str) -> TensorSource:
    """A `pytorch_model.bin` read with `weights_only=True` (never an arbitrary pickle)."""
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        try:  # memory-map zip-format files so tensors are paged in one at a time
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (pre-1.6) format
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not a plain PyTorch state dict: loading it with weights_only=True "
                         f"failed ({first_line}). Only pickles of plain tensors are read; re-save the model "
                         "with `torch.save(model.state_dict(), ...)` or as safetensors") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({e}); the file is truncated, "
                         "corrupt or in another format") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor; "
                             "expected a plain state dict (key -> tensor)")
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    return TensorSource(path, shapes, lambda k: torch_to_numpy(state[k]), state.clear)


# --------------------------------------------------------------------------------- dispatch


def find_pytorch_weights(directory: str) -> str:
    """The weights file of a transformers PyTorch checkpoint directory, preferring safetensors."""
    for name in (SAFETENSORS_NAME, SAFETENSORS_INDEX_NAME, TORCH_BIN_NAME, TORCH_BIN_INDEX_NAME):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"{directory} holds no PyTorch weights: expected one of {SAFETENSORS_NAME}, {SAFETENSORS_INDEX_NAME}, "
        f"{TORCH_BIN_NAME}, {TORCH_BIN_INDEX_NAME}"
    )


def open_pytorch(path: str) -> TensorSource:
    """Open a PyTorch-style weights file by its name: safetensors, a sharded index, or a .bin."""
    if path.endswith(".index.json"):
        inner = path[: -len(".index.json")]
        opener = open_safetensors if inner.endswith(".safetensors") else open_torch_bin
        return open_sharded(path, opener)
    if path.endswith(".safetensors"):
        return open_safetensors(path)
    if path.endswith((".bin", ".pt", ".pth")):
        return open_torch_bin(path)
    raise ValueError(f"{path}: unknown PyTorch weights format; expected *.safetensors, *.bin / *.pt, "
                     "or a *.index.json of shards")


def total_elements(shapes: Iterable[tuple[int, ...]]) -> int:
    return int(sum(int(np.prod(s)) for s in shapes))
