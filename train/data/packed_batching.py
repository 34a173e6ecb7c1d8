"""Packed training batches (`data.packing: true`): several examples per row, kept apart by `segment_ids`.

For the per-token tasks (masked LM, causal LM, token classification) a row of `max_length` tokens
holds several tokenised examples end to end; the encoder attends within each example only and
restarts its positions (`rembert_jax.packing`), so an example's loss terms are those it would
have alone in a padded row. Batches are [B, max_length]:
    input_ids, attention_mask, token_type_ids, segment_ids, position_ids, labels   [B, L]
    weight [B] (1 for a real row, 0 for padding rows), index [B] (the row's number, -1 for padding)

Rows are planned once, from the lengths alone (first-fit decreasing, `rembert_jax.packing.plan_rows`),
and every epoch shuffles the rows, not the examples: the number of batches per epoch is then fixed,
so the position (epoch, batches yielded) stays the whole iterator state and a resumed run sees the
same batches bit for bit, as with `BatchIterator`. Masked-LM masking is the same pure function of
(seed, epoch, example index) as there, so packing changes which examples share a batch, never
what an example's tokens and labels are.
"""

from __future__ import annotations

import numpy as np

from rembert_jax.packing import plan_rows
from rembert_jax.tasks import check_packable, get_task

from .batching import BatchIterator, fill_padding_rows
from .task_features import IGNORE_INDEX


class PackedBatchIterator(BatchIterator):
    """`BatchIterator` over packed rows (see the module docstring); same state and resume contract."""

    def __init__(self, dataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, repeat: bool | None = None):
        check_packable(dataset.task, "data.packing")
        row_length = int(dataset.buckets[-1])  # max_length: every row is this long
        super().__init__(dataset, batch_size, buckets=(row_length,), shuffle=shuffle, seed=seed, repeat=repeat)
        self.row_length = row_length
        self.rows = plan_rows(dataset.lengths, row_length)  # [[feature index, ...] per row]

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    @property
    def fill(self) -> float:
        """Fraction of the row slots holding real tokens."""
        return float(self.dataset.lengths.sum()) / (len(self.rows) * self.row_length)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The row numbers of every batch of `epoch` (the last one may be short)."""
        n = len(self.rows)
        order = np.random.default_rng((self.seed, epoch)).permutation(n) if self.shuffle else np.arange(n)
        return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    def collate(self, row_numbers: np.ndarray) -> dict:
        data, L = self.dataset, self.row_length
        B = self.batch_size
        ids = np.full((B, L), data.token_ids.pad, np.int32)  # [B, L]
        types = np.zeros((B, L), np.int32)
        segments = np.zeros((B, L), np.int32)  # 1.. per example in the row, 0 = padding
        positions = np.zeros((B, L), np.int32)
        labels = np.full((B, L), IGNORE_INDEX, np.int32)
        for b, r in enumerate(row_numbers):
            start = 0
            for k, index in enumerate(self.rows[int(r)], start=1):
                feature = data.features[index]
                n = len(feature["input_ids"])
                span = slice(start, start + n)
                types[b, span], segments[b, span], positions[b, span] = feature["token_type_ids"], k, np.arange(n)
                ids[b, span], labels[b, span] = self._example_targets(feature, index)
                start += n
        fill_padding_rows(ids, segments, data.token_ids, first=len(row_numbers))  # "[CLS] [SEP]" as one example
        positions[len(row_numbers):, :2] = (0, 1)
        return {"input_ids": ids, "attention_mask": (segments > 0).astype(np.int32), "token_type_ids": types,
                "segment_ids": segments, "position_ids": positions, "labels": labels,
                "weight": np.array([1.0] * len(row_numbers) + [0.0] * (B - len(row_numbers)), np.float32),
                "index": np.array(list(row_numbers) + [-1] * (B - len(row_numbers)), np.int32)}

    def _example_targets(self, feature: dict, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(input ids, labels) of one example, exactly as the unpacked iterator makes them."""
        data = self.dataset
        ids = np.asarray(feature["input_ids"], np.int32)
        spec = get_task(data.task)
        if spec.masks_inputs:
            return self.mask_example(feature["input_ids"], index)
        if spec.language_model:  # causal LM
            return ids, ids.copy()  # the model shifts, and ignores each example's first label (rembert_jax.packing)
        if "labels" in feature:  # token classification
            return ids, np.asarray(feature["labels"], np.int32)
        return ids, np.full(len(ids), IGNORE_INDEX, np.int32)
