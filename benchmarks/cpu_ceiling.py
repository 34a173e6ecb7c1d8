"""How much faster than transformers could anyone be on this CPU in fp32? A roofline check.

    python benchmarks/cpu_ceiling.py           # 4 full-width layers, the CPU benchmarks' shapes

RemBERT's work is matrix multiplication: per token and layer 2(4H^2 + 2HF) FLOPs in the dense
layers plus 4SH in attention. This script measures the machine's fp32 GEMM peak on the layer's own
shapes (torch and XLA, best of both), measures transformers' forward and training step, and
reports the fraction of that peak transformers already reaches and so the ceiling on any speedup:
a framework that spent no time outside GEMMs running at peak would be `peak / achieved` times
faster. A training step also updates every weight: AdamW reads and writes the weights, their
gradients and two moments, memory-bound work that no GEMM speed removes. The training rows'
floor is therefore the GEMMs at peak plus PyTorch's fused AdamW step on the same weights
(`adamw_s`, measured: a practical floor, not a strict one, since an update fused into the
backward pass could beat it), and their ceiling is PyTorch's step time over that floor. When a
ceiling is below a target, the target cannot be met in fp32 on this machine by any implementation
that updates its weights after the backward pass (other precisions change the numbers, so they
do not count).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402

from rembert_jax.benchmarks import _common as C  # noqa: E402


def flops_per_token(config, length: int) -> float:
    """Forward FLOPs per token: dense layers, attention at this length, the embedding projection."""
    H, F = config.hidden_size, config.intermediate_size
    L, E = config.num_hidden_layers, config.input_embedding_size
    dense = 2 * (4 * H * H + 2 * H * F)
    attention = 4 * length * H  # q.k over `length` keys and probs.v, all heads
    return L * (dense + attention) + 2 * E * H


def gemm_peak_gflops(config, rows_list=(512, 1024, 2048), iters: int = 5) -> dict:
    """fp32 GFLOP/s of the layer's GEMMs ([rows, H] x [H, I], [rows, I] x [I, H], [rows, H] x [H, H])
    at several row counts, torch and XLA; `peak` is the best of all."""
    import jax
    import jax.numpy as jnp
    import torch

    H, F = config.hidden_size, config.intermediate_size
    matmul = jax.jit(jnp.matmul)
    out = {}
    shapes = {f"{rows}x{k}x{n}": (rows, k, n) for rows in rows_list for k, n in ((H, F), (F, H), (H, H))}
    for name, (rows, k, n) in shapes.items():
        a = np.random.default_rng(0).standard_normal((rows, k), np.float32)
        b = np.random.default_rng(1).standard_normal((k, n), np.float32)
        flops = 2 * rows * k * n
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        t = C.time_calls(lambda ta=ta, tb=tb: ta @ tb, lambda x: x, iters=iters, warmup=1)
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        j = C.time_calls(lambda ja=ja, jb=jb: matmul(ja, jb), C.jax_sync, iters=iters, warmup=1)
        out[name] = {"torch": flops / t["step_s"] / 1e9, "xla": flops / j["step_s"] / 1e9}
    out["peak"] = max(v for row in out.values() for v in row.values())
    return out


def adamw_seconds(model, *, iters: int) -> float:
    """Seconds of one fused AdamW step of PyTorch over `model`'s weights (the gradients random):
    the optimizer's share of a training step, which runs at memory speed, not GEMM speed."""
    import torch

    from rembert_jax.benchmarks.bench_train_step import LEARNING_RATE, WEIGHT_DECAY

    weights = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    for p in weights:
        p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype) * 1e-3
    optimizer = torch.optim.AdamW(weights, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, fused=True)
    timing = C.time_calls(optimizer.step, lambda x: x, iters=iters, warmup=1)
    for p in weights:
        p.grad = None
    return timing["step_s"]


def run(args) -> dict:
    from rembert_jax.benchmarks import bench_forward as F
    from rembert_jax.benchmarks import bench_train_step as T

    C.set_torch_threads(args)
    config = C.bench_config(args)
    report = C.Report("cpu_ceiling", args.out)
    report.add("environment", C.environment())
    peak = gemm_peak_gflops(config)  # measured again at the end: the box's load drifts
    iters = C.iterations(args)
    model = C.hf_model(config, "base")
    for batch_size, length in ((8, 128), (2, 512)):
        batch = C.random_batch(config, batch_size, length, seed=1)
        theirs, _ = F.measure_torch(model, batch, "fp32", iters=iters, warmup=1)
        achieved = theirs["tokens_per_s"] * flops_per_token(config, length) / 1e9
        report.add(f"forward_{batch_size}x{length}", {"torch_tokens_per_s": theirs["tokens_per_s"],
                                                       "torch_gflops": achieved})
    model = C.hf_model(config, "sequence_classification")
    adamw_s = adamw_seconds(model, iters=iters)
    for batch_size, length in ((4, 128), (1, 512)):
        batch = C.random_batch(config, batch_size, length, seed=2, labels=True)
        theirs = T.measure_torch(model, batch, "fp32", iters=iters, warmup=1)
        achieved = theirs["tokens_per_s"] * 3 * flops_per_token(config, length) / 1e9  # forward + 2x backward
        report.add(f"train_{batch_size}x{length}", {"torch_tokens_per_s": theirs["tokens_per_s"],
                                                     "torch_step_s": theirs["step_s"], "torch_gflops": achieved,
                                                     "adamw_s": adamw_s})
    again = gemm_peak_gflops(config)
    peak = {"start": peak, "end": again, "peak": max(peak["peak"], again["peak"])}
    report.add("gemm_gflops_fp32", peak)
    report.add("ceilings", {key: ceiling(row, peak["peak"]) for key, row in report.data.items()
                            if key.startswith(("forward_", "train_"))})
    # Mixed lengths (bench_mixed_length's workload): transformers computes the padded tokens at
    # its forward rate; a perfect competitor computes only the useful ones, at peak.
    from rembert_jax.benchmarks.bench_mixed_length import padded_batches

    lengths = np.random.default_rng(0).integers(16, 513, args.examples)
    padded = padded_batches(lengths, args.batch_size)
    padded_flops = sum(len(m) * n * flops_per_token(config, n) for n, m in padded)
    useful_flops = sum(int(n) * flops_per_token(config, int(n)) for n in lengths)
    rates = [report.data[f"forward_{k}"]["torch_gflops"] for k in ("8x128", "2x512")]
    report.add("mixed_length_estimate", {
        "padded_over_useful_flops": padded_flops / useful_flops,
        "speedup_ceiling": (padded_flops / np.mean(rates)) / (useful_flops / peak["peak"]),
        "note": "transformers at its measured forward rate on the padded work vs. only the useful work at peak"})
    return report.data


def ceiling(row: dict, peak_gflops: float) -> dict:
    """How much faster than a measured PyTorch row an implementation could run (GEMMs at peak, plus
    PyTorch's optimizer step for a training row), as a speedup over it."""
    if "adamw_s" not in row:  # forward: GEMMs only
        return {"fraction_of_peak": row["torch_gflops"] / peak_gflops,
                "speedup_ceiling": peak_gflops / row["torch_gflops"]}
    gemm_s = row["torch_step_s"] * row["torch_gflops"] / peak_gflops  # the step's GEMM FLOPs at peak
    floor_s = gemm_s + row["adamw_s"]
    return {"fraction_of_peak": row["torch_gflops"] / peak_gflops, "gemm_at_peak_s": gemm_s,
            "floor_s": floor_s, "speedup_ceiling": row["torch_step_s"] / floor_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    C.add_common_arguments(parser)
    parser.add_argument("--examples", type=int, default=48, help="mixed-length sequences (as bench_mixed_length)")
    parser.add_argument("--batch-size", type=int, default=8, help="transformers' batch size (as bench_mixed_length)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    run(args)
    print(f"# {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
