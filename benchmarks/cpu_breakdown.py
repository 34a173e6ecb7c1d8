"""Where a training step's time goes, ours vs PyTorch: the GEMMs, the optimizer, everything else.

    python benchmarks/cpu_breakdown.py                  # CPU: 4 full-width layers, fp32, (4, 128)
    python benchmarks/cpu_breakdown.py --shapes 1x512

Each side is timed three ways on the same weights and batch, interleaved in one process:

- `step`: the whole training step (forward, backward, AdamW), as `bench_train_step.py` times it;
- `optimizer`: the AdamW update alone, on fixed gradients (ours: optax's update and
  `apply_updates` jitted with the weights and moments donated, as in the step; PyTorch: the fused
  `AdamW.step()`);
- `gemms`: every matrix product of one step (the dense layers' forward, input-gradient and
  weight-gradient products, and attention's batched products) with the step's shapes and
  transposes (a transposed operand is a transposed view, as autodiff gives it), back to back.

So `step - optimizer - gemms` is the time outside GEMMs and the optimizer. Minor page faults per
call are counted too (`getrusage`): the kernel zeroes every fresh page, and glibc maps each buffer
over 32 MB anew, so memory a framework allocates per step is paid for again each step. The script
explains a ratio; it is not a target row of the README.
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


def step_gemms(config, batch: int, length: int) -> list[tuple[str, tuple, tuple, bool, bool]]:
    """(name, lhs shape, rhs shape, lhs transposed, rhs transposed) of every matrix product of a
    training step. Shapes are the product's (`x.T @ dy` is [H, T] @ [T, F]); a transposed operand
    is stored the other way round and multiplied as a transposed view, as the backward does."""
    H, F, E = config.hidden_size, config.intermediate_size, config.input_embedding_size
    NH = config.num_attention_heads
    D, T = H // NH, batch * length

    def dense(name, n_in, n_out):  # forward x @ W, input gradient dy @ W.T, weight gradient x.T @ dy
        return [(f"{name} fwd", (T, n_in), (n_in, n_out), False, False),
                (f"{name} dX", (T, n_out), (n_out, n_in), False, True),
                (f"{name} dW", (n_in, T), (T, n_out), True, False)]

    layer = (dense("query", H, H) + dense("key", H, H) + dense("value", H, H) + dense("attention out", H, H)
             + dense("ffn in", H, F) + dense("ffn out", F, H))
    B, S = batch, length
    attention = [  # scores q @ k.T and context p @ v, each with its two gradients
        ("scores fwd", (B, NH, S, D), (B, NH, D, S), False, True),
        ("scores dq", (B, NH, S, S), (B, NH, S, D), False, False),
        ("scores dk", (B, NH, S, S), (B, NH, S, D), True, False),
        ("context fwd", (B, NH, S, S), (B, NH, S, D), False, False),
        ("context dp", (B, NH, S, D), (B, NH, D, S), False, True),
        ("context dv", (B, NH, S, S), (B, NH, S, D), True, False),
    ]
    return dense("projection", E, H) + (layer + attention) * config.num_hidden_layers


def gemm_flops(gemms) -> int:
    return sum(2 * math.prod(lhs) * rhs[-1] for _, lhs, rhs, _, _ in gemms)


def stored(shape: tuple, transposed: bool) -> tuple:
    """The shape an operand is kept in: its last two axes swapped when it is used transposed."""
    return (*shape[:-2], shape[-1], shape[-2]) if transposed else shape


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed(call, sync, *, iters: int, warmup: int) -> dict:
    """Seconds per call (each call finished before the next) and minor page faults per call."""
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
    import optax

    from rembert_jax.compiler_options import jit

    step, tx, _ = our_train_step(config, "fp32")
    params = jax.tree_util.tree_map(lambda x: x.copy(), params)
    state = {"params": params, "opt": tx.init(params)}
    batch = jax.device_put(batch)

    def whole():
        state["params"], state["opt"], loss = step(state["params"], state["opt"], batch)
        return loss

    def adamw(params, opt_state, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    update = jit(adamw, training=True, donate_argnums=(0, 1))  # in place, as inside the step
    grads = jax.tree_util.tree_map(lambda x: jnp.full_like(x, 1e-3), params)

    def optimizer():
        state["params"], state["opt"] = update(state["params"], state["opt"], grads)
        return state["params"]

    pairs = [(jnp.asarray(np.ones(stored(a, ta), np.float32)), jnp.asarray(np.ones(stored(b, tb), np.float32)))
             for _, a, b, ta, tb in gemms]
    flags = [(ta, tb) for _, _, _, ta, tb in gemms]

    def view(x, transposed):
        return jnp.swapaxes(x, -1, -2) if transposed else x

    products = jit(lambda xs: [view(a, ta) @ view(b, tb) for (a, b), (ta, tb) in zip(xs, flags, strict=True)],
                   training=True)
    return with_rate({"step": timed(whole, C.jax_sync, iters=iters, warmup=warmup),
                      "optimizer": timed(optimizer, C.jax_sync, iters=iters, warmup=warmup),
                      "gemms": timed(lambda: products(pairs), C.jax_sync, iters=iters, warmup=warmup)}, batch)


def measure_torch(model, batch, gemms, *, iters: int, warmup: int) -> dict:
    import torch

    model = model.float().train()
    weights = list(model.parameters())
    optimizer = torch.optim.AdamW(weights, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, fused=True)
    inputs = C.to_torch(batch)

    def whole():
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def adamw():
        for p in weights:  # fixed gradients, as ours
            if p.grad is None:
                p.grad = torch.full_like(p, 1e-3)
        optimizer.step()

    def operand(shape, transposed):
        x = torch.ones(stored(shape, transposed))
        return x.mT if transposed else x

    operands = [(operand(a, ta), operand(b, tb)) for _, a, b, ta, tb in gemms]

    def products():
        with torch.no_grad():
            return [a @ b for a, b in operands]

    row = {"step": timed(whole, C.torch_sync, iters=iters, warmup=warmup),
           "optimizer": timed(adamw, lambda x: x, iters=iters, warmup=warmup),
           "gemms": timed(products, C.torch_sync, iters=iters, warmup=warmup)}
    optimizer.zero_grad(set_to_none=True)
    return with_rate(row, batch)


def with_rate(row: dict, batch) -> dict:
    """`row` with the step's tokens/s (what `C.alternate` picks the median round by)."""
    return {**row, "tokens_per_s": batch["input_ids"].size / row["step"]["s"]}


def shares(row: dict) -> dict:
    """Seconds of a step by part: the GEMMs, the optimizer, everything else."""
    rest = row["step"]["s"] - row["optimizer"]["s"] - row["gemms"]["s"]
    return {"gemms_s": row["gemms"]["s"], "optimizer_s": row["optimizer"]["s"], "rest_s": rest,
            "step_s": row["step"]["s"]}


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
        flops = gemm_flops(gemms)
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
