"""Which checkpoint a directory holds, and the converter that reads or writes it.

The adapters' `from_pretrained` accepts every layout the converters read, detected from the
file names (transformers' own names): PyTorch (`model.safetensors`, sharded safetensors,
`pytorch_model.bin`), Keras h5 (`tf_model.h5`, sharded h5) and the original TF checkpoint
(`checkpoint` / `*.index`). The PyTorch family prefers PyTorch weights when a directory has
several, the TF family prefers h5, as transformers' classes do.
"""

from __future__ import annotations

import logging
import os

import jax

from rembert_jax import RemBertConfig
from rembert_jax.convert.formats import formats_in_directory

logger = logging.getLogger("rembert_jax.convert")

PYTORCH, KERAS_H5, TF1, ORBAX = "pytorch", "keras_h5", "tf1", "orbax"
_PYTORCH_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")
_H5_FILES = ("tf_model.h5", "tf_model.h5.index.json")
# the converters' format names -> the adapters'
_ADAPTER_NAMES = {"pytorch": PYTORCH, "tf-h5": KERAS_H5, "tf-checkpoint": TF1, "jax": ORBAX}


def detect_format(path: str, prefer: str = PYTORCH) -> str:
    """The weight format in directory `path` (FileNotFoundError naming what was looked for)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"from_pretrained: {path!r} is not a directory (give the folder written by "
                                "save_pretrained; downloads from the hub are not supported)")
    found = [_ADAPTER_NAMES[f] for f in formats_in_directory(path)]
    if not found:
        raise FileNotFoundError(
            f"no weights in {path}: expected one of {', '.join(_PYTORCH_FILES + _H5_FILES)}, a TF checkpoint "
            "(checkpoint / *.index) or an orbax checkpoint from save_orbax (rembert.json + params/)")
    return prefer if prefer in found else found[0]


def load(path: str, task: str, overrides: dict, fmt: str, *, rng: int = 0):
    """(config, params) of `task` ("base" for the bare encoder) from the checkpoint in `path`.

    A missing head is freshly initialised; the converters log it the way transformers does.
    """
    from rembert_jax import convert

    if fmt == ORBAX:
        return _load_orbax(path, task, overrides, rng)
    config = RemBertConfig.from_pretrained(path, **overrides)
    task_arg = None if task == "base" else task
    if fmt == PYTORCH:
        return convert.load_pytorch(path, task=task_arg, config=config, rng=rng)
    if fmt == KERAS_H5:
        return convert.load_keras(path, task=task_arg, config=config, rng=rng)
    return convert.load_tf_checkpoint(path, task=task_arg, config=config, rng=rng)


def _load_orbax(path: str, task: str, overrides: dict, rng: int):
    """An orbax checkpoint holds the params of the task it was saved for, with its config; a
    different head is replaced by a fresh one (and the pooler matched to the class)."""
    from rembert_jax.convert import load_orbax
    from rembert_jax.convert.orbax_io import orbax_task

    saved_task = orbax_task(path)
    config, params = load_orbax(path)
    config = config.replace(**overrides) if overrides else config
    if saved_task == task:
        return config, params
    encoder = params if saved_task == "base" else params["encoder"]
    if task == "base":
        return config, encoder
    from rembert_jax.heads.specs import TASK_POOLER
    from rembert_jax.heads.task_model import TaskModel

    key = jax.random.key(rng)
    head = TaskModel(config, task).init_head(jax.random.fold_in(key, 1))
    logger.warning("The checkpoint at %s holds %s weights; the %s head is newly initialized. You should probably "
                   "TRAIN this model on a down-stream task before using it for predictions.", path, saved_task, task)
    encoder = match_pooler(encoder, config, TASK_POOLER[task], source=path, rng=rng)
    return config, {"encoder": encoder, "head": head}


def save(path: str, task: str, config: RemBertConfig, params, fmt: str) -> None:
    """Write config.json and the weights of `task` in `fmt` (PYTORCH or KERAS_H5).

    Like transformers' `save_pretrained`, into an existing folder too (force=True): only the files
    this format writes are replaced there, the tokenizer's and any others are kept."""
    from rembert_jax import convert

    save = convert.save_pytorch if fmt == PYTORCH else convert.save_keras
    save(path, config, params, task=task, force=True)


def match_pooler(params: dict, config: RemBertConfig, add_pooling_layer: bool, *, source: str, rng: int = 0) -> dict:
    """Bare-encoder params with a pooler exactly when `add_pooling_layer`, as transformers'
    `RemBertModel.from_pretrained` builds it: a checkpoint of a head without one (MLM, QA, ...) gets
    a freshly initialised pooler, reported like transformers; `add_pooling_layer=False` drops it."""
    if not add_pooling_layer:
        return {k: v for k, v in params.items() if k != "pooler"}
    if "pooler" in params:
        return params
    from rembert_jax.params import init_from_specs, param_specs

    spec = param_specs(config)["pooler"]
    pooler = init_from_specs(spec, jax.random.fold_in(jax.random.key(rng), 2), std=config.initializer_range)
    logger.warning("Some weights of RemBertModel were not initialized from the checkpoint at %s and are newly "
                   "initialized: ['pooler.dense.weight', 'pooler.dense.bias']. You should probably TRAIN this "
                   "model on a down-stream task to use its pooler_output (or load it with add_pooling_layer=False).",
                   source)
    return {**params, "pooler": pooler}
