"""The model a run starts from: its `RemBertConfig` and, when fine-tuning, its weights.

`model.init_from` names weights in any format the converters read (a local path or a Hub id such as
`google/rembert`, see `rembert_jax.hub`), detected from the files in the directory: transformers PyTorch (`model.safetensors`, sharded safetensors, `pytorch_model.bin`),
Keras h5 (`tf_model.h5`) or an original TF checkpoint. A head the checkpoint lacks is freshly
initialised. Without `init_from` the model is built from `model.config` (a preset, a config.json or
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

# convert.formats' names -> the loaders' names used here
_LOADER_NAMES = {"pytorch": "pytorch", "tf-h5": "keras_h5", "tf-checkpoint": "tf1"}


def weights_format(path: str) -> str:
    """"pytorch", "keras_h5" or "tf1" for the weights at `path` (a directory or a weights file),
    detected by `convert.formats` (the adapters' detector; PyTorch preferred when a directory has several)."""
    from rembert_jax.convert.formats import detect_format, formats_in_directory

    if os.path.isdir(path):
        found = [f for f in formats_in_directory(path) if f in _LOADER_NAMES]
        if not found:
            raise FileNotFoundError(
                f"model.init_from: no weights found at {path!r}; expected transformers weights (model.safetensors, "
                "pytorch_model.bin, tf_model.h5, or their sharded index) or a TF checkpoint (checkpoint / *.index)")
        return _LOADER_NAMES["pytorch" if "pytorch" in found else found[0]]
    try:
        fmt = detect_format(path)
    except ValueError:
        fmt = None
    if fmt not in _LOADER_NAMES:
        raise FileNotFoundError(f"model.init_from: cannot tell the weights format of {path!r} from its name; expected "
                                "*.safetensors, *.bin, *.h5 (or their *.index.json) or a TF checkpoint prefix")
    return _LOADER_NAMES[fmt]


def local_weights(location: str | os.PathLike, what: str) -> str:
    """A local path for `location`: itself, or a Hub id's files in the Hugging Face cache (fetched
    if needed, by `rembert_jax.hub`'s one rule). FileNotFoundError names `what` (the setting)."""
    from rembert_jax.hub import MODEL, resolve_path

    try:
        return resolve_path(location, MODEL)
    except (FileNotFoundError, PermissionError) as e:
        raise type(e)(f"{what}: {e}") from None


def _config_path(path: str) -> str:
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


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

    path = local_weights(m.init_from, "model.init_from")
    fmt = weights_format(path)
    config = RemBertConfig.from_pretrained(_config_path(path))
    if m.overrides:
        config = config.replace(**m.overrides)
    config = _with_data(config, cfg, data, from_scratch=False)
    loader = {"pytorch": getattr(convert, "load_pytorch", None), "keras_h5": getattr(convert, "load_keras", None),
              "tf1": getattr(convert, "load_tf_checkpoint", None)}[fmt]
    if loader is None:
        raise NotImplementedError(f"model.init_from: reading {fmt} weights is not available in this build")
    config, params = loader(path, task=cfg.task, config=config, rng=cfg.train.seed)
    return config, params
