"""Which checkpoint a directory holds, and the converter that reads or writes it.

The adapters' `from_pretrained` accepts every format the converters read (`rembert_jax.convert.formats`),
detected from the file names (transformers' own names): PyTorch (`model.safetensors`, sharded
safetensors, `pytorch_model.bin`), Keras h5 (`tf_model.h5`, sharded h5), the original TF checkpoint
(`checkpoint` / `*.index`), orbax (`save_orbax`) and a training run's checkpoint step (or its
output_dir). The PyTorch family prefers PyTorch weights when a directory has several, the TF family
prefers h5, as transformers' classes do. Reading and writing are `convert.load` / `convert.save`.
"""

from __future__ import annotations

import logging
import os

import jax

from rembert_jax import RemBertConfig
from rembert_jax.convert.formats import formats_in_directory

logger = logging.getLogger("rembert_jax.convert")

# The formats each family's save_pretrained writes, by the one table's names (`convert.formats`).
PYTORCH, KERAS_H5 = "pytorch", "tf-h5"
_PYTORCH_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")
_H5_FILES = ("tf_model.h5", "tf_model.h5.index.json")


def detect_format(path: str, prefer: str = PYTORCH) -> str:
    """The weight format in directory `path` (FileNotFoundError naming what was looked for)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"from_pretrained: {path!r} is not a directory (give the folder written by "
                                "save_pretrained; downloads from the hub are not supported)")
    found = formats_in_directory(path)
    if not found:
        raise FileNotFoundError(
            f"no weights in {path}: expected one of {', '.join(_PYTORCH_FILES + _H5_FILES)}, a TF checkpoint "
            "(checkpoint / *.index), an orbax checkpoint from save_orbax (rembert.json + params/) or a training "
            "run's checkpoints/")
    return prefer if prefer in found else found[0]


def load(path: str, task: str, overrides: dict, fmt: str, *, rng: int = 0):
    """(config, params) of `task` ("base" for the bare encoder) from the checkpoint in `path`, by
    `rembert_jax.convert.load`. A missing head is freshly initialised, logged the way transformers does."""
    from rembert_jax import convert

    return convert.load(path, format=fmt, task=task, overrides=overrides, rng=rng)


def save(path: str, task: str, config: RemBertConfig, params, fmt: str) -> None:
    """Write config.json and the weights of `task` in `fmt` (PYTORCH or KERAS_H5), by `rembert_jax.convert.save`.

    Like transformers' `save_pretrained`, into an existing folder too (force=True): only the files
    this format writes are replaced there, the tokenizer's and any others are kept."""
    from rembert_jax import convert

    convert.save(path, config, params, format=fmt, task=task, force=True)


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
