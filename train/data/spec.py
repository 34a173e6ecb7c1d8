"""`DataSpec`: the `data:` section of a run config, checked on the host before anything is built.

Keys (all optional except the file of the split being loaded):
    train, eval, test        data files (see `files` for formats; `demo:train.jsonl` names the demo), or
                             Hugging Face datasets: `{hf: xnli, name: de, split: train}`, `{hf: json,
                             data_files: ..., split: train}`, a save_to_disk directory (see `hf`)
    format                   jsonl | json | csv | tsv | parquet; default: from each file's extension
    tokenizer                a tokenizer directory (sentencepiece.model + tokenizer_config.json); `demo:`
    max_length               tokens per example, special tokens included (default 128)
    buckets                  padded lengths a batch may take; default: powers of two from 16, and max_length
    text_column, text_pair_column        sequence classification / MLM text (pair: optional second text)
    label_column             class name (or index, or float for regression) of each example
    labels                   the label set in id order: a list, or a path to a JSON list; default: the
                             sorted distinct labels of the train file
    regression               true: one float target per example (num_labels = 1)
    choices_column           multiple choice: list of candidate texts; `label_column` holds the correct index
    tokens_column, tags_column           token classification: list of words and one tag per word
    question_column, context_column, answers_column   extractive QA (flattened SQuAD records)
    doc_stride               QA: tokens shared by consecutive windows of a long context (default
                             max_length // 4; must stay below max_length // 2)
    max_answer_length, n_best            QA post-processing (defaults 30, 20)
    allow_null_answer        QA: predict "" when the no-answer score wins (SQuAD v2)
    mlm_probability          masked LM: fraction of tokens selected for masking (default 0.15)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from rembert_jax.tasks import get_task

from .files import FORMATS, read_text, resolve_path
from .hf import HFSource, is_saved_dataset

SPLITS = ("train", "eval", "test")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    train: str | HFSource | None = None  # a mapping or a save_to_disk directory becomes an HFSource
    eval: str | HFSource | None = None
    test: str | HFSource | None = None
    format: str | None = None
    tokenizer: str | None = None
    max_length: int = 128
    buckets: tuple[int, ...] | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    labels: tuple[str, ...] | str | None = None
    regression: bool = False
    choices_column: str = "choices"
    tokens_column: str = "tokens"
    tags_column: str = "tags"
    question_column: str = "question"
    context_column: str = "context"
    answers_column: str = "answers"
    doc_stride: int | None = None
    max_answer_length: int = 30
    n_best: int = 20
    allow_null_answer: bool = False
    mlm_probability: float = 0.15
    packing: bool = False  # training rows hold several examples (per-token tasks; train/packed_batching.py)

    def __post_init__(self):
        for split in SPLITS:
            value = getattr(self, split)
            if isinstance(value, Mapping) or (isinstance(value, str) and value and is_saved_dataset(resolve_path(value))):
                object.__setattr__(self, split, HFSource.from_value(value, split))
        if not isinstance(self.packing, bool):
            raise ValueError(f"data.packing is {self.packing!r}; allowed: true or false")
        _check_positive_int("max_length", self.max_length, minimum=4)
        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"data.format is {self.format!r}; allowed: {list(FORMATS)} or unset (from extension)")
        if self.buckets is not None:
            buckets = tuple(self.buckets)
            for b in buckets:
                _check_positive_int("buckets", b, minimum=1)
            if list(buckets) != sorted(set(buckets)) or buckets[-1] != self.max_length:
                raise ValueError(
                    f"data.buckets {list(buckets)} must be strictly increasing and end at data.max_length "
                    f"({self.max_length})"
                )
            object.__setattr__(self, "buckets", buckets)
        if isinstance(self.labels, list | tuple):
            labels = tuple(str(label) for label in self.labels)
            if not labels or len(set(labels)) != len(labels):
                raise ValueError(f"data.labels must be a non-empty list of distinct names, got {list(self.labels)}")
            object.__setattr__(self, "labels", labels)
        if self.doc_stride is None:
            object.__setattr__(self, "doc_stride", self.max_length // 4)
        _check_positive_int("doc_stride", self.doc_stride, minimum=0)
        if self.doc_stride >= self.max_length // 2:
            raise ValueError(
                f"data.doc_stride is {self.doc_stride}; allowed: below max_length // 2 = {self.max_length // 2} "
                "(consecutive windows would overlap by more than half)"
            )
        _check_positive_int("max_answer_length", self.max_answer_length, minimum=1)
        _check_positive_int("n_best", self.n_best, minimum=1)
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"data.mlm_probability is {self.mlm_probability}; allowed: 0 < p < 1")

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> DataSpec:
        """From the run config's `data:` mapping; unknown keys are an error naming them."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown data key(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)

    def file_for(self, split: str) -> str | HFSource:
        """The data file (or `datasets` source) of `split` ('train' | 'eval' | 'test'); a clear error when
        it is not set."""
        if split not in SPLITS:
            raise ValueError(f"split is {split!r}; allowed: {list(SPLITS)}")
        path = getattr(self, split)
        if not path:
            raise ValueError(f"data.{split} is not set: give the path of the {split} file in the run config")
        return path

    def bucket_lengths(self) -> tuple[int, ...]:
        """Padded lengths a batch may take: `buckets`, or powers of two from 16 below max_length, then max_length."""
        if self.buckets is not None:
            return self.buckets
        lengths, length = [], 16
        while length < self.max_length:
            lengths.append(length)
            length *= 2
        return (*lengths, self.max_length)

    def target_column(self, task: str) -> str:
        """The column holding `task`'s targets: tags per word, QA answers, else the label."""
        kind = get_task(task).labels
        return {"token_classes": self.tags_column, "span": self.answers_column}.get(kind, self.label_column)

    def label_list(self) -> tuple[str, ...] | None:
        """The label set given by `labels` (a list, or a JSON file holding one); None when not given."""
        if self.labels is None or isinstance(self.labels, tuple):
            return self.labels
        file = resolve_path(self.labels)
        if not file.is_file():
            raise FileNotFoundError(f"data.labels file {self.labels!r} not found")
        try:
            labels = json.loads(read_text(file))
        except json.JSONDecodeError as e:
            raise ValueError(f"{file}: data.labels file is not valid JSON ({e.msg})") from None
        if not isinstance(labels, list) or not labels or len(set(map(str, labels))) != len(labels):
            raise ValueError(f"{file}: data.labels file must hold a JSON list of distinct label names")
        return tuple(str(label) for label in labels)


def _check_positive_int(key: str, value, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"data.{key} is {value!r}; allowed: an integer >= {minimum}")
