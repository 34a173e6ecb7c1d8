"""Original Google TF1 checkpoints (`bert/...` names, spec §5.4), behind the `tensorflow` extra.

Reading follows transformers' `load_tf_weights_in_rembert`: optimizer slots (`adam_m`, `adam_v`,
`AdamWeightDecayOptimizer*`) and `global_step` are skipped, so are pre-training head variables
(names with `cls` or `output_embedding`) that the name table doesn't map to the requested head;
kernels are [in, out] like ours; shapes must match the config exactly. Writing produces the same
layout (`model.ckpt.index` + data shards, a `checkpoint` state file and `config.json`) through
TensorFlow's own `SaveV2` / `MergeV2Checkpoints`, a bounded batch of tensors at a time, so
`tf.train.load_checkpoint` reads it back.
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np

from rembert_jax.config import CONFIG_NAME, RemBertConfig

from .assemble import LoadingInfo
from .destination import write_failure
from .files import atomic_directory, parse_size
from .loader import load_source
from .names import ARCHITECTURES, TF1_PREFIX
from .sources import TensorSource
from .write_plan import tensors_to_write

CHECKPOINT_PREFIX = "model.ckpt"
_OPTIMIZER_PARTS = ("adam_m", "adam_v", "AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1", "global_step")
_HEAD_MARKERS = ("cls", "output_embedding")
_BATCH_BYTES = parse_size("1GB")
# What save_tf_checkpoint writes (with force=True only these are replaced in an existing folder).
_PRODUCED = re.compile(r"config\.json|checkpoint|model\.ckpt\.index|model\.ckpt\.data-\d{5}-of-\d{5}")  # tensors per SaveV2 call (one data shard each)


def _tensorflow():
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError("reading or writing original TF checkpoints needs TensorFlow: "
                          "pip install 'rembert-jax[tensorflow]'") from None
    return tf


def canonical_tf1_name(name: str) -> str:
    """transformers rewrites `bert/` to `rembert/`; accept either spelling of the prefix."""
    return TF1_PREFIX + name[len("rembert/"):] if name.startswith("rembert/") else name


def _is_optimizer_state(name: str) -> bool:
    parts = name.split("/")
    return any(p in _OPTIMIZER_PARTS for p in parts) or name.endswith(("adam_m", "adam_v"))


def _checkpoint_prefix(path: str) -> str:
    """The checkpoint prefix for a directory (its `checkpoint` state file, else `model.ckpt`) or a prefix."""
    tf = _tensorflow()
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path) or os.path.join(path, CHECKPOINT_PREFIX)
    else:
        prefix = path.removesuffix(".index")
    if not os.path.isfile(prefix + ".index"):
        raise FileNotFoundError(f"no TF checkpoint at {path}: expected a directory holding {CHECKPOINT_PREFIX}.index "
                                "(or a `checkpoint` file) or a checkpoint prefix such as .../model.ckpt-1000")
    return prefix


def open_tf_checkpoint(prefix: str) -> TensorSource:
    tf = _tensorflow()
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    except (tf.errors.OpError, ValueError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{prefix} is not a readable TF checkpoint ({message}); the files are truncated, "
                         "corrupt or in another format") from None

    def read(key: str) -> np.ndarray:
        try:
            return np.asarray(reader.get_tensor(key))
        except tf.errors.OpError as e:
            raise ValueError(str(e).strip().splitlines()[0]) from None

    return TensorSource(prefix, shapes, read)


def read_tf_checkpoint(path: str | os.PathLike, *, config: RemBertConfig | None = None, task: str | None = None,
                       strict: bool = True, dtype=None, rng: jax.Array | int = 0, device: bool = False
                       ) -> tuple[RemBertConfig, dict, LoadingInfo, str]:
    """The "tf-checkpoint" reader of `dispatch.load` (a local `path`): `load_tf_checkpoint` with the
    loading info and the resolved task; numpy leaves unless `device`."""
    path = os.fspath(path)
    prefix = _checkpoint_prefix(path)
    if config is None:
        config_path = os.path.join(os.path.dirname(prefix), CONFIG_NAME)
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"no {CONFIG_NAME} beside {prefix}; pass config=RemBertConfig(...) (original "
                                    "checkpoints ship their sizes separately, e.g. in a JSON config)")
        config = RemBertConfig.from_json_file(config_path)
    with open_tf_checkpoint(prefix) as source:
        params, info, task = load_source(
            source, config, "tf-checkpoint", task=task, canonical=canonical_tf1_name, ignored=_is_optimizer_state,
            unused=lambda k: any(marker in k for marker in _HEAD_MARKERS),
            strict=strict, dtype=dtype, rng=rng, device=device)
    return config, params, info, task


def load_tf_checkpoint(path: str | os.PathLike, *, config: RemBertConfig | None = None, task: str | None = None,
                       strict: bool = True, dtype=None, rng: jax.Array | int = 0, output_loading_info: bool = False):
    """Load an original Google TF1 RemBERT checkpoint (or one `save_tf_checkpoint` wrote).

    `path` is a directory (its `checkpoint` state file names the latest checkpoint, else
    `model.ckpt`) or a checkpoint prefix; the config comes from `config` or a config.json beside
    it. The rest is as `load_pytorch`."""
    from .dispatch import load

    return load(path, format="tf-checkpoint", config=config, task=task, strict=strict, dtype=dtype, rng=rng,
                output_loading_info=output_loading_info)


def save_tf_checkpoint(directory: str | os.PathLike, config: RemBertConfig, params: dict, *, task: str | None = None,
                       dtype=None, force: bool = False) -> list[str]:
    """Write `params` in the TF1 name-based layout (`bert/...`, kernels [in, out]) as
    `directory/model.ckpt` plus a `checkpoint` state file and config.json.

    An existing non-empty `directory` is refused unless `force`, which replaces only those files."""
    tf = _tensorflow()
    task, tensors = tensors_to_write(config, params, task, "tf-checkpoint", dtype=dtype)
    batches: list[list] = [[]]
    size = 0
    for tensor in tensors:
        if batches[-1] and size + tensor.nbytes > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(tensor)
        size += tensor.nbytes
    with atomic_directory(directory, produces=lambda f: bool(_PRODUCED.fullmatch(f)), force=force,
                          needed_bytes=sum(t.nbytes for t in tensors)) as staging:
        prefix = os.path.join(staging, CHECKPOINT_PREFIX)
        parts = []
        try:
            for k, batch in enumerate(batches):
                part = os.path.join(staging, f"part-{k}", "ckpt")
                tf.raw_ops.SaveV2(prefix=part, tensor_names=[t.name.tf1 for t in batch],
                                  shape_and_slices=[""] * len(batch), tensors=[tf.constant(t.load()) for t in batch])
                parts.append(part)
            tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=prefix, delete_old_dirs=True)
        except tf.errors.OpError as e:  # a full or failing disk, in TensorFlow's words
            raise write_failure(directory, e) from None
        for part in parts:  # MergeV2Checkpoints leaves the emptied part directories behind
            if os.path.isdir(os.path.dirname(part)):
                os.rmdir(os.path.dirname(part))
        with open(os.path.join(staging, "checkpoint"), "w", encoding="utf-8") as f:
            f.write(f'model_checkpoint_path: "{CHECKPOINT_PREFIX}"\nall_model_checkpoint_paths: "{CHECKPOINT_PREFIX}"\n')
        config.replace(architectures=[ARCHITECTURES[task]]).save_pretrained(staging)
        files = sorted(os.listdir(staging))
    return files
