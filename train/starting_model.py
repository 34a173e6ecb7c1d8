"""The model a run starts from: its `RemBertConfig` and, when fine-tuning, its weights.

`model.init_from` names weights in any format the converters read (a local path or a Hub id such as
`google/rembert`, see `rembert_jax.hub`), detected from the files by `rembert_jax.convert.formats`:
transformers PyTorch (`model.safetensors`, sharded safetensors, `pytorch_model.bin`), Keras h5
(`tf_model.h5`), an original TF checkpoint, an orbax checkpoint, or another run's checkpoint step (or
its output_dir: the newest step that reads). A head the checkpoint lacks is freshly initialised. Without `init_from` the model is built from `model.config` (a preset, a config.json or
a directory holding one) and trained from scratch.

Either way the config is made to agree with the data: `num_labels` / `id2label` from the label
set, and (from scratch) `vocab_size` from the tokenizer. Disagreements that can't be fixed (a
checkpoint whose vocabulary is smaller than the tokenizer's, sequences longer than the position
table) are errors that say which setting to change.
"""

from __future__ import annotations

import os

from rembert_jax import RemBertConfig
from rembert_jax.tasks import get_task

from .run_config import RunConfig


def weights_format(path: str, what: str = "model.init_from") -> str:
    """The format (`rembert_jax.convert.formats` name) of the weights at `path`, a directory or a
    weights file, detected as the adapters do (PyTorch preferred when a directory holds several)."""
    from rembert_jax.convert.formats import detect_format

    try:
        return detect_format(path, prefer="pytorch")
    except ValueError as e:
        raise FileNotFoundError(f"{what}: {e}") from None


def local_weights(location: str | os.PathLike, what: str) -> str:
    """A local path for `location`: itself, or a Hub id's files in the Hugging Face cache (fetched
    if needed, by `rembert_jax.hub`'s one rule). FileNotFoundError names `what` (the setting)."""
    from rembert_jax.hub import MODEL, resolve_path

    try:
        return resolve_path(location, MODEL)
    except (FileNotFoundError, PermissionError) as e:
        raise type(e)(f"{what}: {e}") from None


def _with_data(config: RemBertConfig, cfg: RunConfig, data, *, from_scratch: bool) -> RemBertConfig:
    changes: dict = {}
    task = get_task(cfg.task)
    if data.label_names is not None and task.sized_by_num_labels:
        changes["id2label"] = dict(enumerate(data.label_names))
        changes["num_labels"] = len(data.label_names)
    elif task.labels == "classes" and getattr(data.train or data.eval or data.test, "regression", False):
        changes.update(num_labels=1, problem_type="regression", id2label=None)
    elif task.labels == "span":  # start and end logits
        changes.update(num_labels=2, id2label=None)
    vocab = len(data.tokenizer)
    if from_scratch:
        changes["vocab_size"] = vocab
        changes["pad_token_id"] = data.tokenizer.pad_token_id
    elif vocab > config.vocab_size:
        raise ValueError(f"the tokenizer has {vocab} tokens but the model's vocabulary only {config.vocab_size}; "
                         "use the tokenizer the model was trained with (data.tokenizer)")
    if data.spec.max_length > config.max_position_embeddings:
        raise ValueError(f"data.max_length={data.spec.max_length} exceeds the model's max_position_embeddings="
                         f"{config.max_position_embeddings}; lower data.max_length")
    return config.replace(**changes) if changes else config


def starting_model(cfg: RunConfig, data) -> tuple[RemBertConfig, dict | None]:
    """(config, params) to start from; params is None for a model trained from scratch."""
    m = cfg.model
    if m.init_from is None:
        try:
            config = RemBertConfig.from_pretrained(m.config)
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f"model.config: {e}") from None
        if m.overrides:
            try:
                config = config.replace(**m.overrides)
            except (TypeError, ValueError) as e:
                raise ValueError(f"model.overrides: {e}") from None
        return _with_data(config, cfg, data, from_scratch=True), None

    from rembert_jax import convert
    from rembert_jax.convert.dispatch import checkpoint_config, pin_source

    path = local_weights(m.init_from, "model.init_from")
    fmt = weights_format(path)
    path = pin_source(path, fmt)  # its config and its weights from one checkpoint step
    config = checkpoint_config(path, fmt)
    if m.overrides:
        config = config.replace(**m.overrides)
    config = _with_data(config, cfg, data, from_scratch=False)
    return convert.load(path, format=fmt, task=cfg.task, config=config, rng=cfg.train.seed)
