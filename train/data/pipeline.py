"""The data pipeline: local files or `datasets` -> tokenised task features -> fixed-shape numpy batches.

    spec = DataSpec.from_mapping(run_config.data)            # checks every key on the host
    tokenizer = load_tokenizer(spec.tokenizer)               # RemBertTokenizerFast.from_pretrained(dir)
    train = load_task_dataset(spec, tokenizer, "train", task="sequence_classification")
    for batch in BatchIterator(train, 32, shuffle=True, seed=0):   # endless; state_dict() to checkpoint
        ...                                                  # model_inputs(batch) -> the model's keys

`TaskDataset` carries the features, the raw records (QA post-processing and predictions need them),
the label names and the token ids the batcher needs. `EvalAccumulator` (in `eval_accumulator`) turns
model outputs over an evaluation pass into the task's metrics.

The embedded demo (sentence-level language identification, 16 languages; see demo/PROVENANCE.md) is
`DataSpec(train="demo:train.jsonl", eval="demo:dev.jsonl", test="demo:test.jsonl",
labels="demo:labels.json", tokenizer="demo:")`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import numpy as np

from rembert_jax.tasks import TRAINING_ORDER, get_task

from .batching import BatchIterator, model_inputs
from .files import DEMO_DIR, read_records, resolve_path
from .hf import HFSource, read_dataset_records
from .qa import encode_question_answering
from .spec import DataSpec
from .task_features import (
    column,
    encode_language_modeling,
    encode_multiple_choice,
    encode_sequence_classification,
    encode_token_classification,
    infer_label_names,
    split_words,
)

__all__ = ["DEMO_DIR", "BatchIterator", "DataSpec", "TaskDataset", "TokenIds", "load_task_dataset",
           "load_tokenizer", "model_inputs", "read_records"]


@dataclasses.dataclass(frozen=True)
class TokenIds:
    """The tokenizer's special ids the batcher needs."""

    pad: int
    cls: int
    sep: int
    mask: int | None
    special: frozenset[int]
    vocab_size: int

    @classmethod
    def of(cls, tokenizer) -> TokenIds:
        ids = {name: getattr(tokenizer, f"{name}_token_id", None) for name in ("pad", "cls", "sep", "mask")}
        for name in ("pad", "cls", "sep"):
            if ids[name] is None:
                raise ValueError(f"the tokenizer has no {name} token; a RemBERT tokenizer directory defines "
                                 f"[PAD], [CLS], [SEP] (see tokenizer_config.json)")
        special = frozenset(int(i) for i in getattr(tokenizer, "all_special_ids", ()))
        special |= {int(i) for i in ids.values() if i is not None}
        return cls(**{k: None if v is None else int(v) for k, v in ids.items()}, special=special,
                   vocab_size=len(tokenizer))


@dataclasses.dataclass
class TaskDataset:
    """Tokenised features of one split. A feature is one model example (QA: one context window)."""

    task: str
    split: str
    source: str  # the data file
    features: list[dict]
    examples: list[dict]  # the raw records, in file order
    feature_example: np.ndarray  # [N] int: the record each feature came from
    lengths: np.ndarray  # [N] int: tokens per feature (multiple choice: longest choice)
    token_ids: TokenIds
    buckets: tuple[int, ...]
    labeled: bool = True  # False: an evaluation / prediction file without targets
    label_names: tuple[str, ...] | None = None  # classification / token classification
    regression: bool = False
    mlm_probability: float = 0.15
    qa_offsets: list | None = None  # QA: per feature, per token (char_start, char_end) | None
    spec: DataSpec | None = None

    def __len__(self) -> int:
        return len(self.features)

    @property
    def num_labels(self) -> int | None:
        """What the model config's num_labels must be (None where the head has no label count)."""
        if get_task(self.task).labels == "classes" and self.regression:
            return 1
        return None if self.label_names is None else len(self.label_names)


def load_tokenizer(path: str | os.PathLike | None):
    """`RemBertTokenizerFast.from_pretrained(path)`: a directory, a Hub id (`google/rembert`), or
    `demo:` for the embedded demo tokenizer."""
    if path is None:
        raise ValueError("data.tokenizer is not set: give a tokenizer directory (sentencepiece.model + "
                         "tokenizer_config.json) or Hub id, e.g. the model's, or 'demo:' for the demo tokenizer")
    from rembert_jax import RemBertTokenizerFast

    location = resolve_path(path) if os.fspath(path).startswith("demo:") else os.fspath(path)
    try:
        return RemBertTokenizerFast.from_pretrained(os.fspath(location))
    except FileNotFoundError as e:
        raise FileNotFoundError(f"data.tokenizer: {e}") from None


def load_task_dataset(spec: DataSpec | Mapping, tokenizer, split: str, *, task: str) -> TaskDataset:
    """Read, check and tokenise the `split` file of `spec` ('train' | 'eval' | 'test') for `task`.

    Raises FileNotFoundError / ValueError naming the file, row, column or value at fault, before any
    device work. The label set is `spec.labels`, or else the sorted labels of the train file (so
    every split of a run maps labels to the same ids).
    """
    spec = spec if isinstance(spec, DataSpec) else DataSpec.from_mapping(spec)
    if task not in TRAINING_ORDER:
        raise ValueError(f"task is {task!r}; allowed: {list(TRAINING_ORDER)}")
    records, source = read_split(spec, split)
    token_ids = TokenIds.of(tokenizer)
    facts = get_task(task)  # the registry's entry (`spec` is the data section)
    kind = facts.labels
    if facts.masks_inputs and token_ids.mask is None:
        raise ValueError(f"{task} needs a tokenizer with a [MASK] token")
    label_names, offsets = None, None
    feature_example = np.arange(len(records))
    # Evaluation / prediction files may come without targets (every row lacks the column): then the
    # batches carry no labels and only predictions can be made. Training always needs them.
    target = spec.target_column(task)
    labeled = (split == "train" or facts.language_model
               or any(target in record for record in records))
    if kind == "classes":
        if not spec.regression:
            label_names = _label_names(spec, target, split, records if labeled else None, source, task)
        features = encode_sequence_classification(records, spec, tokenizer, label_names, source, labeled=labeled)
    elif kind == "token_classes":
        label_names = _label_names(spec, target, split, records if labeled else None, source, task)
        features = encode_token_classification(records, spec, tokenizer, label_names, source, labeled=labeled)
    elif kind == "choice":
        features = encode_multiple_choice(records, spec, tokenizer, source, labeled=labeled)
    elif kind == "span":
        features, feature_example, offsets = encode_question_answering(records, spec, tokenizer, source,
                                                                      labeled=labeled)
    else:
        features = encode_language_modeling(records, spec, tokenizer, source)
    if not features:
        raise ValueError(f"{source}: no features were produced from {len(records)} records")
    lengths = np.array([max(len(ids) for ids in f["input_ids"]) if facts.choices
                        else len(f["input_ids"]) for f in features], np.int64)
    return TaskDataset(task=task, split=split, source=source, features=features, examples=records, labeled=labeled,
                       feature_example=feature_example, lengths=lengths, token_ids=token_ids,
                       buckets=spec.bucket_lengths(), label_names=label_names, regression=spec.regression,
                       mlm_probability=spec.mlm_probability, qa_offsets=offsets, spec=spec)


def read_split(spec: DataSpec, split: str) -> tuple[list[dict], str]:
    """(records, how messages name their source) of one split: a data file or a `datasets` source."""
    value = spec.file_for(split)
    if isinstance(value, HFSource):
        return read_dataset_records(value, split), value.describe()
    return read_records(value, spec.format), os.fspath(resolve_path(value))


def _label_names(spec: DataSpec, column_name: str, split: str, records, source: str, task: str):
    given = spec.label_list()
    if given is not None:
        return given
    if split != "train":  # ids must agree with training: take the set from the train file
        if not spec.train:
            raise ValueError(f"data.labels is not set and there is no data.train to take the label set from; "
                             f"set data.labels to the list of {task} labels")
        records, source = read_split(spec, "train")
    per_word = get_task(task).labels == "token_classes"
    key = "tags_column" if per_word else "label_column"
    values = column(records, column_name, source, task=task, key=key)
    if per_word:
        values = [tag for tags in split_words(values, source, column_name) for tag in tags]
    return infer_label_names(values, source, column_name)
