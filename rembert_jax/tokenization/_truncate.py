"""Truncation and overflow windows in Python, for the sentencepiece tokenizer.

Without overflow, pairs under `longest_first` are cut as transformers 4.x's slow tokenizers cut
them (spec §6.5: the Rust library removes tokens in a different order; each class keeps its
reference). With `return_overflowing_tokens=True`, the windows are those of the `tokenizers`
library (`Encoding.truncate` with a stride), so both RemBERT tokenizers return the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence


def truncation_error(strategy: str, index: int, max_length: int, detail: str) -> ValueError:
    return ValueError(f"truncation={strategy!r} cannot fit example {index} into max_length={max_length}: {detail}")


def window_ranges(length: int, window: int, stride: int, side: str) -> list[tuple[int, int]]:
    """[start, stop) of consecutive windows of `window` tokens sharing `stride` tokens.

    The first range is the one kept by plain truncation (the start for side='right', the end for
    side='left'); the rest are the overflow, in the `tokenizers` library's order.
    """
    if length <= window:
        return [(0, length)]
    step = window - stride
    ranges = []
    if side == "right":
        for start in range(0, length, step):
            stop = min(start + window, length)
            ranges.append((start, stop))
            if stop == length:
                break
    else:
        for stop in range(length, 0, -step):
            start = max(stop - window, 0)
            ranges.append((start, stop))
            if start == 0:
                break
    return ranges


def longest_first_pair(len_a: int, len_b: int, to_remove: int) -> tuple[int, int]:
    """Tokens to remove from (A, B): transformers 4.x slow `longest_first` for a pair."""
    first_remove = min(abs(len_b - len_a), to_remove)
    second_remove = to_remove - first_remove
    if len_a > len_b:
        return first_remove + second_remove // 2, second_remove - second_remove // 2
    return second_remove // 2, first_remove + second_remove - second_remove // 2


def cut(values: Sequence, remove: int, side: str) -> Sequence:
    if remove <= 0:
        return values
    return values[:-remove] if side == "right" else values[remove:]
