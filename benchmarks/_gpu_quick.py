"""`gpu_check.py --quick`: the final verification when little device time is left (~2 minutes).

  quick_attention   bf16 encoder.apply "auto" vs "xla", right and left padding, forward + gradient,
                    and whether "auto" compiled to the fused cuDNN kernel
  quick_forward     full-size 32-layer bf16 forward at (64,128): ours vs transformers eager bf16
  quick_train       full-size train step at (64,128), remat="dots", bf16 compute / fp32 master
                    weights, AdamW: ours vs transformers + fused AdamW + autocast
"""

from __future__ import annotations

import gc
import time

import numpy as np

from rembert_jax.benchmarks import _common as C
from rembert_jax.benchmarks._gpu_report import (
    RESULTS,
    check_env,
    emit,
    full_config,
    section,
    shapes,
    small_config,
    torch_train_first,
)


def _uses_cudnn(compiled) -> int:
    """How many fused cuDNN attention calls the optimised HLO holds (0: it ran on XLA)."""
    return compiled.as_text().count("__cudnn$fmha")


def quick_attention(args) -> dict:
    """bf16 "auto" (cuDNN on a GPU) vs "xla" through the real encoder, forward and gradient, for
    right padding (key-lengths branch) and left padding (broadcast-mask branch)."""
    import jax
    import jax.numpy as jnp

    from rembert_jax import DTypePolicy, init_params
    from rembert_jax.encoder import apply

    config = small_config(args)
    policy = DTypePolicy(param_dtype=jnp.bfloat16, compute_dtype=jnp.bfloat16)
    params = jax.jit(lambda k: init_params(config, k, dtype=jnp.bfloat16))(jax.random.key(0))
    right = C.random_batch(config, 4, 128, seed=5, lengths=np.array([128, 100, 64, 8]))
    left = {k: v[:, ::-1].copy() for k, v in right.items()}  # the same rows, padded on the left
    out: dict = {"config": "2 layers, H=256, 4 heads of 64, bf16, batch 4x128 with padding"}

    def loss(params, batch, impl):
        h = apply(params, batch, config=config, policy=policy, attention_impl=impl, validate=False)
        keep = batch["attention_mask"][..., None].astype(jnp.float32)  # real tokens only
        return jnp.sum(jnp.square(h["last_hidden_state"].astype(jnp.float32)) * keep)

    def forward(params, batch, impl):
        return apply(params, batch, config=config, policy=policy, attention_impl=impl,
                     validate=False)["last_hidden_state"]

    compiled = {}  # one executable per impl serves both batches (same shapes; the padding side is data)
    for impl in ("auto", "xla"):
        compiled[impl] = (jax.jit(forward, static_argnums=2).lower(params, right, impl).compile(),
                          jax.jit(jax.grad(loss), static_argnums=2).lower(params, right, impl).compile())
    out["auto_cudnn_calls"] = {"forward": _uses_cudnn(compiled["auto"][0]), "gradient": _uses_cudnn(compiled["auto"][1])}
    for name, batch in (("right_padded", right), ("left_padded", left)):
        keep = batch["attention_mask"].astype(bool)
        got = {}
        for impl, (fwd, grad) in compiled.items():
            h = np.asarray(fwd(params, batch).astype(jnp.float32))
            g = np.concatenate([np.ravel(np.asarray(x, np.float32)) for x in jax.tree_util.tree_leaves(grad(params, batch))])
            got[impl] = (h[keep], g)
        (h_auto, g_auto), (h_xla, g_xla) = got["auto"], got["xla"]
        out[f"{name}_forward_max_abs_diff"] = float(np.max(np.abs(h_auto - h_xla)))
        out[f"{name}_forward_max_abs"] = float(np.max(np.abs(h_xla)))
        out[f"{name}_gradient_rel_l2_diff"] = float(np.linalg.norm(g_auto - g_xla) / max(np.linalg.norm(g_xla), 1e-30))
    out["auto_used_cudnn"] = out["auto_cudnn_calls"]["forward"] > 0 and out["auto_cudnn_calls"]["gradient"] > 0
    return out


def quick_forward(args) -> dict:
    """Full-size bf16 forward at (64,128), right-padded: ours ("auto") vs transformers eager bf16."""
    import jax
    import jax.numpy as jnp
    import torch

    from rembert_jax import init_params
    from rembert_jax.benchmarks import bench_forward as F

    config = full_config(args)
    batch_size, length = shapes(args, "short")
    batch = C.random_batch(config, batch_size, length, seed=11,
                           lengths=np.linspace(length // 2, length, batch_size).astype(int))
    iters = 3 if args.smoke else 10
    out: dict = {"shape": [batch_size, length], "layers": config.num_hidden_layers,
                 "padding": "right, lengths spread over [S/2, S]"}
    theirs, _ = F.measure_torch(C.hf_model(config, "base"), batch, "bf16", iters=iters, warmup=2)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    out["torch_eager_bf16"] = theirs
    emit("quick_forward_partial", out)
    params = jax.jit(lambda k: init_params(config, k, dtype=jnp.bfloat16))(jax.random.key(0))
    forward, _ = F.our_forward(config, "bf16", "auto")
    device_batch = jax.device_put(batch)
    start = time.perf_counter()
    compiled = forward.lower(params, device_batch).compile()
    compile_s = time.perf_counter() - start
    timing = C.time_calls(lambda: compiled(params, device_batch), C.jax_sync, iters=iters, warmup=2)
    tokens = batch["input_ids"].size
    out["ours"] = {"tokens_per_s": tokens / timing["step_s"], "step_s": timing["step_s"], "compile_s": compile_s,
                   "cudnn_calls": _uses_cudnn(compiled), "program_bytes": C.jax_compiled_bytes(compiled)}
    out["speedup_vs_eager"] = C.ratio(out["ours"]["tokens_per_s"], theirs["tokens_per_s"])
    RESULTS.pop("quick_forward_partial", None)
    return out


def quick_train(args) -> dict:
    """Full-size train step at (64,128), remat="dots": ours vs torch fused AdamW + autocast."""
    import jax

    from rembert_jax.benchmarks import bench_train_step as T
    from rembert_jax.heads import TaskModel

    config = full_config(args)
    batch_size, length = shapes(args, "short")
    batch = C.random_batch(config, batch_size, length, seed=7, labels=True,
                           lengths=np.linspace(length // 2, length, batch_size).astype(int))
    iters = 3 if args.smoke else 8
    out: dict = {"shape": [batch_size, length], "layers": config.num_hidden_layers, "remat": "dots",
                 "dtype": "bf16 compute, fp32 master weights, AdamW"}
    out["torch_fused_adamw_autocast"] = torch_train_first(C.hf_model(config, "sequence_classification"), batch,
                                                          iters)
    emit("quick_train_partial", out)
    params = jax.jit(TaskModel(config, "sequence_classification").init)(jax.random.key(0))
    ours = T.measure_ours(config, params, batch, "bf16", iters=iters, warmup=1, remat="dots")
    del params
    out["ours"] = ours
    theirs = out["torch_fused_adamw_autocast"]
    if "tokens_per_s" in theirs:
        out["speedup"] = C.ratio(ours["tokens_per_s"], theirs["tokens_per_s"])
        out["peak_memory_ratio_program"] = C.ratio(ours["program_bytes"] or 0, theirs["peak_bytes"])
        if ours["peak_bytes"]:
            out["peak_memory_ratio_process"] = C.ratio(ours["peak_bytes"], theirs["peak_bytes"])
    RESULTS.pop("quick_train_partial", None)
    return out


def quick_main(args) -> int:
    """The three final checks in ~2 minutes; past the budget the remaining ones are skipped."""
    section("env", check_env, args, needs_s=0)
    section("quick_attention", quick_attention, args, needs_s=5)
    section("quick_forward", quick_forward, args, needs_s=25)
    section("quick_train", quick_train, args, needs_s=40)
    emit("done", True)
    return 0
