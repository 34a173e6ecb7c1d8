"""Hugging Face PyTorch checkpoints in: `load_pytorch(path)` -> `(config, params)`.

Reads `model.safetensors`, sharded safetensors (`model.safetensors.index.json`) and
`pytorch_model.bin` (with `weights_only=True`, never an arbitrary pickle), keys with or without
the `rembert.` prefix, and reports missing / unexpected / mis-shaped keys by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import jax

from rembert_jax.config import CONFIG_NAME, RemBertConfig

from .assemble import LoadingInfo, assemble
from .fresh import fresh_params
from .names import (
    ARCHITECTURES,
    BASE,
    IGNORED_PYTORCH_KEYS,
    PYTORCH_PREFIX,
    TASK_POOLER,
    all_head_pytorch_keys,
    check_task,
    name_table,
)
from .sources import find_pytorch_weights, open_pytorch

_TASK_OF_ARCHITECTURE = {arch: task for task, arch in ARCHITECTURES.items()}
_POOLER_KEY = "pooler.dense.weight"


def canonical_pytorch_key(key: str) -> str:
    """A key without transformers' `rembert.` base-model prefix (so base and task checkpoints compare)."""
    return key[len(PYTORCH_PREFIX):] if key.startswith(PYTORCH_PREFIX) else key


def detect_task(config: RemBertConfig, keys: Iterable[str]) -> str:
    """The task of a checkpoint: from `architectures` in its config, else from its head keys.

    Keys alone can't tell MLM from CLM (decided by `config.is_decoder`) nor multiple choice from
    sequence classification (a classifier on the pooler is taken as sequence classification)."""
    for arch in config.architectures or ():
        if arch in _TASK_OF_ARCHITECTURE:
            return _TASK_OF_ARCHITECTURE[arch]
    keys = {canonical_pytorch_key(k) for k in keys}
    if any(k.startswith("cls.predictions.") for k in keys):
        return "causal_lm" if config.is_decoder else "masked_lm"
    if any(k.startswith("qa_outputs.") for k in keys):
        return "question_answering"
    if any(k.startswith("classifier.") for k in keys):
        return "sequence_classification" if _POOLER_KEY in keys else "token_classification"
    return BASE


def _resolve(path: str | os.PathLike, config: RemBertConfig | None) -> tuple[str, RemBertConfig]:
    path = os.fspath(path)
    if os.path.isdir(path):
        weights, folder = find_pytorch_weights(path), path
    elif os.path.isfile(path):
        weights, folder = path, os.path.dirname(path) or "."
    else:
        raise FileNotFoundError(f"no checkpoint at {path}: expected a directory written by save_pretrained "
                                "or a weights file (*.safetensors, *.bin, *.index.json)")
    if config is None:
        config_path = os.path.join(folder, CONFIG_NAME)
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"no {CONFIG_NAME} beside {weights}; pass config=RemBertConfig(...) "
                                    "to say which model the weights belong to")
        config = RemBertConfig.from_json_file(config_path)
    return weights, config


def to_device(tree: dict) -> dict:
    """numpy leaves -> jax arrays, one leaf at a time (each host copy is dropped as it is moved)."""
    out = {}
    for key in list(tree):
        value = tree.pop(key)
        out[key] = to_device(value) if isinstance(value, dict) else jax.device_put(value)
    return out


def read_pytorch(path: str | os.PathLike, *, task: str | None = None, strict: bool = True,
                 config: RemBertConfig | None = None, dtype=None, rng: jax.Array | int = 0,
                 ) -> tuple[RemBertConfig, dict, LoadingInfo, str]:
    """`load_pytorch` on the host: numpy leaves, plus the loading info and the resolved task."""
    weights, config = _resolve(path, config)
    with open_pytorch(weights) as source:
        if task is None:
            task = BASE
        elif task == "auto":
            task = detect_task(config, source.keys())
        check_task(task, allow_base=True)
        keys = {canonical_pytorch_key(k) for k in source}
        pooler = (_POOLER_KEY in keys) if task == BASE else TASK_POOLER[task]
        names = name_table(config, task, add_pooling_layer=pooler)
        head_keys = all_head_pytorch_keys()
        params, info = assemble(
            source, names, "pytorch",
            canonical=canonical_pytorch_key,
            ignored=lambda k: canonical_pytorch_key(k) in IGNORED_PYTORCH_KEYS,
            known_elsewhere=lambda k: k in head_keys or k.startswith("pooler."),
            optional_parts=("head", "pooler") if task != BASE else (),
            strict=strict, dtype=dtype,
            init=lambda missing: fresh_params(config, task, missing, rng),
            what=f"{ARCHITECTURES[task]} of the given config",
        )
    return config, params, info, task


def load_pytorch(path: str | os.PathLike, *, task: str | None = None, strict: bool = True,
                 config: RemBertConfig | None = None, dtype=None, rng: jax.Array | int = 0,
                 output_loading_info: bool = False):
    """Load a transformers PyTorch RemBERT checkpoint.

    Args:
      path: a directory written by `save_pretrained` (config.json + weights) or a weights file
        (`*.safetensors`, `pytorch_model.bin`, `*.index.json`); a file needs its config.json
        beside it or `config`.
      task: None or "base" for the bare encoder params (pooler included iff the checkpoint has
        one); a task name for `{"encoder": ..., "head": ...}` (the pooler iff transformers' class
        has one); "auto" to detect it from `architectures` / the head keys. A head or pooler the
        checkpoint lacks is freshly initialised (from `rng`) and reported with a logged warning,
        like transformers; weights of another head are reported as unused.
      strict: missing or unexpected encoder keys raise `ValueError` (mis-shaped keys always do);
        with False they are initialised fresh / ignored and logged.
      dtype: cast every tensor (e.g. "float32", "bfloat16"); None keeps the stored dtype.
      output_loading_info: also return the `LoadingInfo` (missing / unexpected / mismatched /
        unused / newly initialised keys).

    Returns: `(config, params)` with jax arrays, or `(config, params, info)`.
    """
    config, params, info, _ = read_pytorch(path, task=task, strict=strict, config=config, dtype=dtype, rng=rng)
    params = to_device(params)
    return (config, params, info) if output_loading_info else (config, params)
