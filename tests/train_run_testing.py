"""Tiny whole training runs shared by tests/test_train_run.py and tests/test_train_signals.py: a slice
of the demo data, a run config, the training command in its own process, and what a run wrote."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from rembert_jax.train.data.files import DEMO_DIR

LANGUAGES = ("en", "ru", "zh")


def write_data(directory) -> None:
    rows = [r for r in read_jsonl(DEMO_DIR / "train.jsonl") if r["label"] in LANGUAGES]
    for name, part in (("train.jsonl", rows[:36]), ("dev.jsonl", rows[36:48])):
        with open(directory / name, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def config_text(data_dir, output_dir, **sections) -> str:
    base = {
        "task": "sequence_classification",
        "output_dir": str(output_dir),
        "model": {"config": "tiny", "overrides": {
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "input_embedding_size": 16,
            "output_embedding_size": 16, "intermediate_size": 37, "max_position_embeddings": 32,
            "hidden_dropout_prob": 0.1}},  # dropout on: the resumed run must draw the same masks
        "data": {"train": str(data_dir / "train.jsonl"), "eval": str(data_dir / "dev.jsonl"),
                 "labels": list(LANGUAGES), "tokenizer": "demo:", "max_length": 32, "buckets": [16, 32]},
        "optim": {"learning_rate": 3e-3, "warmup_steps": 2},
        "train": {"steps": 12, "batch_size": 4, "log_every": 1, "eval_every": 6, "progress_bar": False},
        "checkpoint": {"every": 3, "keep": 2, "best_metric": "accuracy"},
        "export": {"formats": ["pytorch"]},
    }
    for key, value in sections.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    return json.dumps(base)  # JSON is YAML


def records(output_dir) -> list[dict]:
    from rembert_jax.train.run_log import read_records

    return [{k: v for k, v in r.items() if k != "examples_per_second"}
            for r in read_records(os.path.join(output_dir, "metrics.jsonl"))]


def weights(output_dir) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(os.path.join(output_dir, "export", "model.safetensors"))


# One persistent compilation cache for every training process of the test session: the first run
# compiles, the others load the same executables (results stay bitwise equal; compiling is ~70% of a
# tiny run's CPU time).
_COMPILE_CACHE = {
    "JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(prefix="rembert-jax-test-compile-cache-"),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}
atexit.register(shutil.rmtree, _COMPILE_CACHE["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a training process: this one's, the shared compilation cache, `extra`."""
    return {**os.environ, **_COMPILE_CACHE, **extra}


def train_process(config, *args, prelude: str = "", env: dict | None = None,
                  timeout: float = 300):
    script = f"{prelude}\nimport sys\nfrom rembert_jax.cli import main\nsys.exit(main({['train', str(config), *args]!r}))"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                          env=process_env(**(env or {})))
