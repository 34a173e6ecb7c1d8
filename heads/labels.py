"""Host-side checks of the label entries of a batch, before anything is traced.

PyTorch raises (or asserts on GPU) for a class index outside the logits, while a JAX gather would
silently clamp it; these checks turn such labels into a ValueError naming the key and the allowed
range. Shapes and dtypes are always checked, values only when the arrays are concrete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from rembert_jax import RemBertConfig
from rembert_jax.tasks import get_task

from .losses import IGNORE_INDEX, resolve_problem_type


def _concrete(x) -> np.ndarray | None:
    if isinstance(x, jax.core.Tracer) or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return None
    return np.asarray(x)


def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def _check_classes(name: str, labels, num_classes: int, what: str) -> None:
    """Integer labels in [0, num_classes) or the ignore index -100."""
    if not np.issubdtype(_dtype(labels), np.integer):
        raise ValueError(f"{name} must be integer class indices, got dtype {_dtype(labels)}")
    values = _concrete(labels)
    if values is None:
        return
    bad = ((values < 0) | (values >= num_classes)) & (values != IGNORE_INDEX)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be in [0, {num_classes}) ({what}) or {IGNORE_INDEX} (ignored); "
                         f"found {int(values[first])} at index {first}")


def _check_shape(name: str, labels, expected: tuple[int, ...], meaning: str) -> None:
    if tuple(np.shape(labels)) != expected:
        raise ValueError(f"{name} must have shape {list(expected)} ({meaning}), got {list(np.shape(labels))}")


def has_labels(task: str, batch: Mapping[str, Any]) -> bool:
    """Whether `batch` carries the targets of `task` (QA needs both positions or neither)."""
    keys = get_task(task).label_keys
    present = [key in batch and batch[key] is not None for key in keys]
    if any(present) and not all(present):
        raise ValueError(f"{task} needs both {' and '.join(keys)} (or neither)")
    return all(present)


def validate_labels(task: str, batch: Mapping[str, Any], config: RemBertConfig, *, batch_size: int,
                    length: int, num_choices: int | None = None) -> None:
    """Check the targets of `task` in `batch` against the inputs' [batch_size, length]."""
    B, S = batch_size, length
    kind = get_task(task).labels
    if kind == "token_ids":
        labels = batch["labels"]
        _check_shape("labels", labels, (B, S), "one token id per input position")
        _check_classes("labels", labels, config.vocab_size, f"vocab_size={config.vocab_size}")
    elif kind == "token_classes":
        labels = batch["labels"]
        _check_shape("labels", labels, (B, S), "one class per input position")
        _check_classes("labels", labels, config.num_labels, f"num_labels={config.num_labels}")
    elif kind == "choice":
        labels = batch["labels"]
        _check_shape("labels", labels, (B,), "the index of the right choice per example")
        _check_classes("labels", labels, num_choices, f"num_choices={num_choices}")
    elif kind == "classes":
        _validate_sequence_labels(batch["labels"], config, B)
    else:  # a span
        for name in get_task(task).label_keys:
            positions = batch[name]
            if tuple(np.shape(positions)) not in ((B,), (B, 1)):
                raise ValueError(f"{name} must have shape [{B}] or [{B}, 1], got {list(np.shape(positions))}")
            if not np.issubdtype(_dtype(positions), np.integer):
                raise ValueError(f"{name} must be integer token positions, got dtype {_dtype(positions)}")


def _validate_sequence_labels(labels, config: RemBertConfig, B: int) -> None:
    NL = config.num_labels
    problem_type = resolve_problem_type(config, labels)
    shape = tuple(np.shape(labels))
    if problem_type == "single_label_classification":
        if int(np.prod(shape)) != B:
            raise ValueError(f"labels for single_label_classification must have shape [{B}], got {list(shape)}")
        _check_classes("labels", labels, NL, f"num_labels={NL}")
    elif problem_type == "regression":
        squeezed = tuple(d for d in shape if d != 1)
        expected = tuple(d for d in (B,) if d != 1) if NL == 1 else (B, NL)
        if (squeezed if NL == 1 else shape) != expected:
            want = f"[{B}] or [{B}, 1]" if NL == 1 else f"[{B}, {NL}]"
            raise ValueError(f"labels for regression must have shape {want}, got {list(shape)}")
    elif shape != (B, NL):
        raise ValueError(f"labels for multi_label_classification must be multi-hot of shape [{B}, {NL}], "
                         f"got {list(shape)}")
