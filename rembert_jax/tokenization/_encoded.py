"""Operations on already-tokenized ids, shared by both RemBERT tokenizers.

    pad(encoded_inputs, ...)                 collation: pad feature dicts to one length
    prepare_for_model(ids, pair_ids, ...)    special tokens, truncation (with overflow), padding of one example
    truncate_sequences(ids, pair_ids, ...)   transformers' truncation of id lists, with the overflowing tokens

and transformers' once-per-tokenizer warning when a sequence is longer than `model_max_length`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._batch import BatchEncoding, check_tensor_type, pad_rows, to_tensor
from ._options import check_side, padded_length, resolve_lengths, resolve_truncation
from ._truncate import cut, longest_first_pair

logger = logging.getLogger(__name__)

_TOO_LONG = "sequence-length-is-longer-than-the-specified-maximum"  # transformers' key in deprecation_warnings


class EncodedIdsMixin:
    """`pad`, `prepare_for_model`, `truncate_sequences` over the tokenizer's special-token layout."""

    def _warn_if_too_long(self, row_lengths, max_length: int | None, verbose: bool) -> None:
        """transformers' warning (once per tokenizer, naming the first row too long) for a row longer than
        model_max_length, unless a max_length was in force or verbose is off."""
        too_long = next((n for n in row_lengths if n > self.model_max_length), None)
        if max_length is None and verbose and too_long is not None:
            if not self.deprecation_warnings.get(_TOO_LONG, False):
                logger.warning(
                    "Token indices sequence length is longer than the specified maximum sequence length for this "
                    f"model ({too_long} > {self.model_max_length}). Running this sequence through the model will "
                    "result in indexing errors"
                )
            self.deprecation_warnings[_TOO_LONG] = True

    def truncate_sequences(self, ids: list[int], pair_ids: list[int] | None = None, num_tokens_to_remove: int = 0,
                           truncation_strategy: str | bool = "longest_first",
                           stride: int = 0) -> tuple[list[int], list[int] | None, list[int]]:
        """(ids, pair_ids, overflowing_tokens) with `num_tokens_to_remove` tokens removed, as transformers does.

        `only_first` / `only_second` (and `longest_first` on one sequence) cut that sequence on
        `truncation_side` and return the removed tokens plus `stride` tokens of the kept part as
        the overflow; `longest_first` on a pair cuts both (transformers 4.x slow rule) with no
        overflow. A sequence too short to lose that many tokens raises (transformers returned
        it unchanged or emptied it).
        """
        strategy = resolve_truncation(truncation_strategy)
        if num_tokens_to_remove <= 0 or strategy == "do_not_truncate":
            return ids, pair_ids, []
        side = self.truncation_side
        if strategy == "longest_first" and pair_ids is not None:
            remove_first, remove_second = longest_first_pair(len(ids), len(pair_ids), num_tokens_to_remove)
            return list(cut(ids, remove_first, side)), list(cut(pair_ids, remove_second, side)), []
        if strategy == "only_second" and pair_ids is None:
            raise ValueError("truncation='only_second' needs pair_ids")
        target = pair_ids if strategy == "only_second" else ids
        if len(target) <= num_tokens_to_remove:
            which = "second" if strategy == "only_second" else "first"
            raise ValueError(f"truncation={strategy!r} would remove {num_tokens_to_remove} tokens from the {which} "
                             f"sequence, which has only {len(target)}")
        window = min(len(target), stride + num_tokens_to_remove)
        overflow = target[-window:] if side == "right" else target[:window]
        kept = list(cut(target, num_tokens_to_remove, side))
        return (ids, kept, list(overflow)) if strategy == "only_second" else (kept, pair_ids, list(overflow))

    def prepare_for_model(
        self,
        ids,
        pair_ids=None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        prepend_batch_axis: bool = False,
    ) -> BatchEncoding:
        """One example from ids (`tokenizer.encode(text, add_special_tokens=False)`): special tokens,
        truncation, padding, as transformers' `prepare_for_model`.

        With `return_overflowing_tokens=True` and truncation, the removed tokens (plus `stride`
        kept ones) come back as `overflowing_tokens` and their count as `num_truncated_tokens`
        (not with `return_tensors`). Tensors are 1-D unless `prepend_batch_axis=True`.
        """
        if return_offsets_mapping:
            raise ValueError("return_offsets_mapping needs text; prepare_for_model takes ids, which have no offsets")
        ids = self._checked_ids(ids, "ids")
        pair_ids = None if pair_ids is None else self._checked_ids(pair_ids, "pair_ids")
        lengths = resolve_lengths(padding, truncation, max_length, pad_to_multiple_of,
                                  model_max_length=self.model_max_length, has_pad_token=self.pad_token is not None)
        check_tensor_type(return_tensors)
        side = check_side("padding_side", padding_side or self.padding_side)
        if return_overflowing_tokens and lengths.truncation == "longest_first" and pair_ids is not None:
            raise ValueError(
                "return_overflowing_tokens with a pair needs truncation='only_first' or 'only_second', not "
                "'longest_first'"
            )
        special = self.num_special_tokens_to_add(pair_ids is not None) if add_special_tokens else 0
        total = len(ids) + len(pair_ids or ()) + special
        overflow: list[int] = []
        if lengths.truncation != "do_not_truncate" and lengths.max_length is not None and total > lengths.max_length:
            ids, pair_ids, overflow = self.truncate_sequences(
                ids, pair_ids, num_tokens_to_remove=total - lengths.max_length,
                truncation_strategy=lengths.truncation, stride=stride,
            )
        if add_special_tokens:
            sequence = self.build_inputs_with_special_tokens(ids, pair_ids)
            type_ids = self.create_token_type_ids_from_sequences(ids, pair_ids)
            special_mask = self.get_special_tokens_mask(ids, pair_ids)
        else:
            sequence = ids + (pair_ids or [])
            type_ids = special_mask = [0] * len(sequence)
        features: dict[str, Any] = {"input_ids": [sequence]}
        if return_token_type_ids is not False:
            features["token_type_ids"] = [type_ids]
        if return_special_tokens_mask:
            features["special_tokens_mask"] = [special_mask]
        if return_attention_mask is not False:
            features["attention_mask"] = [[1] * len(sequence)]
        self._warn_if_too_long([len(sequence)], lengths.max_length, verbose)
        target = padded_length(lengths, [len(sequence)])
        if target is not None:
            pad_rows(features, pad_token_id=self.pad_token_id, target_length=target, padding_side=side)
            if return_attention_mask is False:
                features.pop("attention_mask")
        features = {key: value[0] for key, value in features.items()}
        if return_overflowing_tokens and overflow and return_tensors is None:
            features["overflowing_tokens"] = overflow
            features["num_truncated_tokens"] = total - lengths.max_length
        if return_length:
            features["length"] = len(features["input_ids"])
        if return_tensors is not None and not prepend_batch_axis:
            features = {key: to_tensor(key, value, return_tensors) for key, value in features.items()}
            return BatchEncoding(features, padding_side=side, is_fast=self.is_fast, unbatched=True)
        return BatchEncoding(features, padding_side=side, is_fast=self.is_fast, unbatched=True,
                             tensor_type=return_tensors)

    def _checked_ids(self, ids, name: str) -> list[int]:
        if isinstance(ids, int | np.integer):
            raise ValueError(f"{name} must be a list of int token ids, got the single int {ids}")
        ids = _as_list(ids)
        if not isinstance(ids, list) or not all(isinstance(i, int | np.integer) and not isinstance(i, bool)
                                                for i in ids):
            raise ValueError(f"{name} must be a list of int token ids, got {str(ids)[:80]}")
        ids = [int(i) for i in ids]
        self._check_ids(ids, name)
        return ids

    def pad(
        self,
        encoded_inputs,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad already-encoded examples (a list of feature dicts, or a dict of lists) to one length.

        The collation step of a data loader: pads `input_ids` with the pad id, `token_type_ids`
        with 0, `special_tokens_mask` with 1, and creates/pads `attention_mask`. Other keys (for
        example `labels`) are passed through unpadded.
        """
        if isinstance(encoded_inputs, list | tuple) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            keys = list(encoded_inputs[0])
            for i, example in enumerate(encoded_inputs):
                if not isinstance(example, Mapping) or set(example) != set(keys):
                    raise ValueError(f"pad(): example {i} has keys {sorted(example)}, example 0 has {sorted(keys)}")
            features = {key: [_as_list(example[key]) for example in encoded_inputs] for key in keys}
            single = False
        elif isinstance(encoded_inputs, Mapping):
            # New outer lists: padding replaces rows, and the caller's encoding must keep its own.
            features = {key: _copy_rows(_as_list(value)) for key, value in encoded_inputs.items()}
            single = bool(features.get("input_ids")) and not isinstance(features["input_ids"][0], list)
            if single:
                features = {key: [value] for key, value in features.items()}
        else:
            raise ValueError(
                f"pad() takes a list of feature dicts or a dict of lists, got {type(encoded_inputs).__name__}"
            )
        if "input_ids" not in features:
            raise ValueError(f"pad() needs 'input_ids' among the features, got {sorted(features)}")
        lengths = resolve_lengths(
            padding, False, max_length, pad_to_multiple_of,
            model_max_length=self.model_max_length, has_pad_token=self.pad_token is not None,
        )
        check_tensor_type(return_tensors)
        side = check_side("padding_side", padding_side or self.padding_side)
        if return_attention_mask is not False and "attention_mask" not in features:
            features["attention_mask"] = [[1] * len(row) for row in features["input_ids"]]
        elif return_attention_mask is False:
            features.pop("attention_mask", None)
        target = padded_length(lengths, [len(row) for row in features["input_ids"]])
        if target is not None:
            pad_rows(features, pad_token_id=self.pad_token_id, target_length=target, padding_side=side)
        if single:
            features = {key: value[0] for key, value in features.items()}
        return BatchEncoding(features, padding_side=side, is_fast=self.is_fast, unbatched=single,
                             tensor_type=return_tensors)


def _copy_rows(value):
    return list(value) if isinstance(value, list) else value


def _as_list(value):
    if hasattr(value, "tolist") and not isinstance(value, list):
        return np.asarray(value).tolist()
    return list(value) if isinstance(value, tuple) else value
