"""Checking and normalising the arguments of a tokenizer call (shared by both RemBERT tokenizers).

Everything here runs before any text is tokenized, so bad arguments fail fast with a message that
names the argument and lists what is allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# transformers' VERY_LARGE_INTEGER: "no limit known" for model_max_length.
NO_MAX_LENGTH = int(1e30)

PADDING = ("longest", "max_length", "do_not_pad")
SIDES = ("right", "left")
TRUNCATION = ("longest_first", "only_first", "only_second", "do_not_truncate")

# One text: a string, or a list of words when is_split_into_words=True.
Text = str | list[str]


@dataclass(frozen=True)
class Lengths:
    """The resolved padding/truncation plan of one call."""

    padding: str  # one of PADDING
    truncation: str  # one of TRUNCATION
    max_length: int | None  # the truncation / max_length padding target (None: no limit)
    pad_to_multiple_of: int | None


def check_side(name: str, value: str) -> str:
    """A padding_side / truncation_side value: 'right' or 'left'."""
    if value not in SIDES:
        raise ValueError(f"{name} must be 'right' or 'left', got {value!r}")
    return value


def resolve_padding(padding) -> str:
    return _strategy(padding, "padding", when_true="longest", when_off="do_not_pad", allowed=PADDING)


def resolve_truncation(truncation) -> str:
    return _strategy(truncation, "truncation", when_true="longest_first", when_off="do_not_truncate",
                     allowed=TRUNCATION)


def _strategy(value, name: str, *, when_true: str, when_off: str, allowed) -> str:
    """transformers' strategy argument: True, False/None, or one of the `allowed` names."""
    if value is True:
        return when_true
    if value is False or value is None:
        return when_off
    if isinstance(value, str) and value in allowed:
        return value
    raise ValueError(f"{name} must be True, False or one of {allowed}, got {value!r}")


def resolve_lengths(
    padding, truncation, max_length: int | None, pad_to_multiple_of: int | None, *, model_max_length: int,
    has_pad_token: bool,
) -> Lengths:
    """transformers' padding/truncation rules, with errors where transformers would silently not pad."""
    if max_length is not None and (padding is False or padding is None) and truncation is None:
        truncation = "longest_first"  # transformers: max_length alone means truncate to it
    padding = resolve_padding(padding)
    truncation = resolve_truncation(truncation)
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool)
                                   or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")
    if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
        raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
    if max_length is None:
        limited = model_max_length < NO_MAX_LENGTH
        if padding == "max_length":
            if not limited:
                raise ValueError(
                    "padding='max_length' needs max_length: pass max_length=N (this tokenizer has no "
                    "model_max_length; set it in tokenizer_config.json or the constructor)"
                )
            max_length = model_max_length
        if truncation != "do_not_truncate":
            if limited:
                max_length = model_max_length
            else:
                logger.warning(
                    "truncation=%r without max_length and no model_max_length: not truncating; pass max_length=N",
                    truncation,
                )
                truncation = "do_not_truncate"
    if padding != "do_not_pad" and not has_pad_token:
        raise ValueError("padding needs a pad token, but this tokenizer has pad_token=None")
    if (padding != "do_not_pad" and truncation != "do_not_truncate" and pad_to_multiple_of is not None
            and max_length is not None and max_length % pad_to_multiple_of != 0):
        # transformers' rule: a row truncated to max_length could not be padded to the multiple.
        raise ValueError(
            f"Truncation and padding are both activated but truncation length ({max_length}) is not a multiple "
            f"of pad_to_multiple_of ({pad_to_multiple_of})."
        )
    return Lengths(padding, truncation, max_length, pad_to_multiple_of)


def padded_length(lengths: Lengths, row_lengths: Sequence[int]) -> int | None:
    """The length every row is padded to (None: no padding)."""
    if lengths.padding == "do_not_pad":
        return None
    target = lengths.max_length if lengths.padding == "max_length" else max(row_lengths, default=0)
    multiple = lengths.pad_to_multiple_of
    if multiple is not None and target % multiple:
        target += multiple - target % multiple
    return target


_TEXT_TYPES_MESSAGE = (
    "a str (one text), a list of str (a batch of texts), or with is_split_into_words=True a list of str "
    "(one pre-split text) or a list of lists of str (a batch)"
)


def _check_one(value, name: str, is_split_into_words: bool) -> Text:
    if is_split_into_words:
        if isinstance(value, list | tuple) and all(isinstance(word, str) for word in value):
            return list(value)
        raise ValueError(f"{name} must be a list of str words with is_split_into_words=True, got {value!r:.80}")
    if isinstance(value, str):
        return value
    raise ValueError(f"{name} must be a str, got {type(value).__name__}: {value!r:.80}")


def split_batch(text, text_pair, is_split_into_words: bool) -> tuple[list[tuple[Text, Text | None]], bool]:
    """Normalise a call's `text`/`text_pair` to a list of (first, second-or-None) and a batched flag.

    Accepts what transformers accepts: a text, a batch of texts, a batch of (text, pair) tuples,
    and pre-split words (`is_split_into_words=True`). Raises ValueError naming the bad element.
    """
    if is_split_into_words:
        batched = isinstance(text, list | tuple) and len(text) > 0 and isinstance(text[0], list | tuple)
    else:
        batched = isinstance(text, list | tuple)
    if not batched and not isinstance(text, str | list | tuple):
        raise ValueError(f"text must be {_TEXT_TYPES_MESSAGE}; got {type(text).__name__}")
    if not batched:
        first = _check_one(text, "text", is_split_into_words)
        second = None if text_pair is None else _check_one(text_pair, "text_pair", is_split_into_words)
        return [(first, second)], False
    if text_pair is not None:
        if not isinstance(text_pair, list | tuple) or len(text_pair) != len(text):
            raise ValueError(
                f"text_pair must be a list with one entry per text ({len(text)}), got "
                f"{type(text_pair).__name__}{'' if not isinstance(text_pair, list | tuple) else f' of {len(text_pair)}'}"
            )
        return [
            (_check_one(a, f"text[{i}]", is_split_into_words), _check_one(b, f"text_pair[{i}]", is_split_into_words))
            for i, (a, b) in enumerate(zip(text, text_pair, strict=True))
        ], True
    examples = []
    for i, item in enumerate(text):
        if is_split_into_words and isinstance(item, list | tuple) and item and isinstance(item[0], list | tuple):
            # transformers' rule: an item whose first element is a word list is a (words, pair words) pair
            if len(item) != 2:
                raise ValueError(f"text[{i}] must be a list of words or a (words, pair words) pair, got {len(item)} lists")
            examples.append((_check_one(item[0], f"text[{i}][0]", True), _check_one(item[1], f"text[{i}][1]", True)))
        elif not is_split_into_words and isinstance(item, tuple | list):
            if len(item) != 2:
                raise ValueError(f"text[{i}] must be a str or a (text, text_pair) pair, got {len(item)} items")
            examples.append((_check_one(item[0], f"text[{i}][0]", False), _check_one(item[1], f"text[{i}][1]", False)))
        else:
            examples.append((_check_one(item, f"text[{i}]", is_split_into_words), None))
    return examples, True
