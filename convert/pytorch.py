"""Hugging Face PyTorch checkpoints in: `load_pytorch(path)` -> `(config, params)`.

Reads `model.safetensors`, sharded safetensors (`model.safetensors.index.json`) and
`pytorch_model.bin` (with `weights_only=True`, never an arbitrary pickle), keys with or without
the `rembert.` prefix, and reports missing / unexpected / mis-shaped keys by name.
"""

from __future__ import annotations

import os

import jax

from rembert_jax.config import RemBertConfig

from .assemble import LoadingInfo
from .loader import config_beside, load_source
from .names import IGNORED_PYTORCH_KEYS, canonical_pytorch_key
from .sources import find_pytorch_weights, open_pytorch


def _weights_file(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if os.path.isdir(path):
        return find_pytorch_weights(path)
    if os.path.isfile(path):
        return path
    raise FileNotFoundError(f"no checkpoint at {path}: expected a directory written by save_pretrained "
                            "or a weights file (*.safetensors, *.bin, *.index.json)")


def read_pytorch(path: str | os.PathLike, *, task: str | None = None, strict: bool = True,
                 config: RemBertConfig | None = None, dtype=None, rng: jax.Array | int = 0, device: bool = False
                 ) -> tuple[RemBertConfig, dict, LoadingInfo, str]:
    """The "pytorch" reader of `dispatch.load` (a local `path`): `load_pytorch` with the loading info
    and the resolved task; numpy leaves unless `device`."""
    weights = _weights_file(path)
    config = config_beside(weights, config)
    with open_pytorch(weights) as source:
        if source.metadata.get("format") == "tf":
            raise ValueError(f"{weights} holds TensorFlow weights (safetensors metadata format='tf'); "
                             "read it with rembert_jax.convert.load_keras")
        params, info, task = load_source(
            source, config, "pytorch", task=task, canonical=canonical_pytorch_key,
            ignored=lambda k: canonical_pytorch_key(k) in IGNORED_PYTORCH_KEYS,
            strict=strict, dtype=dtype, rng=rng, device=device)
    return config, params, info, task


def load_pytorch(path: str | os.PathLike, *, task: str | None = None, strict: bool = True,
                 config: RemBertConfig | None = None, dtype=None, rng: jax.Array | int = 0,
                 output_loading_info: bool = False, **hub):
    """Load a transformers PyTorch RemBERT checkpoint.

    Args:
      path: a directory written by `save_pretrained` (config.json + weights), a weights file
        (`*.safetensors`, `pytorch_model.bin`, `*.index.json`; a file needs its config.json
        beside it or `config`), or a Hub id such as "google/rembert" (see `rembert_jax.hub`).
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

      **hub: transformers' loading keywords for a Hub id: `revision`, `cache_dir`, `token`,
        `local_files_only`, `subfolder`, `force_download`.

    Returns: `(config, params)` with jax arrays, or `(config, params, info)`. Tensors go onto the
    default device one at a time as they are read (no host copy of the model), so loading peaks
    at about the checkpoint's size.
    """
    from .dispatch import load

    return load(path, format="pytorch", task=task, strict=strict, config=config, dtype=dtype, rng=rng,
                output_loading_info=output_loading_info, **hub)
