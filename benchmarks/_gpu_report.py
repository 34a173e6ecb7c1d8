"""What every GPU check shares: the clock, the JSON report (stdout and $OUT/gpu.json), budgeted
sections that record their error instead of stopping the run, and the model configs and shapes."""

from __future__ import annotations

import gc
import json
import os
import time
import traceback

from rembert_jax.benchmarks import _common as C

START = time.perf_counter()
RESULTS: dict = {"benchmark": "gpu_check"}
JSON_NAME = ["gpu.json"]  # file under $OUT; gpu_check --json-name changes it


def elapsed() -> float:
    return time.perf_counter() - START


def emit(key: str, value) -> None:
    RESULTS[key] = value
    RESULTS["elapsed_s"] = round(elapsed(), 1)
    print(json.dumps({key: value, "elapsed_s": RESULTS["elapsed_s"]}, default=C.jsonable), flush=True)
    out_dir = os.environ.get("OUT")
    if out_dir:
        with open(os.path.join(out_dir, JSON_NAME[0]), "w") as f:
            json.dump(RESULTS, f, indent=2, default=C.jsonable)


def section(name: str, fn, args, *, needs_s: float) -> None:
    """Run one check; record its result, its error, or why it was skipped."""
    left = args.budget_s - elapsed()
    if left < needs_s:
        emit(name, {"skipped": f"needs about {needs_s:.0f} s, {left:.0f} s of the budget left"})
        return
    start = time.perf_counter()
    try:
        value = fn(args)
    except Exception as e:  # one failed check must not lose the others
        value = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
    value["section_s"] = round(time.perf_counter() - start, 1)
    emit(name, value)
    free_torch_memory()


def free_torch_memory() -> None:
    """Collect garbage and hand torch's cached GPU memory back, so JAX can use it."""
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def torch_train_first(model, batch: dict, iters: int) -> dict:
    """transformers' train step (fused AdamW + autocast bf16), measured before ours: torch's
    caching allocator hands its memory back afterwards, JAX's pool never does. An OOM is recorded."""
    import torch

    from rembert_jax.benchmarks import bench_train_step as T

    try:
        result = T.measure_torch(model, batch, "bf16", iters=iters, warmup=1)
    except torch.OutOfMemoryError as e:
        result = {"error": f"OutOfMemoryError: {e}"[:600], "tokens_per_s": 0.0, "peak_bytes": 0}
    del model
    free_torch_memory()
    return result


# ------------------------------------------------------------------------------------ configs


def small_config(args):
    """A few layers at head size 64 (the cuDNN kernel's sweet spot, and RemBERT's)."""
    from rembert_jax import RemBertConfig

    return RemBertConfig.from_preset("rembert").replace(
        num_hidden_layers=2, hidden_size=256, num_attention_heads=4, intermediate_size=512,
        input_embedding_size=64, vocab_size=1000, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        classifier_dropout_prob=0.0)


def full_config(args):
    from rembert_jax import RemBertConfig

    config = RemBertConfig.from_preset("rembert").replace(
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    if args.smoke:  # the same code path on a model the CPU runs in seconds
        config = small_config(args).replace(num_hidden_layers=2)
    if args.layers:
        config = config.replace(num_hidden_layers=args.layers)
    return config


def shapes(args, name: str) -> tuple[int, int]:
    full = {"short": (64, 128), "long": (16, 512)}
    smoke = {"short": (4, 32), "long": (2, 64)}
    return (smoke if args.smoke else full)[name]


def check_env(args) -> dict:
    import jax

    env = C.environment()
    env["jax_devices"] = [str(d) for d in jax.devices()]
    env["jax_backend"] = jax.default_backend()
    env["smoke"] = args.smoke
    return env
