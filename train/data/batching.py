"""Fixed-shape batches from a `TaskDataset`: length buckets, padded last batch, exact resume.

`BatchIterator(dataset, batch_size, buckets=..., shuffle=..., seed=...)` yields dicts of numpy arrays:
    input_ids, attention_mask, token_type_ids   [B, S]   (multiple choice: [B, C, S])
    labels                                      [B] (class id; float32 for regression) or [B, S]
                                                (token classification, masked/causal LM)
    start_positions, end_positions              [B]   (question answering, when the data has answers)
    weight                                      [B] float32: 1 for a real example, 0 for padding rows
    index                                       [B] int32: the feature's index in the dataset, -1 for padding
S is the smallest bucket length that holds the batch's longest sequence, so a jitted step compiles
once per bucket, never per length. B is always `batch_size`: the last batch of an epoch is filled with
padding rows ([CLS] [SEP], weight 0, targets that transformers' losses ignore: -100, or S for QA
positions; regression, whose MSE ignores nothing, repeats real rows instead, still with weight 0).
`weight` and `index` are bookkeeping, not model inputs (`model_inputs(batch)` drops them).

Order: epoch e visits the examples in `np.random.default_rng((seed, e)).permutation(N)` (or in file
order when shuffle=False). With `group_by_length`, each window of 64 batches is sorted by length
before it is cut into batches (less padding), and the batch order is shuffled again. Nothing else
is random, so the position (epoch, batches already yielded) is the whole iterator state:
`state_dict()` / `load_state_dict()` save and restore it exactly; masked-LM masking is a pure function
of (seed, epoch, example index), so a resumed run sees the same batches bit for bit.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

import numpy as np

from rembert_jax.tasks import get_task

from .masking import mask_tokens
from .task_features import IGNORE_INDEX

BOOKKEEPING_KEYS = ("weight", "index")
_LENGTH_WINDOW = 64  # batches per sorted window when grouping by length


def model_inputs(batch: dict) -> dict:
    """The batch without the bookkeeping keys (`weight`, `index`)."""
    return {k: v for k, v in batch.items() if k not in BOOKKEEPING_KEYS}


class BatchIterator:
    """Deterministic, resumable iterator of fixed-size, bucket-padded batches over a `TaskDataset`.

    repeat: loop over epochs forever (default: True when shuffling, i.e. for training); otherwise one
    pass over the current epoch from the current position (evaluation: `shuffle=False`).
    """

    def __init__(self, dataset, batch_size: int, *, buckets: Sequence[int] | None = None, shuffle: bool = False,
                 seed: int = 0, repeat: bool | None = None, group_by_length: bool = False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size is {batch_size!r}; allowed: an integer >= 1")
        self.dataset = dataset
        self.batch_size = batch_size
        self.buckets = tuple(buckets) if buckets is not None else tuple(dataset.buckets)
        longest = int(dataset.lengths.max())
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)) or self.buckets[-1] < longest:
            raise ValueError(
                f"buckets {list(self.buckets)} must be strictly increasing and reach the longest sequence "
                f"of {dataset.source} ({longest} tokens)"
            )
        self.shuffle = shuffle
        self.seed = int(seed)
        self.repeat = shuffle if repeat is None else repeat
        self.group_by_length = group_by_length
        self.epoch = 0
        self.position = 0  # batches of the current epoch already yielded

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.dataset) // self.batch_size)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "num_examples": len(self.dataset), "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        for key, mine in (("num_examples", len(self.dataset)), ("batch_size", self.batch_size)):
            if int(state[key]) != mine:
                raise ValueError(
                    f"cannot resume the data position: the checkpoint's {key} is {state[key]} but this "
                    f"run's is {mine}; resume with the same data files and batch size"
                )
        if not 0 <= int(state["position"]) <= len(self):
            raise ValueError(f"data position {state['position']} is outside the epoch's {len(self)} batches")
        self.epoch, self.position, self.seed = int(state["epoch"]), int(state["position"]), int(state["seed"])

    def state_after(self, num_batches: int) -> dict:
        """The state after `num_batches` batches from the start (e.g. steps * accumulation), for prefetching loops."""
        return {**self.state_dict(), "epoch": num_batches // len(self), "position": num_batches % len(self)}

    def __iter__(self) -> Iterator[dict]:
        while True:
            batches = self.epoch_batches(self.epoch)
            while self.position < len(batches):
                indices = batches[self.position]
                batch = self.collate(indices)
                self.position += 1
                yield batch
            if not self.repeat:
                return
            self.epoch, self.position = self.epoch + 1, 0

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The feature indices of every batch of `epoch` (the last one may be short)."""
        n = len(self.dataset)
        rng = np.random.default_rng((self.seed, epoch))
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if not self.group_by_length:
            return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        window = _LENGTH_WINDOW * self.batch_size
        batches = []
        for start in range(0, n, window):
            chunk = order[start:start + window]
            chunk = chunk[np.argsort(self.dataset.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def bucket_for(self, length: int) -> int:
        return self.buckets[bisect.bisect_left(self.buckets, length)]

    def collate(self, indices: np.ndarray) -> dict:
        """One batch (see the module docstring) from up to `batch_size` feature indices."""
        data = self.dataset
        features = [data.features[int(i)] for i in indices]
        seq_len = self.bucket_for(int(data.lengths[indices].max()))
        num_rows, padding_rows = self.batch_size, self.batch_size - len(indices)
        batch = {
            "weight": np.array([1.0] * len(indices) + [0.0] * padding_rows, np.float32),
            "index": np.array(list(indices) + [-1] * padding_rows, np.int32),
        }
        kind = get_task(data.task).labels
        if get_task(data.task).choices:
            batch.update(self._collate_choices(features, seq_len, num_rows))
            return batch
        if kind == "classes" and data.regression and "labels" in features[0]:
            # MSE has no ignore index: padding rows repeat real rows (weight 0) instead of made-up targets.
            features = features + [features[i % len(features)] for i in range(padding_rows)]
        ids = np.full((num_rows, seq_len), data.token_ids.pad, np.int32)  # [B, S]
        types = np.zeros((num_rows, seq_len), np.int32)  # [B, S]
        mask = np.zeros((num_rows, seq_len), np.int32)  # [B, S]
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            ids[row, :n], types[row, :n], mask[row, :n] = feature["input_ids"], feature["token_type_ids"], 1
        fill_padding_rows(ids, mask, data.token_ids, first=len(features))
        batch.update(input_ids=ids, attention_mask=mask, token_type_ids=types)
        batch.update(self._targets(features, indices, ids, mask, num_rows, seq_len))
        return batch

    def _targets(self, features, indices, ids, mask, num_rows: int, seq_len: int) -> dict:
        data = self.dataset
        spec = get_task(data.task)
        if spec.labels == "classes" and "labels" in features[0]:
            if data.regression:  # padding rows already repeat real rows (see collate)
                return {"labels": np.array([f["labels"] for f in features], np.float32)}
            return {"labels": np.array([f["labels"] for f in features] + [IGNORE_INDEX] * (num_rows - len(features)),
                                       np.int32)}
        if spec.labels == "token_classes" and "labels" in features[0]:
            labels = np.full((num_rows, seq_len), IGNORE_INDEX, np.int32)  # [B, S]
            for row, feature in enumerate(features):
                labels[row, :len(feature["labels"])] = feature["labels"]
            return {"labels": labels}
        if spec.labels == "span" and spec.label_keys[0] in features[0]:
            # Padding rows point past the sequence: transformers' QA loss ignores index S.
            pad = [seq_len] * (num_rows - len(features))
            return {key: np.array([f[key] for f in features] + pad, np.int32) for key in spec.label_keys}
        if spec.masks_inputs:
            labels = np.full((num_rows, seq_len), IGNORE_INDEX, np.int32)  # [B, S]
            for row, (feature, index) in enumerate(zip(features, indices, strict=True)):
                n = len(feature["input_ids"])
                ids[row, :n], labels[row, :n] = self.mask_example(feature["input_ids"], index)
            return {"labels": labels}
        if spec.language_model:  # causal LM
            labels = np.where(mask == 1, ids, IGNORE_INDEX).astype(np.int32)  # [B, S]; the model shifts
            labels[len(features):] = IGNORE_INDEX
            return {"labels": labels}
        return {}

    def mask_example(self, input_ids, index) -> tuple[np.ndarray, np.ndarray]:
        """(masked ids, labels) of one masked-LM example: a pure function of (seed, epoch, index)."""
        tokens = self.dataset.token_ids
        return mask_tokens(input_ids, seed=self.seed, epoch=self.epoch, example_index=int(index),
                           mask_token_id=tokens.mask, special_ids=tokens.special, vocab_size=tokens.vocab_size,
                           probability=self.dataset.mlm_probability)

    def _collate_choices(self, features, seq_len: int, num_rows: int) -> dict:
        data = self.dataset
        num_choices = len(features[0]["input_ids"])
        ids = np.full((num_rows, num_choices, seq_len), data.token_ids.pad, np.int32)  # [B, C, S]
        types = np.zeros((num_rows, num_choices, seq_len), np.int32)  # [B, C, S]
        mask = np.zeros((num_rows, num_choices, seq_len), np.int32)  # [B, C, S]
        for row, feature in enumerate(features):
            for c, (choice_ids, choice_types) in enumerate(zip(feature["input_ids"], feature["token_type_ids"],
                                                               strict=True)):
                ids[row, c, :len(choice_ids)], types[row, c, :len(choice_ids)] = choice_ids, choice_types
                mask[row, c, :len(choice_ids)] = 1
        for c in range(num_choices):
            fill_padding_rows(ids[:, c], mask[:, c], data.token_ids, first=len(features))
        out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        if "labels" in features[0]:
            out["labels"] = np.array([f["labels"] for f in features] + [IGNORE_INDEX] * (num_rows - len(features)),
                                     np.int32)
        return out


def fill_padding_rows(ids: np.ndarray, mask: np.ndarray, token_ids, *, first: int) -> None:
    """Rows from `first` on become "[CLS] [SEP]": a valid input (no all-masked attention row)."""
    ids[first:, :2] = (token_ids.cls, token_ids.sep)
    mask[first:, :2] = 1
