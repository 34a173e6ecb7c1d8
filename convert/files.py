"""Writing checkpoint files safely: atomic output directories, streamed safetensors, sharding.

`safetensors.numpy.save_file` needs every tensor in memory at once; for a 2.3 GB model that
doubles the peak. The format is a little-endian u64 header length, a JSON header (dtype, shape,
byte offsets; padded to 8 bytes) and the raw bytes, so we write the header from the shapes and
then stream one tensor at a time. The result is read back with `safetensors.safe_open`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .assemble import StoredTensor
from .destination import DestinationError, check_destination, write_failure

_SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(size: int | str) -> int:
    """Bytes from an int or a string like "5GB", "200MB", "10GiB" (transformers' convention)."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]I?B|B)?\s*", str(size).upper())
    if not match:
        raise ValueError(f"max_shard_size {size!r} is not a size like '5GB', '200MB' or a number of bytes")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2) or ""])


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, *, produces: Callable[[str], bool], force: bool = False,
                     needed_bytes: int = 0) -> Iterator[str]:
    """Yield a staging directory beside `target`; on success its files replace `target`'s.

    `target` is checked first (`check_destination`: empty unless `force`, writable, room for
    `needed_bytes`). A new `target` appears by one rename; an existing one gets each file
    by an atomic rename (weights first, then config), so an interrupted write never leaves a
    half-written file behind. `produces(name)` says which names this writer owns: only those are
    ever replaced or removed (an older checkpoint's extra shards), never another file of `target`.
    On any failure the staging directory is removed and an `OSError` names the path and the cause."""
    target = check_destination(target, force=force, needed_bytes=needed_bytes)
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.tmp-", dir=parent)
    except OSError as e:
        raise write_failure(target, e) from None
    try:
        try:
            yield staging
            files = sorted(os.listdir(staging), key=lambda f: f.endswith(".json"))  # config/index last
            foreign = [f for f in files if not produces(f)]
            if foreign:  # a writer that strays from its own names could replace a user's file
                raise AssertionError(f"writer staged files it does not declare: {foreign}")
            if not os.path.exists(target):
                os.rename(staging, target)
                return
            for file in files:
                destination = os.path.join(target, file)
                if os.path.isdir(destination) and not os.path.islink(destination):
                    os.replace(destination, os.path.join(staging, f".replaced-{file}"))  # removed below
                os.replace(os.path.join(staging, file), destination)
            for file in os.listdir(target):
                if produces(file) and file not in files:
                    _remove(os.path.join(target, file))
        except DestinationError:
            raise
        except OSError as e:
            raise write_failure(target, e) from None
    finally:
        _remove_staging(staging)


def _remove_staging(staging: str) -> None:
    """Remove the staging folder, again after a pause if it is still there: after a failed write, a
    library's worker threads (tensorstore under orbax) may still be finishing a file inside it."""
    for pause in (0.0, 0.2, 1.0):
        time.sleep(pause)
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.lexists(staging):
            return


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def write_safetensors(path: str, tensors: Sequence[tuple[str, StoredTensor]], metadata: dict | None = None,
                      progress=None) -> None:
    """Write `(key, tensor)` pairs as one safetensors file, one tensor in memory at a time."""
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for key, tensor in tensors:
        dtype = _SAFETENSORS_DTYPES.get(tensor.dtype.name)
        if dtype is None:
            raise ValueError(f"{key}: dtype {tensor.dtype} can't be stored in safetensors")
        header[key] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for key, tensor in tensors:
            value = tensor.load()
            if value.shape != tensor.shape or value.dtype != tensor.dtype:
                raise ValueError(f"{key}: produced {value.dtype}{list(value.shape)}, announced "
                                 f"{tensor.dtype}{list(tensor.shape)}")
            f.write(np.ascontiguousarray(value).view(np.uint8).reshape(-1).data)
            if progress is not None:
                progress.update(tensor.nbytes)
            del value


def plan_shards(tensors: Sequence[tuple[str, StoredTensor]], max_shard_size: int
                ) -> list[list[tuple[str, StoredTensor]]]:
    """Split tensors, in order, into shards of at most `max_shard_size` bytes (a larger tensor alone)."""
    shards: list[list[tuple[str, StoredTensor]]] = [[]]
    size = 0
    for item in tensors:
        if shards[-1] and size + item[1].nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(item)
        size += item[1].nbytes
    return shards


def write_sharded_safetensors(folder: str, tensors: Sequence[tuple[str, StoredTensor]], *, max_shard_size: int,
                              weights_name: str, index_name: str, metadata: dict | None = None,
                              progress=None) -> list[str]:
    """One `weights_name` file, or `model-0000k-of-0000n.safetensors` shards plus an index when the
    tensors exceed `max_shard_size`. Returns the files written (relative to `folder`)."""
    shards = plan_shards(tensors, max_shard_size)
    if len(shards) == 1:
        write_safetensors(os.path.join(folder, weights_name), tensors, metadata, progress)
        return [weights_name]
    stem, ext = os.path.splitext(weights_name)
    files, weight_map = [], {}
    for k, shard in enumerate(shards, start=1):
        file = f"{stem}-{k:05d}-of-{len(shards):05d}{ext}"
        write_safetensors(os.path.join(folder, file), shard, metadata, progress)
        files.append(file)
        weight_map.update({key: file for key, _ in shard})
    total = sum(t.nbytes for _, t in tensors)
    with open(os.path.join(folder, index_name), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")
    return [*files, index_name]
