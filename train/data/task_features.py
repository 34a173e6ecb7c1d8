"""Task adapters: records (plain dicts) -> tokenised features (dicts of numpy arrays), one function per task.

Every adapter takes the records of one file, the `DataSpec`, the tokenizer (transformers-style call
surface: `tokenizer(texts, pairs, truncation=True, max_length=N, return_token_type_ids=True, ...)`) and
the label names, and returns one feature per example (QA: one per context window, see `qa`):
    input_ids [S] int32, token_type_ids [S] int32, and the task's targets:
    sequence_classification  labels: int (class id) or float (regression)
    multiple_choice          input_ids / token_type_ids as lists of C arrays; labels: int in [0, C)
    token_classification     labels [S] int32: the word's tag id on its first word piece, -100 elsewhere
    masked_lm / causal_lm    no targets here (MLM masking happens per batch, see `masking`)
Errors name the file, the row (1-based, in file order), the column and the offending value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .spec import DataSpec

IGNORE_INDEX = -100  # label of positions the loss skips (transformers' CrossEntropyLoss default)
_CHUNK = 512  # records tokenised per tokenizer call


def column(records: list[dict], name: str, source: str, *, task: str, key: str) -> list:
    """The values of column `name`, or a ValueError naming the file, the missing column and the setting."""
    missing = [i for i, record in enumerate(records) if name not in record]
    if missing:
        found = sorted(records[missing[0]])
        raise ValueError(
            f"{source}: row {missing[0] + 1} has no column {name!r} (needed for {task}; columns found: "
            f"{found}); set data.{key} to the column that holds it"
        )
    return [record[name] for record in records]


def infer_label_names(values: Sequence, source: str, column_name: str) -> tuple[str, ...]:
    """The sorted distinct labels of a column (numerically when they are all integers)."""
    flat = list(values)
    if not flat:
        raise ValueError(f"{source}: column {column_name!r} holds no labels")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return tuple(str(v) for v in sorted(set(flat)))
    return tuple(sorted({str(v) for v in flat}))


def label_to_id(value, label_names: Sequence[str], where: str) -> int:
    """Map a label (its name, or an integer index into `label_names`) to its id."""
    name = str(value)
    if name in label_names:
        return label_names.index(name)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(label_names):
        return value
    shown = list(label_names) if len(label_names) <= 20 else [*label_names[:20], "..."]
    raise ValueError(f"{where}: label {value!r} is not in the label set {shown}; add it to data.labels or fix the row")


def _tokenize(tokenizer, texts, pairs, spec: DataSpec, **kwargs) -> dict:
    """Tokenise in chunks; returns {"input_ids": [...], "token_type_ids": [...]} lists of lists."""
    out: dict[str, list] = {"input_ids": [], "token_type_ids": []}
    for start in range(0, len(texts), _CHUNK):
        args = [texts[start:start + _CHUNK]]
        if pairs is not None:
            args.append(pairs[start:start + _CHUNK])
        encoding = tokenizer(*args, truncation=True, max_length=spec.max_length,
                             return_token_type_ids=True, **kwargs)
        out["input_ids"].extend(encoding["input_ids"])
        out["token_type_ids"].extend(encoding["token_type_ids"])
        if kwargs.get("is_split_into_words"):  # piece -> word map, for label alignment
            out.setdefault("word_ids", []).extend(
                encoding.word_ids(i) for i in range(len(encoding["input_ids"])))
    return out


def require_texts(values: list, source: str, name: str) -> list[str]:
    """`values` unchanged when every one is a string; else a ValueError naming the row and column."""
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{source}: row {i + 1}, column {name!r}: expected text, got {type(value).__name__} {value!r}")
    return values


def _as_features(encoded: dict) -> list[dict]:
    return [
        {"input_ids": np.asarray(ids, np.int32), "token_type_ids": np.asarray(types, np.int32)}
        for ids, types in zip(encoded["input_ids"], encoded["token_type_ids"], strict=True)
    ]


def texts_and_pairs(records: list[dict], spec: DataSpec, source: str, task: str) -> tuple[list[str], list[str] | None]:
    """The `text_column` strings of `records`, and the `text_pair_column` strings when one is set."""
    texts = require_texts(column(records, spec.text_column, source, task=task, key="text_column"), source, spec.text_column)
    pairs = None
    if spec.text_pair_column:
        pairs = require_texts(column(records, spec.text_pair_column, source, task=task, key="text_pair_column"),
                              source, spec.text_pair_column)
    return texts, pairs


def encode_sequence_classification(records, spec: DataSpec, tokenizer, label_names, source: str, *,
                                   labeled: bool = True) -> list[dict]:
    task = "sequence classification"
    texts, pairs = texts_and_pairs(records, spec, source, task)
    raw_labels = column(records, spec.label_column, source, task=task, key="label_column") if labeled else None
    features = _as_features(_tokenize(tokenizer, texts, pairs, spec))
    if raw_labels is None:
        return features
    for i, (feature, value) in enumerate(zip(features, raw_labels, strict=True)):
        where = f"{source}: row {i + 1}, column {spec.label_column!r}"
        feature["labels"] = _regression_target(value, where) if spec.regression else label_to_id(value, label_names, where)
    return features


def _regression_target(value, where: str) -> float:
    try:
        target = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: regression target {value!r} is not a number") from None
    if not math.isfinite(target):
        raise ValueError(f"{where}: regression target {value!r} is not finite")
    return target


def encode_multiple_choice(records, spec: DataSpec, tokenizer, source: str, *, labeled: bool = True) -> list[dict]:
    task = "multiple choice"
    contexts = require_texts(column(records, spec.text_column, source, task=task, key="text_column"), source, spec.text_column)
    choices = column(records, spec.choices_column, source, task=task, key="choices_column")
    labels = column(records, spec.label_column, source, task=task, key="label_column") if labeled else None
    num_choices = None
    for i, options in enumerate(choices):
        where = f"{source}: row {i + 1}, column {spec.choices_column!r}"
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ValueError(f"{where}: expected a list of at least two texts, got {options!r}")
        if num_choices is None:
            num_choices = len(options)
        elif len(options) != num_choices:
            raise ValueError(f"{where}: {len(options)} choices, but row 1 has {num_choices}; every row needs the same count")
    flat_contexts = [c for c, options in zip(contexts, choices, strict=True) for _ in options]
    flat_choices = [o for options in choices for o in options]
    flat = _as_features(_tokenize(tokenizer, flat_contexts, flat_choices, spec))
    features = []
    choice_names = [str(c) for c in range(num_choices)]
    for i in range(len(records)):
        group = flat[i * num_choices:(i + 1) * num_choices]
        feature = {"input_ids": [g["input_ids"] for g in group],  # C arrays of their own lengths
                   "token_type_ids": [g["token_type_ids"] for g in group]}
        if labels is not None:
            where = f"{source}: row {i + 1}, column {spec.label_column!r}"
            feature["labels"] = label_to_id(labels[i], choice_names, where)
        features.append(feature)
    return features


def split_words(values: list, source: str, name: str) -> list[list]:
    """Token-classification columns hold lists; CSV/TSV cells are split on whitespace."""
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list):
            raise ValueError(f"{source}: row {i + 1}, column {name!r}: expected a list, got {type(value).__name__}")
        out.append(value)
    return out


def encode_token_classification(records, spec: DataSpec, tokenizer, label_names, source: str, *,
                                labeled: bool = True) -> list[dict]:
    """Features carry `first_pieces` [S] bool (the first piece of each word: where a word's tag is
    predicted and scored) and, when labeled, `labels` [S]."""
    task = "token classification"
    words = split_words(column(records, spec.tokens_column, source, task=task, key="tokens_column"),
                        source, spec.tokens_column)
    tags = None
    if labeled:
        tags = split_words(column(records, spec.tags_column, source, task=task, key="tags_column"),
                           source, spec.tags_column)
    for i, w in enumerate(words):
        if not w:
            raise ValueError(f"{source}: row {i + 1}: column {spec.tokens_column!r} holds no words")
        if tags is not None and len(w) != len(tags[i]):
            raise ValueError(
                f"{source}: row {i + 1}: {len(w)} words in {spec.tokens_column!r} but {len(tags[i])} tags in "
                f"{spec.tags_column!r}; every word needs exactly one tag"
            )
    encoded = _tokenize(tokenizer, words, None, spec, is_split_into_words=True)
    features = _as_features(encoded)
    for i, (feature, word_ids) in enumerate(zip(features, encoded["word_ids"], strict=True)):
        first = align_labels_to_pieces(word_ids, range(len(words[i])))
        feature["first_pieces"] = first != IGNORE_INDEX
        if tags is not None:
            where = f"{source}: row {i + 1}, column {spec.tags_column!r}"
            tag_ids = [label_to_id(tag, label_names, where) for tag in tags[i]]
            feature["labels"] = align_labels_to_pieces(word_ids, tag_ids)
    return features


def align_labels_to_pieces(word_ids: Sequence[int | None], word_labels: Sequence[int]) -> np.ndarray:
    """Per-piece labels [S]: a word's label on its first piece; IGNORE_INDEX on later pieces and specials.

    `word_ids` is the tokenizer's piece -> word index map (None for special tokens).
    """
    labels = np.full(len(word_ids), IGNORE_INDEX, np.int32)
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            labels[position] = word_labels[word]
        previous = word
    return labels


def encode_language_modeling(records, spec: DataSpec, tokenizer, source: str) -> list[dict]:
    """Token ids for masked / causal LM; the targets are made per batch (`masking`, or labels = inputs)."""
    task = "language modeling"
    texts, pairs = texts_and_pairs(records, spec, source, task)
    return _as_features(_tokenize(tokenizer, texts, pairs, spec))
