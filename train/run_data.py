"""The run's data, as the trainer sees it: the `data:` section turned into a tokenizer, a resumable
train iterator and an evaluation pass, all through the data pipeline (`rembert_jax.train.data`).

Everything here is checked and tokenised on the host when the run starts, before any jit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from .data import DataSpec, TaskDataset, load_task_dataset, load_tokenizer
from .data.batching import BatchIterator, model_inputs
from .data.packed_batching import PackedBatchIterator
from .eval_accumulator import EvalAccumulator
from .run_config import RunConfig


class TrainBatches:
    """Endless model-input batches of the train split; `position()` is exact (no prefetch), so the
    checkpoint's data position is that of the next batch the next step will see."""

    def __init__(self, iterator: BatchIterator):
        self._iterator = iterator
        self._batches: Iterator[dict] = iter(iterator)
        self.last_examples = 0  # examples in the batch `next` returned last (packed rows hold several)

    def __next__(self) -> dict:
        batch = next(self._batches)
        if "segment_ids" in batch:  # packed: the examples of the real rows
            self.last_examples = int(batch["segment_ids"].max(axis=1)[batch["weight"] > 0].sum())
        else:  # the real rows (a last short batch is filled with weight-0 padding rows)
            self.last_examples = int((batch["weight"] > 0).sum())
        return model_inputs(batch)

    def __iter__(self):
        return self

    def position(self) -> dict:
        return self._iterator.state_dict()


@dataclasses.dataclass
class RunData:
    spec: DataSpec
    tokenizer: object
    train: TaskDataset | None
    eval: TaskDataset | None
    test: TaskDataset | None
    batch_size: int
    eval_batch_size: int
    seed: int

    @property
    def has_eval(self) -> bool:
        return self.eval is not None

    @property
    def label_names(self) -> tuple[str, ...] | None:
        source = self.train or self.eval or self.test
        return None if source is None else source.label_names

    def train_iterator(self, position: dict | None = None) -> TrainBatches:
        if self.train is None:
            raise ValueError("data.train is not set: give the path of the training file in the run config")
        if self.spec.packing:  # several examples per row (per-token tasks only; it says why otherwise)
            iterator = PackedBatchIterator(self.train, self.batch_size, shuffle=True, seed=self.seed)
        else:
            iterator = BatchIterator(self.train, self.batch_size, shuffle=True, seed=self.seed, group_by_length=True)
        if position is not None:
            iterator.load_state_dict(position)
        return TrainBatches(iterator)

    def eval_batches(self, dataset: TaskDataset | None = None):
        """(full batch with bookkeeping, model inputs) over one pass of `dataset` (default: the eval split)."""
        dataset = dataset if dataset is not None else self.eval
        for batch in BatchIterator(dataset, self.eval_batch_size, shuffle=False, repeat=False):
            yield batch, model_inputs(batch)

    def evaluate(self, run: Callable[[dict], dict], dataset: TaskDataset | None = None) -> dict[str, float]:
        """The task's metrics of `run(model_inputs) -> numpy outputs` over the eval split."""
        return self.accumulate(run, dataset).metrics()

    def accumulate(self, run: Callable[[dict], dict], dataset: TaskDataset | None = None) -> EvalAccumulator:
        dataset = dataset if dataset is not None else self.eval
        accumulator = EvalAccumulator(dataset)
        for batch, inputs in self.eval_batches(dataset):
            accumulator.add(batch, run(inputs))
        return accumulator


def open_run_data(cfg: RunConfig, *, splits: tuple[str, ...] = ("train", "eval", "test"), tokenizer=None) -> RunData:
    """Read and tokenise the configured splits (those set in `data:`; `train` is required in `splits`)."""
    try:
        spec = DataSpec.from_mapping(cfg.data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"run config data section: {e}") from None
    if tokenizer is None:
        tokenizer = load_tokenizer(spec.tokenizer)
    loaded = {}
    for split in ("train", "eval", "test"):
        wanted = split in splits and (split == "train" or getattr(spec, split))
        loaded[split] = load_task_dataset(spec, tokenizer, split, task=cfg.task) if wanted else None
    return RunData(spec=spec, tokenizer=tokenizer, train=loaded["train"], eval=loaded["eval"], test=loaded["test"],
                   batch_size=cfg.train.batch_size, eval_batch_size=cfg.eval_batch_size, seed=cfg.train.seed)
