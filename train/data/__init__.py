"""The training data pipeline, a room of its own: files or `datasets` -> tokenised task features ->
fixed-shape numpy batches (no jax here; everything runs on the host before any jit). How to use it:
the docstring of `pipeline`.

Modules, in the order data flows:
    spec             `DataSpec`, the `data:` section of a run config
    files, hf        local files (JSONL / JSON / CSV / TSV / parquet) and Hugging Face `datasets` sources
    task_features    records -> tokenised features, one function per task; qa: question answering's windows
    pipeline         `load_tokenizer`, `load_task_dataset` -> `TaskDataset`
    batching         `BatchIterator` (length buckets, exact resume); packed_batching: several examples a row
    masking          dynamic masked-LM masking, deterministic per (seed, epoch, example)
The run's use of it (splits, evaluation passes) is `rembert_jax.train.run_data`.
"""

from __future__ import annotations

from .pipeline import (
    DEMO_DIR,
    BatchIterator,
    DataSpec,
    TaskDataset,
    TokenIds,
    load_task_dataset,
    load_tokenizer,
    model_inputs,
    read_records,
)

__all__ = ["DEMO_DIR", "BatchIterator", "DataSpec", "TaskDataset", "TokenIds", "load_task_dataset",
           "load_tokenizer", "model_inputs", "read_records"]
