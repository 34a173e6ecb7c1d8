"""The one table of checkpoint formats: their names, what reads and writes each, and detection.

Every place that names a format uses these names: `rembert-jax convert --to/--from`,
`rembert_jax.convert.load(format=)` / `save(format=)`, the adapters (`from_pretrained` detects,
`save_pretrained` writes `pytorch` or `tf-h5`), the trainer's `export.formats` / `--export` and
`model.init_from` / `--model` (detected).

    pytorch        transformers PyTorch: config.json + model.safetensors / shards + index / pytorch_model.bin
    tf-h5          transformers TF/Keras: tf_model.h5 / sharded h5 / TF-format safetensors  (alias: tf)
    tf-checkpoint  original Google TF1 checkpoint (bert/... names), needs tensorflow
    jax            orbax checkpoint written by `save_orbax` (params + config/task)
    train-step     a training run's checkpoint step (output_dir/checkpoints/<step>), read only; a run
                   directory or its checkpoints/ folder means its newest step that reads (`train_step`)

`tf` is the name `export.formats` and `train --export` always took for tf-h5; it is accepted as an
alias everywhere (`format_named`). Adding a format is one row here plus its reader and writer.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import struct
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Format:
    """One checkpoint format.

    `reader` / `writer` are "module:function" inside `rembert_jax.convert` (imported on use, so
    naming a format imports neither torch nor TensorFlow). Every reader takes
    `(path, *, task, config, dtype, strict, rng, device)` (plus `mesh` / `shardings` where
    `places`) and returns `(config, params, loading info or None, task)`; every writer takes
    `(directory, config, params, *, task, force)` plus `dtype` / `max_shard_size` where it has them."""

    name: str
    what: str
    reader: str
    writer: str | None = None
    aliases: tuple[str, ...] = ()
    hub_files: str = "MODEL"  # the `rembert_jax.hub` file set a Hub id of this format is fetched with
    places: bool = False  # the reader restores onto a mesh / shardings itself (orbax)
    self_describing: bool = False  # the checkpoint names its task: another head is refused by `convert`
    options: tuple[str, ...] = ("dtype",)  # the writer's keywords besides task / force
    keys: str = "pytorch"  # the `names.Name` field that spells this format's keys ("pytorch", "keras", "tf1")
    pin: str | None = None  # "module:function": the one checkpoint a path means, where it may mean several

    def pinned(self, path: str) -> str:
        """`path` resolved to the one checkpoint it means (itself for most formats)."""
        return path if self.pin is None else _function(self.pin)(path)

    def read(self) -> Callable:
        return _function(self.reader)

    def write(self) -> Callable:
        if self.writer is None:
            writable = ", ".join(f.name for f in TABLE if f.writer)
            raise ValueError(f"format {self.name} ({self.what}) is read only; write one of {writable}")
        return _function(self.writer)


TABLE: tuple[Format, ...] = (
    Format("pytorch", "transformers PyTorch weights", "pytorch:read_pytorch", "pytorch_save:save_pytorch",
           hub_files="PYTORCH_MODEL", options=("dtype", "max_shard_size")),
    Format("tf-h5", "transformers TF/Keras weights (tf_model.h5)", "keras_h5:read_keras", "keras_h5:save_keras",
           aliases=("tf",), hub_files="KERAS_MODEL", keys="keras"),
    Format("tf-checkpoint", "an original TF1 checkpoint", "tf_checkpoint:read_tf_checkpoint",
           "tf_checkpoint:save_tf_checkpoint", keys="tf1"),
    Format("jax", "an orbax checkpoint from save_orbax", "orbax_io:read_orbax", "orbax_io:write_orbax",
           places=True, self_describing=True, options=()),
    Format("train-step", "a training run's checkpoint step", "train_step:read_train_step",
           places=True, self_describing=True, options=(), pin="train_step:step_folder"),
)
FORMATS = tuple(f.name for f in TABLE)
WRITABLE = tuple(f.name for f in TABLE if f.writer)
WRITABLE_SPELLINGS = tuple(n for f in TABLE if f.writer for n in (f.name, *f.aliases))  # aliases included
_BY_NAME = {name: f for f in TABLE for name in (f.name, *f.aliases)}


def format_named(name: str) -> Format:
    """The format called `name` (or one of its aliases); ValueError listing the names otherwise."""
    found = _BY_NAME.get(name)
    if found is None:
        raise ValueError(f"unknown checkpoint format {name!r}; choose one of {', '.join(FORMATS)} "
                         f"(aliases: {', '.join(f'{a} = {f.name}' for f in TABLE for a in f.aliases)})")
    return found


def _function(spec: str) -> Callable:
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


# ------------------------------------------------------------------------------------ detection

# A training run's layout (written by `rembert_jax.train.checkpoint`, read by `train_step.py`).
CHECKPOINTS_DIR = "checkpoints"  # inside a run's output_dir: one folder per saved step
STATE_ITEM, CONFIG_ITEM = "state", "config"  # the items of a step that hold the params and the configs


def is_train_step(path: str | os.PathLike) -> bool:
    """Whether `path` is one step folder of a run's checkpoint folder."""
    return (os.path.basename(os.path.normpath(path)).isdigit() and os.path.isdir(os.path.join(path, STATE_ITEM))
            and os.path.isdir(os.path.join(path, CONFIG_ITEM)))


def _steps_in(folder: str) -> list[str]:
    """The step folders in checkpoint folder `folder`, newest first."""
    if not os.path.isdir(folder):
        return []
    steps = [os.path.join(folder, name) for name in os.listdir(folder) if name.isdigit()]
    return sorted((s for s in steps if is_train_step(s)), key=lambda s: int(os.path.basename(s)), reverse=True)


def train_steps(path: str | os.PathLike) -> list[str]:
    """The steps `path` may mean, newest first: itself (a step folder), the steps of a checkpoint
    folder, or those of a run directory's checkpoints/; [] for anything else."""
    path = os.fspath(path)
    if is_train_step(path):
        return [path]
    return _steps_in(path) or _steps_in(os.path.join(path, CHECKPOINTS_DIR))



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
    tf-h5, not pytorch."""
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
    if train_steps(path):
        found.append("train-step")
    return found


def detect_format(path: str | os.PathLike, prefer: str | None = None) -> str:
    """Which of `FORMATS` the checkpoint at `path` (a directory or a weights file / TF prefix) is in;
    `prefer`: the format to take when a directory holds several (else the first by priority)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        found = formats_in_directory(path)
        if found:
            return prefer if prefer in found else found[0]
        raise ValueError(f"cannot tell the checkpoint format of directory {path}: it holds none of config.json + "
                         "model.safetensors / pytorch_model.bin, tf_model.h5, a TF `checkpoint` / *.index, an "
                         "orbax checkpoint or a training run's checkpoints/; name it with --from "
                         f"({', '.join(FORMATS)})")
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
