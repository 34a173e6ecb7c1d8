"""Cross-check our Keras `tf_model.h5` I/O against transformers 4.x's TensorFlow RemBERT classes.

transformers 5 (the main venv) has no TF classes, so this script drives a second virtual
environment with transformers 4.x + TensorFlow through a subprocess. It is a verification script,
not part of the pytest suite (CI has no transformers 4). Both directions, for the bare encoder and
all six heads, on the tiny config with random weights (every leaf perturbed, so biases and
LayerNorm parameters are non-trivial):

  ours -> TF   `TaskModel(config, task).init` (`init_params` for "base") -> `save_keras(dir, ...)`
               -> `transformers.TFRemBert*.from_pretrained(dir, output_loading_info=True)`:
               missing / unexpected / mismatched weights, and outputs vs. our JAX outputs.
  TF -> ours   random `TFRemBert*` -> `save_pretrained` (single-file h5, plus the sharded h5 and
               TF-safetensors variants) -> `rembert_jax.convert.load_keras(dir, task="auto")` and
               `rembert_jax.TFRemBert*.from_pretrained(dir)`: loading info, outputs vs. TF's.

Inputs are padded (attention_mask has zeros) but no query row is fully masked: there TF's -10000
mask constant and our finfo.min legitimately differ (spec §2.4). Prints one JSON summary.

Build the transformers 4 environment once (PyPI only; no hub downloads are made):

    python3 -m venv /work/venv-tf4
    /work/venv-tf4/bin/pip install "transformers==4.46.3" "tensorflow-cpu==2.18.*" "tf-keras==2.18.*" \\
        h5py numpy safetensors

(tf-keras must match TensorFlow's minor version: transformers 4.x's TF classes need Keras 2.)
Run from the main environment:

    /work/venv/bin/python benchmarks/check_tf_h5_transformers4.py [--tf-python /work/venv-tf4/bin/python]

Exit status 0 when every load is clean and every max abs diff is <= --atol.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TASKS = ("base", "masked_lm", "causal_lm", "sequence_classification", "multiple_choice",
         "token_classification", "question_answering")
TF_CLASSES = {
    "base": "TFRemBertModel",
    "masked_lm": "TFRemBertForMaskedLM",
    "causal_lm": "TFRemBertForCausalLM",
    "sequence_classification": "TFRemBertForSequenceClassification",
    "multiple_choice": "TFRemBertForMultipleChoice",
    "token_classification": "TFRemBertForTokenClassification",
    "question_answering": "TFRemBertForQuestionAnswering",
}
OUTPUT_KEYS = {"base": ("last_hidden_state", "pooler_output"), "question_answering": ("start_logits", "end_logits")}
TF_VARIANTS = ("h5", "sharded_h5", "safetensors")  # the layouts transformers 4.x save_pretrained writes
B, C, S = 2, 3, 7


def _output_keys(task: str) -> tuple[str, ...]:
    return OUTPUT_KEYS.get(task, ("logits",))


def _inputs(task: str, vocab_size: int, type_vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    """Padded inputs; position 0 is always attended, so no query row is fully masked (also causally)."""
    rng = np.random.default_rng(seed)
    lead = (B, C) if task == "multiple_choice" else (B,)
    mask = (rng.random((*lead, S)) > 0.3).astype(np.int32)
    mask[..., 0] = 1
    mask[0, ..., -2:] = 0  # right padding in the first example
    return {"input_ids": rng.integers(1, vocab_size, (*lead, S)).astype(np.int32),
            "attention_mask": mask,
            "token_type_ids": rng.integers(0, min(type_vocab_size, 2), (*lead, S)).astype(np.int32)}


def _task_config(config, task):
    if task == "causal_lm":
        return config.replace(is_decoder=True)
    if task in ("sequence_classification", "token_classification"):
        return config.replace(num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    return config


# ------------------------------------------------------------------------- main environment (JAX)


def _perturb(params, seed: int):
    """Every leaf moved by N(0, 0.05): non-zero biases, LayerNorm scales away from 1."""
    import jax

    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    moved = [np.asarray(x, np.float32) + rng.normal(0, 0.05, np.shape(x)).astype(np.float32) for x in leaves]
    return jax.tree_util.tree_unflatten(tree, moved)


def _our_outputs(config, task, params, inputs) -> dict[str, np.ndarray]:
    import rembert_jax
    from rembert_jax.heads import TaskModel

    if task == "base":
        out = rembert_jax.apply(params, inputs, config=config)
    else:
        out = TaskModel(config, task).apply(params, inputs)
    return {k: np.asarray(out[k], np.float32) for k in _output_keys(task)}


def _adapter_outputs(directory: str, task: str, inputs) -> dict[str, np.ndarray]:
    import rembert_jax

    model = getattr(rembert_jax, TF_CLASSES[task]).from_pretrained(directory)
    extra = {"use_cache": False} if task in ("base", "causal_lm") else {}
    out = model(**inputs, **extra)
    return {k: np.asarray(out[k], np.float32) for k in _output_keys(task)}


def _max_diff(a: dict, b: dict) -> float:
    for k in a:
        if np.shape(a[k]) != np.shape(b[k]):
            raise ValueError(f"{k}: shape {np.shape(a[k])} vs {np.shape(b[k])}")
    return max(float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)))) for k in a)


def _write_ours(root: str, base_config) -> dict[str, dict]:
    """Random models of ours -> tf_model.h5 + our outputs (npz) per task."""
    import jax

    import rembert_jax
    from rembert_jax.convert import save_keras
    from rembert_jax.heads import TaskModel

    written = {}
    for i, task in enumerate(TASKS):
        config = _task_config(base_config, task)
        rng = jax.random.PRNGKey(100 + i)
        params = (rembert_jax.init_params(config, rng) if task == "base"
                  else TaskModel(config, task).init(rng))
        params = _perturb(params, 200 + i)
        directory = os.path.join(root, "ours", task)
        save_keras(directory, config, params, task=task)
        inputs = _inputs(task, config.vocab_size, config.type_vocab_size, seed=i)
        np.savez(os.path.join(directory, "check.npz"), **inputs,
                 **{f"out_{k}": v for k, v in _our_outputs(config, task, params, inputs).items()})
        written[task] = {"dir": directory}
    return written


def _read_theirs(root: str) -> dict[str, dict]:
    """transformers 4's save_pretrained directories -> load_keras / TF adapters -> compare."""
    from rembert_jax.convert import detect_task, load_keras

    results = {}
    for task in TASKS:
        for variant in TF_VARIANTS:
            directory = os.path.join(root, "theirs", task, variant)
            data = np.load(os.path.join(root, "theirs", task, "check.npz"))
            inputs = {k: data[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
            expected = {k: data[f"out_{k}"] for k in _output_keys(task)}
            config, params, info = load_keras(directory, task="auto", output_loading_info=True)
            detected = detect_task(config, [])
            row = {"files": sorted(f for f in os.listdir(directory) if f != "check.npz"),
                   "detected_task": detected,
                   "missing": list(info.missing_keys), "unexpected": list(info.unexpected_keys),
                   "mismatched": [list(map(str, m)) for m in info.mismatched_keys],
                   "unused": list(info.unused_keys), "newly_initialized": list(info.newly_initialized_keys)}
            if detected == task:
                row["max_abs_diff_load_keras"] = _max_diff(expected, _our_outputs(config, task, params, inputs))
            try:
                row["max_abs_diff_adapter"] = _max_diff(expected, _adapter_outputs(directory, task, inputs))
            except (ValueError, FileNotFoundError) as e:  # reported, not fatal: the other rows still count
                row["adapter_error"] = f"{type(e).__name__}: {e}"
            results[f"{task}/{variant}"] = row
    return results


def _run_worker(tf_python: str, mode: str, root: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([tf_python, os.path.abspath(__file__), "--worker", mode, "--root", root],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the transformers 4 worker ({mode}) failed:\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _passed(row: dict, atol: float) -> bool:
    clean = not any(row.get(k) for k in ("missing", "unexpected", "mismatched", "unused", "newly_initialized",
                                         "adapter_error"))
    diffs = [v for k, v in row.items() if k.startswith("max_abs_diff")]
    return clean and bool(diffs) and all(d <= atol for d in diffs)


def main_driver(args) -> int:
    from rembert_jax import RemBertConfig

    root = args.root or tempfile.mkdtemp(prefix="tf4-check-")
    base_config = RemBertConfig.from_preset("tiny")
    os.makedirs(root, exist_ok=True)
    base_config.save_pretrained(root)  # the worker builds transformers' config from this

    _write_ours(root, base_config)
    ours_to_tf = _run_worker(args.tf_python, "load_ours", root)
    versions = ours_to_tf.pop("_versions")
    _run_worker(args.tf_python, "write_theirs", root)
    tf_to_ours = _read_theirs(root)
    for task in TASKS:  # transformers' task from the architectures it wrote
        for variant in TF_VARIANTS:
            row = tf_to_ours[f"{task}/{variant}"]
            row["detected_task_ok"] = row["detected_task"] == task
    failures = [f"ours_to_transformers4/{k}" for k, r in ours_to_tf.items() if not _passed(r, args.atol)]
    failures += [f"transformers4_to_ours/{k}" for k, r in tf_to_ours.items()
                 if not (_passed(r, args.atol) and r["detected_task_ok"])]
    summary = {"versions": versions, "atol": args.atol, "workdir": root,
               "ours_to_transformers4": ours_to_tf, "transformers4_to_ours": tf_to_ours,
               "failures": failures, "all_passed": not failures}
    print(json.dumps(summary, indent=1))
    return 0 if not failures else 1


# -------------------------------------------------------------- worker (transformers 4 + TensorFlow)


def _tf_call(model, task, inputs):
    import tensorflow as tf

    extra = {"use_cache": False} if task in ("base", "causal_lm") else {}
    out = model({k: tf.constant(v) for k, v in inputs.items()}, training=False, **extra)
    return {k: out[k].numpy().astype(np.float32) for k in _output_keys(task)}


def _tf_config(root: str, task: str):
    from transformers import RemBertConfig

    config = RemBertConfig.from_pretrained(root)
    if task == "causal_lm":
        config.is_decoder = True
    if task in ("sequence_classification", "token_classification"):
        config.id2label, config.label2id = {0: "a", 1: "b", 2: "c"}, {"a": 0, "b": 1, "c": 2}
    return config


def worker_load_ours(root: str) -> dict:
    import tensorflow as tf
    import transformers

    results = {"_versions": {"transformers": transformers.__version__, "tensorflow": tf.__version__,
                             "tf_keras": __import__("tf_keras").__version__}}
    for task in TASKS:
        tf.keras.backend.clear_session()  # fresh Keras layer-name counters, as in a new process
        directory = os.path.join(root, "ours", task)
        data = np.load(os.path.join(directory, "check.npz"))
        inputs = {k: data[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        cls = getattr(transformers, TF_CLASSES[task])
        model, info = cls.from_pretrained(directory, output_loading_info=True)
        got = _tf_call(model, task, inputs)
        results[task] = {
            "class": type(model).__name__, "config_is_decoder": bool(model.config.is_decoder),
            "num_labels": model.config.num_labels,
            "missing": sorted(info["missing_keys"]), "unexpected": sorted(info["unexpected_keys"]),
            "mismatched": [list(map(str, m)) for m in info["mismatched_keys"]],
            "max_abs_diff": _max_diff({k: data[f"out_{k}"] for k in got}, got),
        }
    return results


def worker_write_theirs(root: str) -> dict:
    import tensorflow as tf
    import transformers

    for i, task in enumerate(TASKS):
        tf.keras.backend.clear_session()
        config = _tf_config(root, task)
        model = getattr(transformers, TF_CLASSES[task])(config)
        model(model.dummy_inputs, training=False)  # build the variables
        rng = np.random.default_rng(300 + i)
        for weight in model.weights:
            weight.assign(weight.numpy() + rng.normal(0, 0.05, weight.shape).astype(np.float32))
        directory = os.path.join(root, "theirs", task)
        model.save_pretrained(os.path.join(directory, "h5"))
        model.save_pretrained(os.path.join(directory, "sharded_h5"), max_shard_size="40KB")
        model.save_pretrained(os.path.join(directory, "safetensors"), safe_serialization=True)
        inputs = _inputs(task, config.vocab_size, config.type_vocab_size, seed=50 + i)
        np.savez(os.path.join(directory, "check.npz"), **inputs,
                 **{f"out_{k}": v for k, v in _tf_call(model, task, inputs).items()})
    return {"written": list(TASKS)}


WORKERS = {"load_ours": worker_load_ours, "write_theirs": worker_write_theirs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-python", default="/work/venv-tf4/bin/python",
                        help="python of the transformers 4.x + TensorFlow environment")
    parser.add_argument("--root", default=None, help="working directory (default: a new temporary one)")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest max abs diff counted as agreement")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.root)))
        return 0
    return main_driver(args)


if __name__ == "__main__":
    sys.exit(main())
