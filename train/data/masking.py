"""Dynamic masking for masked-LM training (BERT's 80/10/10 rule), deterministic per (seed, epoch, example).

Each call draws from `np.random.default_rng((seed, epoch, example_index))`, so a resumed run masks every
example exactly as the uninterrupted run did, whatever the batch it lands in, and a new epoch masks
the same example differently.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from .task_features import IGNORE_INDEX


def mask_tokens(
    input_ids: np.ndarray,
    *,
    seed: int,
    epoch: int,
    example_index: int,
    mask_token_id: int,
    special_ids: Collection[int],
    vocab_size: int,
    probability: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """(masked input_ids [S], labels [S]) for one unpadded sequence.

    Every non-special token is selected with `probability`; at least one is selected when the
    sequence has any (so no example, and no batch, has an empty loss). A selected token becomes
    [MASK] with probability 0.8, a random non-special token with 0.1, and stays itself with 0.1;
    its label is the original id. Unselected tokens and special tokens get label -100.
    """
    input_ids = np.asarray(input_ids)
    rng = np.random.default_rng((seed, epoch, example_index))
    candidates = ~np.isin(input_ids, np.fromiter(special_ids, np.int64))  # [S] maskable positions
    selected = candidates & (rng.random(input_ids.shape) < probability)
    if candidates.any() and not selected.any():
        selected[rng.choice(np.flatnonzero(candidates))] = True
    labels = np.where(selected, input_ids, IGNORE_INDEX).astype(np.int32)

    action = rng.random(input_ids.shape)  # [S] 80% mask, 10% random, 10% keep
    masked = input_ids.astype(np.int32).copy()
    masked[selected & (action < 0.8)] = mask_token_id
    to_randomize = selected & (action >= 0.8) & (action < 0.9)
    if to_randomize.any():
        masked[to_randomize] = _random_regular_tokens(rng, int(to_randomize.sum()), special_ids, vocab_size)
    return masked, labels


def _random_regular_tokens(rng: np.random.Generator, count: int, special_ids: Collection[int], vocab_size: int):
    """`count` ids drawn uniformly from the non-special ids of [0, vocab_size) (by redrawing specials,
    which are few, instead of building the whole regular-id table for a 250k vocabulary)."""
    specials = np.fromiter(special_ids, np.int64)
    if vocab_size <= len(set(specials.tolist())):
        raise ValueError(f"vocab_size {vocab_size} leaves no regular token to draw from")
    ids = rng.integers(0, vocab_size, size=count)
    while (redraw := np.isin(ids, specials)).any():
        ids[redraw] = rng.integers(0, vocab_size, size=int(redraw.sum()))
    return ids.astype(np.int32)
