"""Export a trained model as a directory that transformers loads unchanged.

One directory holds `config.json` (with the label names), the weights in each requested format
(`model.safetensors` for PyTorch `RemBertFor*.from_pretrained`, `tf_model.h5` for the TF classes;
any writable format of `rembert_jax.convert.formats`, written by `convert.save`) and the tokenizer
files, like a model repository on the hub.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rembert_jax import RemBertConfig

from .fault_injection import fault_point
from .run_config import RunConfig

EXPORT_DIR = "export"


def export_dir(cfg: RunConfig) -> str:
    return os.path.abspath(cfg.export.dir or os.path.join(cfg.output_dir, EXPORT_DIR))


def export_model(cfg: RunConfig, config: RemBertConfig, params, data=None, *,
                 log: Callable[[str], None] = print) -> dict[str, str]:
    """Write `params` of `cfg.task` in each of `cfg.export.formats` (checked, aliases included, when
    the run config was read; `convert.save` resolves the aliases); {format: directory}."""
    from rembert_jax import convert

    directory = export_dir(cfg)
    os.makedirs(directory, exist_ok=True)
    written = {}
    for fmt in cfg.export.formats:  # force: the formats share the folder (and a resumed run re-exports into it);
        # each writer replaces only its own files there (config.json, its weights), never others
        convert.save(directory, config, params, format=fmt, task=cfg.task, force=True)
        written[fmt] = directory
        fault_point("export")
    if data is not None and getattr(data, "tokenizer", None) is not None and written:
        data.tokenizer.save_pretrained(directory)
    if written:
        log(f"exported {' + '.join(written)} weights, config and tokenizer to {directory}")
    return written
