"""`gpu_check.py --final`: the closing measurement of the issue's GPU targets in one run.

  fp32_parity       our fp32 forward vs transformers on the GPU, TF32 off on both sides
  forward           full RemBERT bf16 forward at (64,128) and (16,512), dense batches: transformers
                    eager, torch.compile, and ours under each XLA option set of OPTION_SETS
  train             train step at (64,128), sequence classification, bf16 compute / fp32 master
                    weights, AdamW, remat "dots": transformers + fused AdamW + autocast, then ours
                    under each option set; memory from XLA's analysis of each compiled program
  train_candidates  the (64,128) step with the code variants under review (CANDIDATES)
  train_long        the same at (16,512), library options only
  issue16_forward   issue 16's forward rows: torch.compile bf16 vs ours bf16 / fused kernels / FP8
  issue16_train     issue 16's train row: fused AdamW vs ours bf16 / fused kernels / FP8, with MFU
                    (both in _gpu_issue16.py)
  mixed_length      bench_mixed_length (2048 sequences, lengths 16-512): our bucketed and our packed
                    batches vs transformers' padded batches, useful tokens/s

"library" is what our entry points use (`rembert_jax.compiler_options`: INFERENCE_OPTIONS for the
forward, TRAINING_OPTIONS for the train step); the other sets say what a different choice would
give on this GPU. `--sections` picks sections, `--train-option-sets` the train step's sets.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile

from rembert_jax.benchmarks import _common as C
from rembert_jax.benchmarks._gpu_issue16 import issue16_forward, issue16_train
from rembert_jax.benchmarks._gpu_report import (
    RESULTS,
    emit,
    free_torch_memory,
    full_config,
    shapes,
    torch_train_first,
)

OPTION_SETS = {  # each on top of the library's set for the measured program (inference or training)
    "library": {},
    "triton_on": {"xla_gpu_enable_triton_gemm": True},
    "triton_off": {"xla_gpu_enable_triton_gemm": False},
    "library+dynamic_slice_fusion": {"xla_gpu_enable_dynamic_slice_fusion": True},
    "library+cudnn_layer_norm": {"xla_gpu_enable_cudnn_layer_norm": True},
}


def final_forward(args) -> dict:
    import jax
    import jax.numpy as jnp

    from rembert_jax import init_params
    from rembert_jax.benchmarks import bench_forward as F

    config = full_config(args)
    iters = 3 if args.smoke else 20
    batches = {name: C.random_batch(config, *shapes(args, name), seed=11) for name in ("short", "long")}
    out: dict = {"layers": config.num_hidden_layers, "dtype": "bf16 weights and compute on both sides",
                 "batches": "dense (no padding)"}
    model = C.hf_model(config, "base")
    for batch in batches.values():
        key = "x".join(map(str, batch["input_ids"].shape))
        out[key] = {"torch_eager": F.measure_torch(model, batch, "bf16", iters=iters, warmup=2)[0]}
        emit("forward_partial", out)
    for batch in batches.values():
        key = "x".join(map(str, batch["input_ids"].shape))
        try:
            out[key]["torch_compile"] = F.measure_torch(model, batch, "bf16", iters=iters, warmup=2,
                                                        compile_model=True)[0]
        except Exception as e:
            out[key]["torch_compile"] = {"error": f"{type(e).__name__}: {e}"[:800]}
        emit("forward_partial", out)
    del model
    free_torch_memory()
    params = jax.jit(lambda k: init_params(config, k, dtype=jnp.bfloat16))(jax.random.key(0))
    for batch in batches.values():
        key = "x".join(map(str, batch["input_ids"].shape))
        row = out[key]
        for set_name, options in ((k, v) for k, v in OPTION_SETS.items() if k != "triton_off"):
            try:
                result, _ = F.measure_ours(config, params, batch, "bf16", iters=iters, warmup=2,
                                           compiler_options=options)
                row[f"ours_{set_name}"] = {k: result[k] for k in ("tokens_per_s", "step_s", "compile_s",
                                                                    "program_bytes")}
            except Exception as e:
                row[f"ours_{set_name}"] = {"error": f"{type(e).__name__}: {e}"[:800]}
            emit("forward_partial", out)
        ours = row["ours_library"].get("tokens_per_s")
        if ours:
            row["speedup_vs_eager"] = C.ratio(ours, row["torch_eager"]["tokens_per_s"])
            if "tokens_per_s" in row["torch_compile"]:
                row["speedup_vs_compile"] = C.ratio(ours, row["torch_compile"]["tokens_per_s"])
    RESULTS.pop("forward_partial", None)
    return out


def _train_compare(args, shape_name: str, option_sets: dict, patches: dict | None = None) -> dict:
    """Torch first, then ours per option set; `patches` {name: context factory} adds variants of
    the library code (each measured with the library options)."""
    import jax

    from rembert_jax.benchmarks import bench_train_step as T
    from rembert_jax.heads import TaskModel

    config = full_config(args)
    batch_size, length = shapes(args, shape_name)
    batch = C.random_batch(config, batch_size, length, seed=7, labels=True)
    iters = 3 if args.smoke else 10
    out: dict = {"shape": [batch_size, length], "layers": config.num_hidden_layers, "remat": "dots",
                 "dtype": "bf16 compute, fp32 master weights, AdamW"}
    out["torch_fused_adamw_autocast"] = torch_train_first(C.hf_model(config, "sequence_classification"), batch,
                                                          iters)
    emit(f"train_{shape_name}_partial", out)
    theirs = out["torch_fused_adamw_autocast"]
    runs = {name: (options, contextlib.nullcontext) for name, options in option_sets.items()}
    runs.update({name: ({}, patch) for name, patch in (patches or {}).items()})
    for set_name, (options, patch) in runs.items():
        params = jax.jit(TaskModel(config, "sequence_classification").init)(jax.random.key(0))
        try:
            with patch():
                ours = T.measure_ours(config, params, batch, "bf16", iters=iters, warmup=1, remat="dots",
                                      compiler_options=options)
            row = {k: ours[k] for k in ("tokens_per_s", "step_s", "compile_s", "program_bytes", "cudnn_calls",
                                        "first_loss", "last_loss")}
            if "tokens_per_s" in theirs:
                row["speedup"] = C.ratio(ours["tokens_per_s"], theirs["tokens_per_s"])
                row["memory_ratio_program"] = C.ratio(ours["program_bytes"] or 0, theirs["peak_bytes"])
            out[f"ours_{set_name}"] = row
        except Exception as e:
            out[f"ours_{set_name}"] = {"error": f"{type(e).__name__}: {e}"[:800]}
        del params
        gc.collect()
        emit(f"train_{shape_name}_partial", out)
    out["process_peak_bytes_ours"] = C.jax_gpu_peak_bytes()
    RESULTS.pop(f"train_{shape_name}_partial", None)
    return out


def final_train(args) -> dict:
    return _train_compare(args, "short", {k: OPTION_SETS[k] for k in args.train_option_sets.split(",")})


def final_train_candidates(args) -> dict:
    """Code variants under review (CANDIDATES), against the library as it is, at (64,128)."""
    return _train_compare(args, "short", {"library": {}}, CANDIDATES)


# name -> context manager factory patching the library for one measurement (_gpu_variants.patched).
# Empty now: casting the dense weights before the layer scan won (+1.4%) and is in the encoder.
CANDIDATES: dict = {}


def final_train_long(args) -> dict:
    return _train_compare(args, "long", {"library": {}})


def final_mixed_length(args) -> dict:
    from rembert_jax.benchmarks import bench_mixed_length as M

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mixed.json")
        argv = ["--out", path] + (["--examples", "16", "--layers", "2"] if args.smoke else ["--examples", "2048"])
        M.main(argv)
        with open(path) as f:
            data = json.load(f)
    data.pop("environment", None)
    return data


SECTIONS = ("fp32_parity", "forward", "train", "train_candidates", "train_long", "mixed_length",
            "issue16_forward", "issue16_train")


def final_main(args, section, fp32_parity) -> None:
    """The sections named in `args.sections` (comma list; default all of SECTIONS), in order."""
    wanted = args.sections.split(",") if args.sections else SECTIONS
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    functions = {"fp32_parity": (fp32_parity, 10), "forward": (final_forward, 90), "train": (final_train, 60),
                 "train_candidates": (final_train_candidates, 45),
                 "train_long": (final_train_long, 30), "mixed_length": (final_mixed_length, 40),
                 "issue16_forward": (issue16_forward, 120), "issue16_train": (issue16_train, 120)}
    for name in SECTIONS:
        if name in wanted:
            fn, needs_s = functions[name]
            section(name, fn, args, needs_s=needs_s)
