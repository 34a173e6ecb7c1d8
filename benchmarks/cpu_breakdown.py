"""Where a training step's time goes, ours vs PyTorch: the GEMMs, the optimizer, everything else.

    python benchmarks/cpu_breakdown.py                  # CPU: 4 full-width layers, fp32, (4, 128)
    python benchmarks/cpu_breakdown.py --shapes 1x512

Each side is timed three ways on the same weights and batch, interleaved in one process:

- `step`: the whole training step (forward, backward, AdamW), as `bench_train_step.py` times it;
- `no_optimizer`: forward and backward only, so `step - no_optimizer` is the optimizer's share;
- `gemms`: every matrix product of one step (the dense layers' forward, input-gradient and
  weight-gradient products, and attention's batched products), the same shapes and transposes,
  run back to back with nothing else; so `no_optimizer - gemms` is the time outside GEMMs.

Minor page faults per step are counted too (`getrusage`): the kernel zeroes every fresh page,
and glibc maps each buffer over 32 MB anew, so a framework that allocates its temporaries per step
pays for them again each step. The script explains a ratio; it is not a target row of the README.
"""

from __future__ import annotations

import math
import os
import resource
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from rembert_jax.benchmarks import _common as C  # noqa: E402
from rembert_jax.benchmarks.bench_forward import parse_shapes  # noqa: E402
from rembert_jax.benchmarks.bench_train_step import LEARNING_RATE, WEIGHT_DECAY, our_train_step  # noqa: E402


def step_gemms(config, batch: int, length: int) -> list[tuple[str, tuple, tuple]]:
    """(name, lhs shape, rhs shape) of every matrix product of a training step, transposes
    written as shapes (`x.T @ dy` is [H, T] @ [T, F]); batched products carry their batch dims."""
    H, F, E = config.hidden_size, config.intermediate_size, config.input_embedding_size
    NH = config.num_attention_heads
    D, T = H // NH, batch * length

    def dense(name, n_in, n_out):  # forward, input gradient, weight gradient
        return [(f"{name} fwd", (T, n_in), (n_in, n_out)), (f"{name} dX", (T, n_out), (n_out, n_in)),
                (f"{name} dW", (n_in, T), (T, n_out))]

    layer = (dense("query", H, H) + dense("key", H, H) + dense("value", H, H) + dense("attention out", H, H)
             + dense("ffn in", H, F) + dense("ffn out", F, H))
    attention = [  # scores q.k^T and context p.v, each with its two gradients
        ("scores fwd", (batch, NH, length, D), (batch, NH, D, length)),
        ("scores dq", (batch, NH, length, length), (batch, NH, length, D)),
        ("scores dk", (batch, NH, length, length), (batch, NH, length, D)),
        ("context fwd", (batch, NH, length, length), (batch, NH, length, D)),
        ("context dp", (batch, NH, length, D), (batch, NH, D, length)),
        ("context dv", (batch, NH, length, length), (batch, NH, length, D)),
    ]
    return dense("projection", E, H) + (layer + attention) * config.num_hidden_layers


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed(call, sync, *, iters: int, warmup: int) -> dict:
    """`C.time_calls` plus the minor page faults of one call."""
    for _ in range(warmup + 1):
        sync(call())
    faults, start = minor_faults(), time.perf_counter()
    for _ in range(iters):
        sync(call())
    return {"s": (time.perf_counter() - start) / iters, "page_faults": (minor_faults() - faults) / iters}


def measure_ours(config, params, batch, gemms, *, iters: int, warmup: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from rembert_jax.compiler_options import jit

    step, tx, model = our_train_step(config, "fp32")
    params = jax.tree_util.tree_map(lambda x: x.copy(), params)
    state = {"params": params, "opt": tx.init(params)}
    batch = jax.device_put(batch)

    def whole():
        state["params"], state["opt"], loss = step(state["params"], state["opt"], batch)
        return loss

    grads = jit(jax.value_and_grad(lambda p, b: model.loss(p, b)[0]), training=True)
    operands = [(jnp.asarray(np.ones(a, np.float32)), jnp.asarray(np.ones(b, np.float32))) for _, a, b in gemms]
    products = jit(lambda ops: [a @ b for a, b in ops], training=True)
    return with_rate({"step": timed(whole, C.jax_sync, iters=iters, warmup=warmup),
                      "no_optimizer": timed(lambda: grads(state["params"], batch), C.jax_sync, iters=iters,
                                            warmup=warmup),
                      "gemms": timed(lambda: products(operands), C.jax_sync, iters=iters, warmup=warmup)}, batch)


def measure_torch(model, batch, gemms, *, iters: int, warmup: int) -> dict:
    import torch

    model = model.float().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, fused=True)
    inputs = C.to_torch(batch)

    def whole():
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def no_optimizer():
        loss = model(**inputs).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        return loss

    operands = [(torch.ones(a), torch.ones(b)) for _, a, b in gemms]

    def products():
        with torch.no_grad():
            return [a @ b for a, b in operands]

    return with_rate({"step": timed(whole, C.torch_sync, iters=iters, warmup=warmup),
                      "no_optimizer": timed(no_optimizer, C.torch_sync, iters=iters, warmup=warmup),
                      "gemms": timed(products, C.torch_sync, iters=iters, warmup=warmup)}, batch)


def with_rate(row: dict, batch) -> dict:
    """`row` with the step's tokens/s (what `C.alternate` picks the median round by)."""
    return {**row, "tokens_per_s": batch["input_ids"].size / row["step"]["s"]}


def shares(row: dict) -> dict:
    """Seconds of a step by part: the GEMMs, the rest of forward and backward, the optimizer."""
    return {"gemms_s": row["gemms"]["s"], "outside_gemms_s": row["no_optimizer"]["s"] - row["gemms"]["s"],
            "optimizer_s": row["step"]["s"] - row["no_optimizer"]["s"], "step_s": row["step"]["s"]}


def run(args) -> dict:
    C.set_torch_threads(args)
    config = C.bench_config(args)
    report = C.Report("cpu_breakdown", args.out)
    report.add("environment", C.environment())
    report.add("config", {"layers": config.num_hidden_layers, "hidden": config.hidden_size, "dtype": "fp32"})
    iters = C.iterations(args)
    for batch_size, length in parse_shapes(args.shapes):
        model = C.hf_model(config, "sequence_classification")
        params = C.params_from_hf(model, config, "sequence_classification")
        batch = C.random_batch(config, batch_size, length, seed=batch_size + length, labels=True)
        gemms = step_gemms(config, batch_size, length)
        ours, theirs, _ = C.alternate(
            C.rounds(args),
            lambda p=params, b=batch, g=gemms: measure_ours(config, p, b, g, iters=iters, warmup=args.warmup),
            lambda m=model, b=batch, g=gemms: measure_torch(m, b, g, iters=iters, warmup=args.warmup))
        flops = sum(2 * math.prod(a) * b[-1] for _, a, b in gemms)
        report.add(f"fp32_{batch_size}x{length}", {
            "ours": {**ours, **shares(ours)}, "torch": {**theirs, **shares(theirs)},
            "gemm_gflop": flops / 1e9,
            "gemm_gflops": {"ours": flops / ours["gemms"]["s"] / 1e9, "torch": flops / theirs["gemms"]["s"] / 1e9},
            "step_speedup": C.ratio(theirs["step"]["s"], ours["step"]["s"])})
    return report.data


def main(argv=None) -> int:
    parser = C.shapes_parser(__doc__, cpu_shapes="4x128")
    args = parser.parse_args(argv)
    args.shapes = C.default_shapes(args)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
