"""`BatchEncoding` (the dict a tokenizer call returns), padding of features, tensor conversion.

Shared by the sentencepiece and the `tokenizers` RemBERT tokenizers and by `pad` (collation).
torch and TensorFlow are imported only when `return_tensors` asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TENSOR_TYPES = ("np", "jax", "pt", "tf")

# Value a padded position gets, per feature; features not listed are never padded.
_PAD_VALUES = {"token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1, "offset_mapping": (0, 0)}


def check_tensor_type(return_tensors: str | None) -> None:
    if return_tensors is not None and return_tensors not in TENSOR_TYPES:
        raise ValueError(f"return_tensors must be one of {TENSOR_TYPES} or None, got {return_tensors!r}")


def pad_rows(
    features: dict[str, list],
    *,
    pad_token_id: int,
    target_length: int,
    padding_side: str = "right",
) -> None:
    """Pad every row of `features` (dict of per-example lists) to `target_length`, in place.

    Creates `attention_mask` when absent (1 for real tokens). Rows longer than
    `target_length` are left as they are (padding never truncates).
    """
    ids_rows = features["input_ids"]
    if "attention_mask" not in features:
        features["attention_mask"] = [[1] * len(row) for row in ids_rows]
    pad_values = {"input_ids": pad_token_id, **_PAD_VALUES}
    keys = [key for key in features if key in pad_values]
    for i, row in enumerate(ids_rows):
        missing = target_length - len(row)
        if missing <= 0:
            continue
        for key in keys:
            padding = [pad_values[key]] * missing
            rows = features[key]
            rows[i] = rows[i] + padding if padding_side == "right" else padding + rows[i]


def to_tensor(name: str, rows: Any, return_tensors: str):
    """Convert one feature (list of equal-length rows) to the requested framework's tensor."""
    try:
        array = np.asarray(rows, dtype=np.int64)
    except ValueError as err:
        raise ValueError(
            f"cannot make a {return_tensors!r} tensor of {name!r}: the sequences have different lengths. "
            "Pass padding=True (and truncation=True for inputs longer than the model allows)."
        ) from err
    if return_tensors == "np":
        return array
    if return_tensors == "jax":
        import jax.numpy as jnp

        # jax without x64 holds int32; convert explicitly rather than let jnp warn about int64.
        return jnp.asarray(array.astype(np.int32))
    if return_tensors == "pt":
        try:
            import torch
        except ImportError as err:
            raise ImportError(
                "return_tensors='pt' needs PyTorch, which is not installed: pip install 'rembert-jax[torch]'"
            ) from err
        return torch.from_numpy(array)
    if return_tensors == "tf":
        try:
            import tensorflow as tf
        except ImportError as err:
            raise ImportError(
                "return_tensors='tf' needs TensorFlow, which is not installed: pip install 'rembert-jax[tensorflow]'"
            ) from err
        return tf.constant(array)
    check_tensor_type(return_tensors)
    raise AssertionError("unreachable")


class BatchEncoding(dict):
    """The output of a tokenizer call: a dict of features (`input_ids`, `token_type_ids`, ...).

    Keys can be read as attributes too (`enc.input_ids`). Per-token metadata that is not a
    model input (`word_ids`, `sequence_ids`, `tokens`) is kept beside the dict and read with the
    methods of the same name, as in transformers. It is available for every row the tokenizer
    produced (not after `pad` of plain features, which carry no such metadata).
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        encodings: Sequence[Any] | None = None,
        padding_side: str = "right",
        pad_token: str = "[PAD]",
        is_fast: bool = False,
        unbatched: bool = False,
        tensor_type: str | None = None,
    ):
        super().__init__(data or {})
        self._encodings = list(encodings) if encodings is not None else None
        self._padding_side = padding_side
        self._pad_token = pad_token
        self._is_fast = is_fast
        self._unbatched = unbatched  # one example, features are flat lists
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type)

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no attribute or key {name!r}") from None

    def __getstate__(self):
        return {"data": dict(self), "padding_side": self._padding_side, "pad_token": self._pad_token,
                "is_fast": self._is_fast, "unbatched": self._unbatched}

    def __setstate__(self, state):
        self.update(state.pop("data"))
        self._encodings = None  # tokenizers.Encoding objects do not pickle
        for key, value in state.items():
            setattr(self, f"_{key}", value)

    @property
    def is_fast(self) -> bool:
        return self._is_fast

    @property
    def encodings(self) -> list[Any] | None:
        """The backend's per-row encodings (`tokenizers.Encoding` for the fast tokenizer)."""
        return self._encodings

    @property
    def n_sequences(self) -> int | None:
        if not self._encodings:
            return None
        return max((s for s in self._encodings[0].sequence_ids if s is not None), default=-1) + 1

    def convert_to_tensors(self, tensor_type: str) -> BatchEncoding:
        """Turn every feature into an `np`/`jax`/`pt`/`tf` tensor in place (single rows get a batch axis)."""
        check_tensor_type(tensor_type)
        for key, value in list(self.items()):
            if key in ("length", "overflow_to_sample_mapping"):
                value = [value] if isinstance(value, int) else value
            elif self._unbatched:
                value = [value]
            self[key] = to_tensor(key, value, tensor_type)
        self._unbatched = False
        return self

    def _row_metadata(self, attribute: str, batch_index: int, pad_value):
        if self._encodings is None:
            raise ValueError(
                f"{attribute}() is not available: this BatchEncoding was not produced by a RemBERT tokenizer "
                "call (for example it came from pad())"
            )
        if not 0 <= batch_index < len(self._encodings):
            raise IndexError(f"batch_index {batch_index} out of range [0, {len(self._encodings)})")
        values = getattr(self._encodings[batch_index], attribute)
        if values is None:
            raise ValueError(
                f"{attribute}() needs RemBertTokenizerFast or is_split_into_words=True; "
                "the sentencepiece tokenizer does not track words in raw text"
            )
        ids = self["input_ids"]
        row_length = len(ids) if self._unbatched else len(ids[batch_index])
        missing = row_length - len(values)
        if missing <= 0:
            return list(values)
        padding = [pad_value] * missing
        return list(values) + padding if self._padding_side == "right" else padding + list(values)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Index of the input word each token comes from (None for special and pad tokens)."""
        return self._row_metadata("word_ids", batch_index, None)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """0 for tokens of the first text, 1 for the second, None for special and pad tokens."""
        return self._row_metadata("sequence_ids", batch_index, None)

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of a row (pad positions included)."""
        return self._row_metadata("tokens", batch_index, self._pad_token)


def _flatten_with_keys(encoding: BatchEncoding):
    import jax

    keys = tuple(sorted(encoding))
    meta = (keys, encoding._padding_side, encoding._pad_token, encoding._is_fast, encoding._unbatched)
    return [(jax.tree_util.DictKey(key), encoding[key]) for key in keys], meta


def _unflatten(meta, children) -> BatchEncoding:
    keys, padding_side, pad_token, is_fast, unbatched = meta
    return BatchEncoding(dict(zip(keys, children, strict=True)), padding_side=padding_side, pad_token=pad_token,
                         is_fast=is_fast, unbatched=unbatched)


def _register_pytree() -> None:
    """Make a BatchEncoding a pytree like a dict (`jax.device_put(batch)`, `jax.tree.map`).

    The per-row encodings (word_ids, ...) are host metadata and do not travel through tree ops.
    """
    import jax

    jax.tree_util.register_pytree_with_keys(
        BatchEncoding, _flatten_with_keys, _unflatten,
        flatten_func=lambda e: ([e[k] for k in sorted(e)], _flatten_with_keys(e)[1]),
    )


_register_pytree()
