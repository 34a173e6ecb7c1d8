"""Checkpoint formats by name: detect a source's format and convert between any two.

    pytorch        transformers PyTorch: config.json + model.safetensors / shards + index / pytorch_model.bin
    tf-h5          transformers TF/Keras: tf_model.h5 / sharded h5 / TF-format safetensors
    tf-checkpoint  original Google TF1 checkpoint (bert/... names), needs tensorflow
    jax            orbax checkpoint written by `save_orbax` (params + config/task)

Conversion streams: the source is read tensor by tensor into the params tree (cast on the way in
when a dtype is requested; for "jax" straight onto the device, which orbax writes from), and
writers emit one tensor at a time, so the peak is about one copy of the model plus one tensor.
"""

from __future__ import annotations

import json
import os
import struct

FORMATS = ("pytorch", "tf-h5", "tf-checkpoint", "jax")


def _safetensors_format(path: str) -> str | None:
    """The `format` metadata of a safetensors file (header only), or None when unreadable."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100 * 2**20:
                return None
            header = json.loads(f.read(length))
        return (header.get("__metadata__") or {}).get("format", "pt")
    except (OSError, ValueError, struct.error):
        return None


def _index_format(index_path: str) -> str | None:
    try:
        with open(index_path, encoding="utf-8") as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _safetensors_format(os.path.join(os.path.dirname(index_path), files[0])) if files else None


def formats_in_directory(path: str | os.PathLike) -> list[str]:
    """Every one of `FORMATS` whose files directory `path` holds, in detection priority order.

    TF-format safetensors (metadata `format="tf"`, written by transformers' TF classes) count as
    tf-h5, not pytorch.
    """
    entries = set(os.listdir(path))
    found = []
    if {"params", "rembert.json"} <= entries:
        found.append("jax")
    if "tf_model.h5" in entries or "tf_model.h5.index.json" in entries:
        found.append("tf-h5")
    for name, read_format in (("model.safetensors", _safetensors_format),
                              ("model.safetensors.index.json", _index_format)):
        if name in entries:
            kind = "tf-h5" if read_format(os.path.join(path, name)) == "tf" else "pytorch"
            if kind not in found:
                found.append(kind)
    if ("pytorch_model.bin" in entries or "pytorch_model.bin.index.json" in entries) and "pytorch" not in found:
        found.append("pytorch")
    if "checkpoint" in entries or any(e.endswith(".index") for e in entries):
        found.append("tf-checkpoint")
    return found


def detect_format(path: str | os.PathLike) -> str:
    """Which of `FORMATS` the checkpoint at `path` (a directory or a weights file / TF prefix) is in."""
    path = os.fspath(path)
    if os.path.isdir(path):
        found = formats_in_directory(path)
        if found:
            return found[0]
        raise ValueError(f"cannot tell the checkpoint format of directory {path}: it holds none of config.json + "
                         "model.safetensors / pytorch_model.bin, tf_model.h5, a TF `checkpoint` / *.index, or an "
                         f"orbax checkpoint; name it with --from ({', '.join(FORMATS)})")
    if os.path.isfile(path) or os.path.isfile(path + ".index"):
        if path.endswith(".safetensors"):
            return "tf-h5" if _safetensors_format(path) == "tf" else "pytorch"
        if path.endswith(".safetensors.index.json"):
            return "tf-h5" if _index_format(path) == "tf" else "pytorch"
        if path.endswith((".bin", ".pt", ".pth", ".bin.index.json")):
            return "pytorch"
        if path.endswith((".h5", ".h5.index.json")):
            return "tf-h5"
        if path.endswith(".index") or os.path.isfile(path + ".index"):
            return "tf-checkpoint"
        raise ValueError(f"cannot tell the checkpoint format of {path} from its name (expected *.safetensors, "
                         f"*.bin, *.h5, *.index.json or a TF checkpoint prefix); name it with --from "
                         f"({', '.join(FORMATS)})")
    raise FileNotFoundError(f"no checkpoint at {path}")


def read_checkpoint(path, fmt: str, *, task=None, config=None, dtype=None, strict=True, device=False):
    """(config, params, loading info, task) from a checkpoint of format `fmt`: host (numpy) params,
    or with `device` jax arrays placed tensor by tensor (a "jax" source stays lazy either way)."""
    if fmt == "pytorch":
        from .pytorch import read_pytorch

        return read_pytorch(path, task=task, config=config, dtype=dtype, strict=strict, device=device)
    if fmt == "tf-h5":
        from .keras_h5 import read_keras

        return read_keras(path, task=task, config=config, dtype=dtype, strict=strict, device=device)
    if fmt == "tf-checkpoint":
        from .tf_checkpoint import read_tf_checkpoint

        return read_tf_checkpoint(path, task=task, config=config, dtype=dtype, strict=strict, device=device)
    if fmt == "jax":  # leaves are read one by one as the writer reaches them
        from .orbax_io import lazy_orbax_params

        loaded_config, saved_task, params = lazy_orbax_params(path, dtype=dtype)
        if task in (None, "base") and saved_task != "base":
            return config or loaded_config, params["encoder"], None, "base"  # the encoder of a task model
        if task not in (None, "auto", saved_task):
            raise ValueError(f"{path} holds a {saved_task} model, not {task}; convert it with --task auto or base")
        return config or loaded_config, params, None, saved_task
    raise ValueError(f"unknown checkpoint format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_checkpoint(path, fmt: str, config, params, *, task: str, dtype=None, force: bool = False,
                     max_shard_size=None) -> None:
    if fmt == "pytorch":
        from .pytorch_save import DEFAULT_MAX_SHARD_SIZE, save_pytorch

        save_pytorch(path, config, params, task=task, dtype=dtype, force=force,
                     max_shard_size=max_shard_size or DEFAULT_MAX_SHARD_SIZE)
    elif fmt == "tf-h5":
        from .keras_h5 import save_keras

        save_keras(path, config, params, task=task, dtype=dtype, force=force)
    elif fmt == "tf-checkpoint":
        from .tf_checkpoint import save_tf_checkpoint

        save_tf_checkpoint(path, config, params, task=task, dtype=dtype, force=force)
    elif fmt == "jax":
        from .loader import to_device
        from .orbax_io import save_orbax

        # orbax snapshots numpy leaves before writing (a second copy) but writes CPU jax arrays
        # from their own buffers: give it jax arrays (read onto the device, or moved leaf by leaf).
        save_orbax(path, config, to_device(params, dtype), task=task, force=force)
    else:
        raise ValueError(f"unknown checkpoint format {fmt!r}; choose one of {', '.join(FORMATS)}")


def convert_checkpoint(src, dst, *, to: str, source_format: str | None = None, task: str | None = "auto",
                       dtype=None, config=None, strict: bool = True, force: bool = False, max_shard_size=None,
                       **hub):
    """Convert the checkpoint at `src` (a local path or a Hub id, fetched with transformers' loading
    keywords `**hub`: `revision`, `cache_dir`, ...) to format `to` at `dst`; returns `(source format, task)`.

    `task="auto"` keeps the source's head (detected from its config / keys); a task name loads that
    head (freshly initialised if the source has none, logged), except from a "jax" (orbax) source,
    which converts only to its own task or, with "base" / None, to its bare encoder (another task
    is refused). `dtype` casts every tensor.

    Before anything is read, `dst` is checked (`destination.check_destination`): it must not be or
    hold the source (compared by real path), must be empty unless `force` (which replaces only the
    files format `to` writes) and must accept files."""
    from .destination import check_destination

    if to not in FORMATS:
        raise ValueError(f"unknown target format {to!r}; choose one of {', '.join(FORMATS)}")
    from rembert_jax import hub as hub_files

    from .loader import local_checkpoint

    wanted = hub_files.KERAS_MODEL if source_format == "tf-h5" else hub_files.MODEL
    src = local_checkpoint(src, wanted, hub)
    source_format = source_format or detect_format(src)
    check_destination(dst, force=force, sources=[src])
    config, params, _, task = read_checkpoint(src, source_format, task=task, config=config, dtype=dtype, strict=strict,
                                              device=to == "jax")
    write_checkpoint(dst, to, config, params, task=task, force=force, max_shard_size=max_shard_size)
    return source_format, task
