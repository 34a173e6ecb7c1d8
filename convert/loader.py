"""The load flow every reader shares: resolve config and task, pick the name table, assemble.

A format reader (PyTorch, Keras h5, TF1) only opens its `TensorSource` and says how its keys
compare (`canonical`) and which to skip (`ignored`); deciding the task, whether the pooler is
there, what counts as another head's weights and what gets freshly initialised is common.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

import jax

from rembert_jax.config import CONFIG_NAME, RemBertConfig
from rembert_jax.tasks import task_of_architecture

from .assemble import LoadingInfo, assemble
from .fresh import fresh_params
from .names import ARCHITECTURES, BASE, TASK_POOLER, TASKS, canonical_pytorch_key, check_task, name_table
from .sources import TensorSource

logger = logging.getLogger("rembert_jax.convert")


def config_beside(weights: str, config: RemBertConfig | None) -> RemBertConfig:
    """`config`, else the config.json in the folder of `weights`."""
    if config is not None:
        return config
    config_path = os.path.join(os.path.dirname(weights) or ".", CONFIG_NAME)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"no {CONFIG_NAME} beside {weights}; pass config=RemBertConfig(...) "
                                "to say which model the weights belong to")
    return RemBertConfig.from_json_file(config_path)


def _head_keys(config: RemBertConfig, fmt: str, canonical: Callable[[str], str]) -> dict[str, set[str]]:
    return {task: {canonical(n.key(fmt)) for n in name_table(config, task) if n.part == "head"} for task in TASKS}


def _pooler_keys(config: RemBertConfig, fmt: str, canonical: Callable[[str], str]) -> set[str]:
    return {canonical(n.key(fmt)) for n in name_table(config, BASE) if n.part == "pooler"}


def detect_task(config: RemBertConfig, keys: Iterable[str], fmt: str = "pytorch",
                canonical: Callable[[str], str] | None = None) -> str:
    """The task of a checkpoint: from `architectures` in its config, else from which head's keys
    it holds. Keys alone can't tell MLM from CLM (decided by `config.is_decoder`) nor multiple
    choice from sequence classification (a classifier on a pooler is taken as sequence
    classification, one without as token classification)."""
    for arch in config.architectures or ():
        if (task := task_of_architecture(arch)) is not None:
            return task
    canonical = canonical or canonical_pytorch_key
    keys = {canonical(k) for k in keys}
    heads = _head_keys(config, fmt, canonical)
    present = [task for task, head in heads.items() if head <= keys]
    if not present:
        return BASE
    if "masked_lm" in present:
        return "causal_lm" if config.is_decoder else "masked_lm"
    if "question_answering" in present:
        return "question_answering"
    return "sequence_classification" if _pooler_keys(config, fmt, canonical) <= keys else "token_classification"


def load_source(source: TensorSource, config: RemBertConfig, fmt: str, *, task: str | None,
                canonical: Callable[[str], str] = lambda k: k, ignored: Callable[[str], bool] = lambda k: False,
                unused: Callable[[str], bool] = lambda k: False, strict: bool = True, dtype=None, rng: jax.Array | int = 0,
                device: bool = False) -> tuple[dict, LoadingInfo, str]:
    """Read `source` (checkpoint format `fmt`) as the params of `task` ("auto" detects, None = base).

    `ignored` checkpoint keys are skipped silently; `unused` ones (besides other heads' and the
    pooler's) are reported as unused instead of unexpected.
    Returns the params (host numpy, or jax arrays on the default device when `device`: placed
    tensor by tensor, never a second copy of the model), the loading info and the resolved task."""
    if task is None:
        task = BASE
    elif task == "auto":
        task = detect_task(config, source.keys(), fmt, canonical)
    check_task(task, allow_base=True)
    keys = {canonical(k) for k in source if not ignored(k)}
    pooler_keys = _pooler_keys(config, fmt, canonical)
    pooler = bool(pooler_keys & keys) if task == BASE else TASK_POOLER[task]
    names = name_table(config, task, add_pooling_layer=pooler)
    elsewhere = set().union(pooler_keys, *_head_keys(config, fmt, canonical).values())
    params, info = assemble(
        source, names, fmt,
        canonical=canonical, ignored=ignored, known_elsewhere=lambda k: k in elsewhere or unused(k),
        optional_parts=("head", "pooler") if task != BASE else (),
        strict=strict, dtype=dtype,
        init=lambda missing: fresh_params(config, task, missing, rng),
        what=f"{ARCHITECTURES[task]} of the given config", device=device,
    )
    return params, info, task


def for_task(params: dict, config: RemBertConfig, saved_task: str, task: str | None, *, source: str,
             rng: jax.Array | int = 0, device: bool = False) -> tuple[RemBertConfig, dict, None, str]:
    """A reader's result for `task` from a checkpoint that names its own (`saved_task`: "jax",
    "train-step"): "auto" or the same task keep the tree; None / "base" take its encoder (pooler as
    saved); another task gets a fresh head (and a pooler matched to the task), logged as transformers
    logs newly initialised weights."""
    if task in ("auto", saved_task):
        _check_fits(config, params, saved_task, source)
        return config, params, None, saved_task
    task = BASE if task is None else task
    check_task(task, allow_base=True)
    encoder = params if saved_task == BASE else params["encoder"]
    if task == BASE:
        return config, encoder, None, BASE
    pooler = TASK_POOLER[task]
    fresh = [n for n in name_table(config, task, add_pooling_layer=pooler)
             if n.part == "head" or (n.part == "pooler" and "pooler" not in encoder)]
    made = fresh_params(config, task, fresh, rng)
    if device:
        made = to_device(made)
    encoder = {k: v for k, v in encoder.items() if k != "pooler" or pooler}
    if pooler and "pooler" not in encoder:
        encoder["pooler"] = made["encoder"]["pooler"]
    logger.warning("Some weights of %s were not initialized from the checkpoint at %s (which holds %s weights) and "
                   "are newly initialized: %s. You should probably TRAIN this model on a down-stream task to be able "
                   "to use it for predictions and inference.", ARCHITECTURES[task], source, saved_task,
                   [n.pytorch for n in fresh])
    return config, {"encoder": encoder, "head": made["head"]}, None, task


def _check_fits(config: RemBertConfig, params: dict, task: str, source: str) -> None:
    """ValueError naming `source` when the saved tree does not fit `config` (e.g. `num_labels`
    changed), as a mis-shaped key is for the other readers; only shapes are compared."""
    from .write_plan import tensors_to_write

    try:
        tensors_to_write(config, params, task, "jax")
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def to_device(tree: dict, dtype=None) -> dict:
    """Host leaves (numpy, or lazy ones read by `np.asarray`) -> jax arrays, cast to `dtype` if given,
    one leaf at a time, each host copy dropped once it has moved (`device_put` is asynchronous:
    without waiting, every host array stays alive until all copies finish, and the peak is two
    models). Leaves already on a device stay where they are; `tree` itself is left as it was."""
    import numpy as np

    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out[key] = to_device(value, dtype)
        elif isinstance(value, jax.Array):
            out[key] = value if dtype is None else value.astype(dtype)
        else:
            host = np.asarray(value) if dtype is None else np.asarray(value).astype(dtype, copy=False)
            out[key] = jax.device_put(host).block_until_ready()
            del host
        del value
    return out
