"""`gpu_check.py --final --sections issue16_forward,issue16_train`: every GPU row of issue 16.

  issue16_forward  full RemBERT forward at (64,128) and (16,512), dense batches: torch.compile bf16
                   (the target's reference), then ours: bf16 (library), bf16 with the fused kernels
                   ("pallas", "tokamax": rembert_jax.kernels) and FP8 GEMMs (policy "fp8"); each
                   row's ratio to torch.compile bf16 (FP8 rows are FP8 vs PyTorch bf16)
  issue16_train    the (64,128) train step (sequence classification, remat "dots", fp32 master
                   weights, AdamW): transformers + fused AdamW + autocast bf16 first, then ours bf16,
                   bf16 + fused kernels, and FP8; speedup and model FLOPs utilisation (MFU: the
                   matmul FLOPs of forward and backward, no recomputation, over the bf16 dense peak)

The fused-kernel rows switch `rembert_jax.kernels.PLATFORM_DEFAULTS` for one measurement
(with fresh traces): the switch a later commit flips if a kernel wins. Run once:

    python benchmarks/gpu_check.py --final --budget-s 540 \\
        --sections fp32_parity,issue16_forward,issue16_train --json-name issue16.json
"""

from __future__ import annotations

import contextlib
import gc

from rembert_jax.benchmarks import _common as C
from rembert_jax.benchmarks import _gpu_report as R

# bf16 dense tensor-core peak (FLOP/s) of the GPUs the targets name (SXM parts)
PEAK_BF16 = {"H100": 989.4e12, "H200": 989.4e12}
# (name, dtype for our benchmark functions, fused-kernel implementation or None for the library's)
VARIANTS = (("bf16", "bf16", None), ("bf16_fused_pallas", "bf16", "pallas"),
            ("bf16_fused_tokamax", "bf16", "tokamax"), ("fp8", "fp8", None))


@contextlib.contextmanager
def fused_kernels(impl: str | None):
    """The GPU's fused-kernel switch set to `impl` for one measurement (None: unchanged)."""
    import jax

    from rembert_jax import kernels

    if impl is None:
        yield
        return
    before = dict(kernels.PLATFORM_DEFAULTS)
    kernels.PLATFORM_DEFAULTS.update(dict.fromkeys(before, impl))  # every platform: --smoke runs them on CPU
    jax.clear_caches()
    try:
        yield
    finally:
        kernels.PLATFORM_DEFAULTS.update(before)
        jax.clear_caches()


def model_flops_per_token(config, length: int) -> float:
    """Matmul FLOPs of one token's forward + backward (3x forward): dense layers and attention."""
    H, inner, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    E = config.input_embedding_size
    dense = L * (4 * H * H + 2 * H * inner) + E * H  # multiply-adds per token
    attention = L * 2 * length * H  # q.k^T and p.v: 2 multiply-adds per (query, key, feature)
    return 3 * 2 * (dense + attention)


def peak_flops() -> float | None:
    import jax

    kind = jax.devices()[0].device_kind
    return next((v for k, v in PEAK_BF16.items() if k in kind), None)


def issue16_forward(args) -> dict:
    import jax
    import jax.numpy as jnp

    from rembert_jax import init_params
    from rembert_jax.benchmarks import bench_forward as F

    config = R.full_config(args)
    iters = 3 if args.smoke else 20
    batches = [C.random_batch(config, *R.shapes(args, name), seed=11) for name in ("short", "long")]
    out: dict = {"layers": config.num_hidden_layers, "batches": "dense (no padding)",
                 "reference": "torch.compile(transformers RemBertModel), bf16 weights and compute"}
    model = C.hf_model(config, "base")
    for batch in batches:
        key = "x".join(map(str, batch["input_ids"].shape))
        try:
            out[key] = {"torch_compile_bf16": F.measure_torch(model, batch, "bf16", iters=iters, warmup=2,
                                                              compile_model=True)[0]}
        except Exception as e:
            out[key] = {"torch_compile_bf16": {"error": f"{type(e).__name__}: {e}"[:800]}}
        R.emit("issue16_forward_partial", out)
    del model
    R.free_torch_memory()
    params = jax.jit(lambda k: init_params(config, k, dtype=jnp.bfloat16))(jax.random.key(0))
    for batch in batches:
        row = out["x".join(map(str, batch["input_ids"].shape))]
        reference = row["torch_compile_bf16"].get("tokens_per_s")
        for name, dtype, impl in VARIANTS:
            try:
                with fused_kernels(impl):
                    result, _ = F.measure_ours(config, params, batch, dtype, iters=iters, warmup=2)
                row[f"ours_{name}"] = {k: result[k] for k in ("tokens_per_s", "step_s", "compile_s")}
                if reference:
                    row[f"ours_{name}"]["speedup_vs_torch_compile_bf16"] = C.ratio(result["tokens_per_s"], reference)
            except Exception as e:
                row[f"ours_{name}"] = {"error": f"{type(e).__name__}: {e}"[:800]}
            R.emit("issue16_forward_partial", out)
    R.RESULTS.pop("issue16_forward_partial", None)
    return out


def issue16_train(args) -> dict:
    import jax

    from rembert_jax.benchmarks import bench_train_step as T
    from rembert_jax.heads import TaskModel

    config = R.full_config(args)
    batch_size, length = R.shapes(args, "short")
    batch = C.random_batch(config, batch_size, length, seed=7, labels=True)
    iters = 3 if args.smoke else 10
    peak = peak_flops()
    flops_per_token = model_flops_per_token(config, length)
    out: dict = {"shape": [batch_size, length], "layers": config.num_hidden_layers, "remat": "dots",
                 "model_flops_per_token": flops_per_token, "peak_bf16_flops": peak}
    out["torch_fused_adamw_autocast"] = theirs = R.torch_train_first(C.hf_model(config, "sequence_classification"),
                                                                   batch, iters)
    R.emit("issue16_train_partial", out)
    for name, dtype, impl in VARIANTS:
        params = jax.jit(TaskModel(config, "sequence_classification").init)(jax.random.key(0))
        try:
            with fused_kernels(impl):
                ours = T.measure_ours(config, params, batch, dtype, iters=iters, warmup=1, remat="dots")
            row = {k: ours[k] for k in ("tokens_per_s", "step_s", "compile_s", "first_loss", "last_loss")}
            if peak:
                row["mfu"] = round(ours["tokens_per_s"] * flops_per_token / peak, 4)
            if theirs.get("tokens_per_s"):
                row["speedup"] = C.ratio(ours["tokens_per_s"], theirs["tokens_per_s"])
            out[f"ours_{name}"] = row
        except Exception as e:
            out[f"ours_{name}"] = {"error": f"{type(e).__name__}: {e}"[:800]}
        del params
        gc.collect()
        R.emit("issue16_train_partial", out)
    R.RESULTS.pop("issue16_train_partial", None)
    return out
