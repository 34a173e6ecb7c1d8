"""Sequence packing: several sequences share one row, each attending only to itself.

A batch of sequences with mixed lengths padded to the longest wastes the padding's compute.
Packing puts sequences end to end into rows of `row_length` tokens (first-fit decreasing, so rows
are nearly full) and gives `apply` what keeps them apart:

- `segment_ids` [R, L]: 1, 2, ... numbers the sequences of a row, 0 marks padding. The encoder
  builds the block-diagonal attention mask from it on the device (token i attends to token j iff
  both belong to the same sequence), so only [R, L] integers cross to the device, not [R, L, L];
- `position_ids` [R, L] restarting at 0 for every sequence (what the encoder would derive from
  `segment_ids` anyway), so each sees the positions it would see alone;
- `token_type_ids` [R, L] carried over per token, `attention_mask` [R, L] (1 = real token).

The encoder output of every sequence then equals its unpacked output (tests/test_packing.py,
<= 1e-5 in fp32); `unpack` cuts it back out. Everything here runs on the host with numpy, before jit.

    packed = pack_sequences(token_lists, row_length=512, pad_token_id=config.pad_token_id)
    hidden = apply(params, packed.inputs, config=config)["last_hidden_state"]   # [R, L, H]
    per_sequence = packed.unpack(hidden)                                          # [len_i, H] each
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class PackedBatch:
    """Rows of packed sequences. `inputs` holds the arrays for `apply`; `segments[r]` lists the
    (sequence index, start, length) placed in row r, in order."""

    inputs: dict[str, np.ndarray]
    segments: tuple[tuple[tuple[int, int, int], ...], ...]

    @property
    def num_sequences(self) -> int:
        return sum(len(row) for row in self.segments)

    @property
    def fill(self) -> float:
        """Fraction of the row slots that hold real tokens."""
        rows, length = self.inputs["input_ids"].shape
        return sum(n for row in self.segments for _, _, n in row) / max(rows * length, 1)

    def unpack(self, per_token) -> list[np.ndarray]:
        """[R, L, ...] per-token outputs -> one [length_i, ...] array per sequence, in input order."""
        per_token = np.asarray(per_token)
        out: list[np.ndarray | None] = [None] * self.num_sequences
        for r, row in enumerate(self.segments):
            for index, start, length in row:
                out[index] = per_token[r, start:start + length]
        return out  # type: ignore[return-value]


def plan_rows(lengths: Sequence[int], row_length: int) -> list[list[int]]:
    """First-fit decreasing: sequence indices per row, longest first, each into the first row
    with room (rows stay within `row_length` tokens). O(n log n): the first row with room is found
    in a max-tree over the rows' free slots (not yet opened rows count as empty)."""
    lengths = [int(n) for n in lengths]
    for i, n in enumerate(lengths):
        if n < 1 or n > row_length:
            raise ValueError(f"sequence {i} has {n} tokens; packing needs 1 <= length <= row_length={row_length} "
                             "(truncate or split longer sequences first)")
    size = 1
    while size < max(len(lengths), 1):
        size *= 2
    free = [row_length] * (2 * size)  # free[size + r]: room in row r; inner nodes: max of children
    rows: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        node = 1
        while node < size:  # descend to the leftmost row with room for this sequence
            node = 2 * node if free[2 * node] >= lengths[i] else 2 * node + 1
        r = node - size
        if r == len(rows):
            rows.append([])
        rows[r].append(i)
        free[node] -= lengths[i]
        node //= 2
        while node:
            free[node] = max(free[2 * node], free[2 * node + 1])
            node //= 2
    return rows


def pack_sequences(input_ids: Sequence[Sequence[int]], *, row_length: int, pad_token_id: int = 0,
                   token_type_ids: Sequence[Sequence[int]] | None = None,
                   rows: list[list[int]] | None = None) -> PackedBatch:
    """Pack token-id sequences into rows of `row_length` (see the module docstring).

    Args:
      input_ids: one list (or 1-D array) of token ids per sequence, special tokens included.
      row_length: tokens per row; at most the model's max_position_embeddings is sensible, since
        positions restart per sequence and never exceed the longest sequence.
      pad_token_id: id written into the unused slots (they are masked out entirely).
      token_type_ids: optional, one list per sequence, same lengths as `input_ids`.
      rows: a plan for exactly these sequences (indices into `input_ids`, each once), e.g. one
        batch's share of a larger `plan_rows` result with its indices renumbered (see
        benchmarks/bench_mixed_length.py); default: `plan_rows` of all of them.

    A 2-D array is taken as one sequence per row, all of its tokens real (strip padding first).
    """
    if isinstance(input_ids, np.ndarray) and input_ids.ndim != 2:
        raise ValueError(f"input_ids must be a list of sequences, got an array of shape {input_ids.shape}")
    sequences = [np.asarray(s, dtype=np.int64) for s in input_ids]
    for i, s in enumerate(sequences):
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"input_ids[{i}] must be a non-empty 1-D list of token ids, got shape {s.shape}")
    if token_type_ids is not None:
        types = [np.asarray(t, dtype=np.int64).reshape(-1) for t in token_type_ids]
        if len(types) != len(sequences) or any(len(t) != len(s) for t, s in zip(types, sequences, strict=True)):
            raise ValueError("token_type_ids must have one list per sequence, each as long as its input_ids")
    else:
        types = [np.zeros(len(s), np.int64) for s in sequences]
    if rows is None:
        rows = plan_rows([len(s) for s in sequences], row_length)
    elif sorted(i for row in rows for i in row) != list(range(len(sequences))) or not all(rows):
        raise ValueError(f"rows must be non-empty and place every sequence index 0..{len(sequences) - 1} "
                         "exactly once")
    R, L = len(rows), row_length
    ids = np.full((R, L), pad_token_id, np.int32)
    type_ids = np.zeros((R, L), np.int32)
    positions = np.zeros((R, L), np.int32)
    segment = np.zeros((R, L), np.int32)  # 1.. per sequence in the row, 0 = padding
    segments = []
    for r, members in enumerate(rows):
        start, placed = 0, []
        for k, i in enumerate(members, start=1):
            n = len(sequences[i])
            if start + n > L:
                raise ValueError(f"row {r} of the given plan holds {start + n} tokens, more than row_length={L}")
            ids[r, start:start + n] = sequences[i]
            type_ids[r, start:start + n] = types[i]
            positions[r, start:start + n] = np.arange(n)
            segment[r, start:start + n] = k
            placed.append((i, start, n))
            start += n
        segments.append(tuple(placed))
    inputs = {"input_ids": ids, "attention_mask": (segment > 0).astype(np.int32), "token_type_ids": type_ids,
              "position_ids": positions, "segment_ids": segment}
    return PackedBatch(inputs=inputs, segments=tuple(segments))
