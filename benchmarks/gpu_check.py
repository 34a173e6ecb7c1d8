"""Every GPU check in one run, printed as JSON as it goes (and written to $OUT/gpu.json).

    pip install --no-deps --no-build-isolation -e .  &&  python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --smoke            # the same code on a tiny model, on the CPU

Issue 16's GPU rows, in one run (~8 minutes on an H100/H200; copy $OUT/issue16.json to
benchmarks/results/gpu-issue16.json, then `python benchmarks/readme_table.py`):

    python benchmarks/gpu_check.py --final --budget-s 540 \
        --sections fp32_parity,issue16_forward,issue16_train --json-name issue16.json

Sections (each in its own try/except; a failure is recorded and the rest still runs). When our
encoder fails on the GPU, the error is recorded and two diagnostic attention variants are measured
instead: the fused cuDNN kernel fed key lengths (exact for these right-padded batches) and XLA.
  env                 devices and library versions
  attention_parity    bf16 encoder with attention_impl="cudnn" vs "xla" (max abs diff, and each
                      against the fp32 result for scale), and whether "auto" compiled to the fused
                      cuDNN kernel (the `__cudnn$fmha` custom call in the optimised HLO)
  fp32_parity         our fp32 forward vs transformers on a small config, with TF32 off on both
                      sides (`jax.default_matmul_precision("highest")`, torch allow_tf32=False)
  train_64x128        full RemBERT (fp32 master weights, bf16 compute) sequence-classification
                      AdamW step: ours vs transformers + fused AdamW + autocast(bf16): tokens/s,
                      peak memory, compile time, first-step losses (same weights and batch)
  forward             full RemBERT bf16 forward at (64,128) and (16,512): ours vs transformers
                      eager bf16 vs torch.compile (default mode, one shape each)
  compile             our full-model compile times, gathered from the sections above
  attention_kernels   fused attention alone at (16,512), forward+backward: cuDNN with the padding
                      mask [B,1,1,K] (what the encoder passes), broadcast to [B,1,S,K], or as
                      sequence lengths, vs XLA (only if time is left)
  train_16x512        the training step at (16,512) (only if time is left)

`--budget-s` (default 420) is the wall-clock budget: a section that would likely overrun it is
skipped and says so. Run it once per GPU: torch.compile and our compiles dominate the time.

`--quick` (one final verification when little device time is left; ~2 minutes, budget 140 s):
  quick_attention     bf16 encoder.apply with attention_impl="auto" vs "xla" on right- and
                      left-padded batches (both branches of the cuDNN mask preparation), forward
                      and gradient, and whether "auto" compiled to the fused cuDNN kernel
  quick_forward       full-size 32-layer bf16 forward at (64,128), right-padded: tokens/s, ours
                      vs transformers eager bf16
  quick_train         full-size train step at (64,128), sequence classification, remat="dots",
                      bf16 compute / fp32 master weights, AdamW: tokens/s and peak memory, ours vs
                      transformers + fused AdamW + autocast (torch first, then its memory freed)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with torch

import numpy as np  # noqa: E402

from rembert_jax.benchmarks import _common as C  # noqa: E402
from rembert_jax.benchmarks import _gpu_variants as V  # noqa: E402
from rembert_jax.benchmarks._gpu_final import final_main  # noqa: E402
from rembert_jax.benchmarks._gpu_profile import profile_main  # noqa: E402
from rembert_jax.benchmarks._gpu_quick import quick_main  # noqa: E402
from rembert_jax.benchmarks._gpu_report import (  # noqa: E402
    JSON_NAME,
    RESULTS,
    check_env,
    elapsed,
    emit,
    free_torch_memory,
    full_config,
    section,
    shapes,
    small_config,
    torch_train_first,
)

# ------------------------------------------------------------------------------------ sections


def check_attention_parity(args) -> dict:
    import jax
    import jax.numpy as jnp

    from rembert_jax import init_params
    from rembert_jax.benchmarks.bench_forward import our_forward

    config = small_config(args)
    params = init_params(config, jax.random.key(0))
    batch = C.random_batch(config, 4, 128, lengths=np.array([128, 100, 64, 7]))
    reference, _ = our_forward(config, "fp32", "xla")
    ref = np.asarray(reference(params, batch))
    out: dict = {"config": "2 layers, H=256, 4 heads of 64, bf16, batch 4x128 with padding"}
    bf16 = jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), params)
    results = {}
    for impl in ("xla", "cudnn", "auto"):
        try:
            forward, _ = our_forward(config, "bf16", impl)
            results[impl] = np.asarray(forward(bf16, batch).astype(jnp.float32))
            out[f"{impl}_vs_fp32_max_abs"] = float(np.max(np.abs(results[impl] - ref)))
            if impl == "auto":
                hlo = forward.lower(bf16, batch).compile().as_text()
                out["auto_uses_cudnn_fmha"] = "__cudnn$fmha" in hlo
        except Exception as e:
            out[f"{impl}_error"] = f"{type(e).__name__}: {e}"[:500]
    if "cudnn" in results:
        out["cudnn_vs_xla_bf16_max_abs"] = float(np.max(np.abs(results["cudnn"] - results["xla"])))
    return out


def check_fp32_parity(args) -> dict:
    import jax
    import torch

    from rembert_jax.benchmarks.bench_forward import our_forward

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    config = small_config(args)
    model = C.hf_model(config, "base", seed=1)
    with torch.no_grad():  # non-trivial LayerNorms and biases, so parity can't pass on zeros and ones
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    params = C.params_from_hf(model, config, "base")
    batch = C.random_batch(config, 4, 128, seed=3, lengths=np.array([128, 90, 33, 128]))
    with torch.inference_mode():
        theirs = model(**C.to_torch(batch)).last_hidden_state.float().cpu().numpy()
    with jax.default_matmul_precision("highest"):
        forward, _ = our_forward(config, "fp32", "auto")
        ours = np.asarray(forward(params, batch))
    return {"config": "2 layers, H=256, batch 4x128 with padding, TF32 off",
            "last_hidden_state_max_abs_diff": float(np.max(np.abs(ours - theirs)))}


def check_train(args, shape_name: str = "short") -> dict:
    from rembert_jax.benchmarks import bench_train_step as T

    config = full_config(args)
    batch_size, length = shapes(args, shape_name)
    iters = 3 if args.smoke else 10
    model = C.hf_model(config, "sequence_classification")
    params = C.params_from_hf(model, config, "sequence_classification")  # copied before torch trains
    batch = C.random_batch(config, batch_size, length, seed=7, labels=True)
    out: dict = {"shape": [batch_size, length], "layers": config.num_hidden_layers}
    theirs = torch_train_first(model, batch, iters)
    del model
    free_torch_memory()  # now that the last reference is gone
    ours = V.ours_with_fallbacks(lambda: T.measure_ours(config, params, batch, "bf16", iters=iters, warmup=1),
                                out)
    return {**out, "ours": ours, "torch_fused_adamw_autocast": theirs,
            "speedup": C.ratio(ours["tokens_per_s"], theirs["tokens_per_s"]),
            "peak_memory_ratio_program": C.ratio(ours["program_bytes"] or 0, theirs["peak_bytes"]),
            "peak_memory_ratio_process": C.ratio(ours["peak_bytes"] or 0, theirs["peak_bytes"])}


def check_forward(args) -> dict:
    from rembert_jax.benchmarks import bench_forward as F

    config = full_config(args)
    iters = 3 if args.smoke else 20
    model = C.hf_model(config, "base")
    params = C.params_from_hf(model, config, "base")
    out: dict = {"layers": config.num_hidden_layers, "dtype": "bf16 weights and compute on both sides"}
    batches = {name: C.random_batch(config, *shapes(args, name), seed=11) for name in ("short", "long")}
    ours_out = {}
    for name, batch in batches.items():
        key = "x".join(map(str, batch["input_ids"].shape))
        out[key] = {}
        ours, ours_out[name] = V.ours_with_fallbacks(
            lambda batch=batch: F.measure_ours(config, params, batch, "bf16", iters=iters, warmup=2), out[key])
        out[key]["ours"] = ours
    params = None  # noqa: F841  (frees the fp32 weights before the torch runs)
    for name, batch in batches.items():
        key = "x".join(map(str, batch["input_ids"].shape))
        eager, theirs_out = F.measure_torch(model, batch, "bf16", iters=iters, warmup=2)
        out[key]["torch_eager"] = eager
        out[key]["speedup_vs_eager"] = C.ratio(out[key]["ours"]["tokens_per_s"], eager["tokens_per_s"])
        out[key]["max_abs_diff_vs_torch_bf16"] = float(np.max(np.abs(ours_out[name] - theirs_out)))
        emit("forward_partial", out)
    for batch in batches.values():
        key = "x".join(map(str, batch["input_ids"].shape))
        if args.budget_s - elapsed() < (20 if args.smoke else 75):
            out[key]["torch_compile"] = {"skipped": "not enough budget left"}
            continue
        try:
            compiled, _ = F.measure_torch(model, batch, "bf16", iters=iters, warmup=2, compile_model=True)
            out[key]["torch_compile"] = compiled
            out[key]["speedup_vs_compile"] = C.ratio(out[key]["ours"]["tokens_per_s"], compiled["tokens_per_s"])
        except Exception as e:
            out[key]["torch_compile"] = {"error": f"{type(e).__name__}: {e}"[:1000]}
        emit("forward_partial", out)
    RESULTS.pop("forward_partial", None)
    return out


def check_attention_kernels(args) -> dict:
    """Fused attention alone, forward+backward, three ways of expressing right padding."""
    import jax
    import jax.numpy as jnp

    if jax.default_backend() != "gpu":
        return {"skipped": "needs an NVIDIA GPU"}
    B, S, N, D = 16, 512, 18, 64
    keys = jax.random.split(jax.random.key(0), 3)
    q, k, v = (jax.random.normal(kk, (B, S, N, D), jnp.bfloat16) for kk in keys)
    lengths = jnp.asarray(np.linspace(S // 4, S, B).astype(np.int32))
    mask = (jnp.arange(S)[None, :] < lengths[:, None])[:, None, None, :]  # [B, 1, 1, K]
    full_mask = jnp.broadcast_to(mask, (B, 1, S, S))  # the bias cuDNN accepts: [B, 1, T, S]
    variants = {
        "cudnn_mask_B11K": lambda q, k, v: jax.nn.dot_product_attention(q, k, v, mask=mask,
                                                                        implementation="cudnn"),
        "cudnn_mask_B1SK": lambda q, k, v: jax.nn.dot_product_attention(q, k, v, mask=full_mask,
                                                                        implementation="cudnn"),
        "cudnn_seq_lengths": lambda q, k, v: jax.nn.dot_product_attention(
            q, k, v, query_seq_lengths=jnp.full((B,), S, jnp.int32), key_value_seq_lengths=lengths,
            implementation="cudnn"),
        "xla": lambda q, k, v: jax.nn.dot_product_attention(q, k, v, mask=mask, implementation="xla"),
    }
    out: dict = {"shape": [B, S, N, D], "dtype": "bf16"}
    for name, fn in variants.items():
        try:
            step = jax.jit(jax.grad(lambda q, k, v, fn=fn: fn(q, k, v).astype(jnp.float32).sum(), argnums=(0, 1, 2)))
            timing = C.time_calls(lambda step=step: step(q, k, v), C.jax_sync, iters=20, warmup=2)
            out[name] = {"fwd_bwd_ms": round(timing["step_s"] * 1e3, 3)}
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
    return out


def _probe(items: str, head: str, args, measure, keys: tuple[str, ...]) -> dict:
    """`measure(config, params, item)` for each comma-separated what-if switch of `items` (the name
    before any "@"), fused attention fed key lengths; an error is recorded, not raised."""
    config = full_config(args)
    model = C.hf_model(config, head)
    params = C.params_from_hf(model, config, head)
    del model
    out = {}
    for item in items.split(","):
        try:
            with V.attention_variant("cudnn_seq_lengths"), V.variant(item.partition("@")[0]):
                result = measure(config, params, item)
            out[item] = {k: result[k] for k in keys}
        except Exception as e:
            out[item] = {"error": f"{type(e).__name__}: {e}"[:800]}
    return out


def probe_forward(args) -> dict:
    """Forward at (64,128) bf16 (or NAME@SHAPE) under what-if switches."""
    from rembert_jax.benchmarks import bench_forward as F

    def measure(config, params, item):
        batch = C.random_batch(config, *shapes(args, item.partition("@")[2] or "short"), seed=11)
        return F.measure_ours(config, params, batch, "bf16", iters=3 if args.smoke else 20, warmup=2)[0]

    return _probe(args.probe_forward, "base", args, measure, ("tokens_per_s", "compile_s", "program_bytes"))


def probe_train(args) -> dict:
    """Train step at (64,128) under rematerialisation switches."""
    from rembert_jax.benchmarks import bench_train_step as T

    def measure(config, params, item):
        batch = C.random_batch(config, *shapes(args, "short"), seed=7, labels=True)
        return T.measure_ours(config, params, batch, "bf16", iters=3 if args.smoke else 10, warmup=1)

    return _probe(args.probe_train, "sequence_classification", args, measure,
                  ("tokens_per_s", "compile_s", "program_bytes", "first_loss"))


# ------------------------------------------------------------------------------ --quick mode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny model and shapes (runs on the CPU)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall-clock budget (default 420; --quick 140; smoke 600)")
    parser.add_argument("--quick", action="store_true",
                        help="only the final verification: cuDNN parity, full forward and train step at (64,128)")
    parser.add_argument("--probe", action="store_true",
                        help="instead of the checks, measure what-if switches (remat, unrolled scan, GELU forms)")
    parser.add_argument("--probe-forward", default="base,scan_unrolled,gelu_tanh",
                        help="forward variants: '+'-joined switch names, optional @long for (16,512)")
    parser.add_argument("--probe-train", default="remat_dots,remat_full", help="train-step variants ('' for none)")
    parser.add_argument("--layers", type=int, default=None, help="override the model depth (probes: quicker)")
    parser.add_argument("--profile", action="store_true",
                        help="after the --quick checks (if given), trace where the step's time goes (_gpu_profile)")
    parser.add_argument("--final", action="store_true",
                        help="the closing measurement of every GPU target, with XLA option A/B (_gpu_final)")
    parser.add_argument("--sections", default="", help="--final: comma list of sections (default all)")
    parser.add_argument("--train-option-sets", default="library,triton_off,library+dynamic_slice_fusion",
                        help="--final: XLA option sets (of _gpu_final.OPTION_SETS) for the (64,128) train step")
    parser.add_argument("--json-name", default="gpu.json", help="results file under $OUT (default gpu.json)")
    args = parser.parse_args(argv)
    args.budget_s = args.budget_s or (600.0 if args.smoke else 140.0 if args.quick else 420.0)
    JSON_NAME[0] = args.json_name
    if args.final:
        section("env", check_env, args, needs_s=0)
        final_main(args, section, check_fp32_parity)
        emit("done", True)
        return 0
    if args.profile:
        if args.quick:
            quick_main(args)
        else:
            section("env", check_env, args, needs_s=0)
        profile_main(args, section)
        emit("done", True)
        return 0
    if args.quick:
        return quick_main(args)
    if args.probe:
        section("env", check_env, args, needs_s=0)
        if args.probe_train:
            section("probe_train", probe_train, args, needs_s=60)
        if args.probe_forward:
            section("probe_forward", probe_forward, args, needs_s=40)
        emit("done", True)
        return 0
    section("env", check_env, args, needs_s=0)
    section("attention_parity", check_attention_parity, args, needs_s=10)
    section("fp32_parity", check_fp32_parity, args, needs_s=10)
    section("train_64x128", check_train, args, needs_s=60)
    section("forward", check_forward, args, needs_s=60)
    compile_s = {"forward_" + k: v["ours"].get("compile_s") for k, v in RESULTS.get("forward", {}).items()
                 if isinstance(v, dict) and "ours" in v}
    compile_s["train_step_64x128"] = RESULTS.get("train_64x128", {}).get("ours", {}).get("compile_s")
    emit("compile", {"ours_full_model_compile_s": compile_s,
                     "note": "lower + compile of the whole jitted program, cold (no persistent cache)"})
    section("attention_kernels", check_attention_kernels, args, needs_s=30)
    section("train_16x512", lambda a: check_train(a, "long"), args, needs_s=90)
    emit("done", True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
