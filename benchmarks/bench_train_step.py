"""Training step (sequence classification, AdamW), ours vs transformers PyTorch, same weights.

    python benchmarks/bench_train_step.py                           # CPU: 4 full-width layers, fp32
    python benchmarks/bench_train_step.py --shapes 64x128,16x512    # GPU: full model, bf16 compute

Both sides keep fp32 master weights and fp32 AdamW moments. `--dtype bf16` (the GPU default)
computes in bf16: our `DTypePolicy` (fp32 params, bf16 compute) against `torch.autocast(bf16)`;
PyTorch uses fused AdamW (`fused=True`), the fastest optimizer it has. Reports tokens/s, the
ratio, compile time and peak memory per (batch x length), and the loss of the first step on
each side (same weights and batch: they must agree).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with torch

from rembert_jax.benchmarks import _common as C  # noqa: E402
from rembert_jax.benchmarks.bench_forward import parse_shapes  # noqa: E402

LEARNING_RATE, WEIGHT_DECAY = 1e-5, 0.01


def our_train_step(config, dtype: str, remat: str = "none", compiler_options: dict | None = None):
    """(jitted step `(params, opt_state, batch) -> (params, opt_state, loss)`, optimizer, model),
    compiled with the library's XLA options updated by `compiler_options`."""
    import jax
    import optax

    from rembert_jax import DTypePolicy
    from rembert_jax.compiler_options import jit
    from rembert_jax.heads import TaskModel

    policy = DTypePolicy.from_name(dtype)  # fp32 master weights, `dtype` compute
    model = TaskModel(config, "sequence_classification", policy=policy, remat=remat)
    tx = optax.adamw(LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def step(params, opt_state, batch):
        (loss, _), grads = jax.value_and_grad(model.loss, has_aux=True)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    # Donated params and optimizer state are updated in place: no second copy of either.
    return jit(step, training=True, donate_argnums=(0, 1), compiler_options=compiler_options), tx, model


def measure_ours(config, params, batch, dtype: str, *, iters: int, warmup: int, remat: str = "none",
                 compiler_options: dict | None = None):
    import jax

    step, tx, _ = our_train_step(config, dtype, remat, compiler_options)
    params = jax.tree_util.tree_map(lambda x: x.copy(), params)  # the caller's copy survives donation
    opt_state = tx.init(params)
    batch = jax.device_put(batch)
    start = time.perf_counter()
    compiled = step.lower(params, opt_state, batch).compile()
    compile_s = time.perf_counter() - start
    state = {"params": params, "opt": opt_state}
    losses = []

    def call():
        state["params"], state["opt"], loss = compiled(state["params"], state["opt"], batch)
        losses.append(loss)
        return loss

    with C.RssPeak() as rss:
        timing = C.time_calls(call, C.jax_sync, iters=iters, warmup=warmup)
    tokens = batch["input_ids"].size
    return {"tokens_per_s": tokens / timing["step_s"], "step_s": timing["step_s"], "step_cpu_s": timing["step_cpu_s"],
            "compile_s": compile_s, "program_bytes": C.jax_compiled_bytes(compiled),
            "cudnn_calls": compiled.as_text().count("__cudnn$fmha"),  # fused attention kernels in the step
            "peak_bytes": C.jax_gpu_peak_bytes() if C.on_gpu() else rss.bytes,
            "first_loss": float(losses[0]), "last_loss": float(losses[-1])}


def measure_torch(model, batch, dtype: str, *, iters: int, warmup: int):
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    model = model.float().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, fused=True)
    inputs = C.to_torch(batch)
    losses = []
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    def call():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        return loss

    with C.RssPeak() as rss:
        timing = C.time_calls(call, C.torch_sync, iters=iters, warmup=warmup)
    tokens = batch["input_ids"].size
    return {"tokens_per_s": tokens / timing["step_s"], "step_s": timing["step_s"], "step_cpu_s": timing["step_cpu_s"],
            "first_call_s": timing["first_call_s"],
            "peak_bytes": torch.cuda.max_memory_allocated() if cuda else rss.bytes,
            "first_loss": float(losses[0])}


def run(args) -> dict:
    C.set_torch_threads(args)
    config = C.bench_config(args)
    report = C.Report("train_step", args.out)
    report.add("environment", C.environment())
    report.add("config", {"layers": config.num_hidden_layers, "hidden": config.hidden_size, "dtype": args.dtype,
                          "optimizer": f"AdamW(lr={LEARNING_RATE}, wd={WEIGHT_DECAY}), fp32 master weights"})
    model = C.hf_model(config, "sequence_classification")
    params = C.params_from_hf(model, config, "sequence_classification")
    iters = C.iterations(args)
    for batch_size, length in parse_shapes(args.shapes):
        batch = C.random_batch(config, batch_size, length, seed=batch_size + length, labels=True)
        # The torch side updates its weights in place: `first_loss` of round one is the comparable one.
        ours, theirs, speedup = C.alternate(
            C.rounds(args),
            lambda batch=batch: measure_ours(config, params, batch, args.dtype, iters=iters, warmup=args.warmup),
            lambda batch=batch, model=model: measure_torch(model, batch, args.dtype, iters=iters, warmup=args.warmup))
        model = C.hf_model(config, "sequence_classification")  # fresh weights equal to `params` again
        report.add(f"{args.dtype}_{batch_size}x{length}", {
            "ours": ours, "torch_fused_adamw": theirs, "speedup": speedup,
            "cpu_time_ratio": C.ratio(theirs["step_cpu_s"], ours["step_cpu_s"]),  # >1: ours needs less CPU time
            "peak_memory_ratio": C.ratio(ours["peak_bytes"], theirs["peak_bytes"]),
        })
    return report.data


def main(argv=None) -> int:
    parser = C.shapes_parser(__doc__, cpu_shapes="4x128,1x512")
    parser.add_argument("--dtype", default=None, choices=("fp32", "bf16"),
                        help="compute dtype (default bf16 on GPU, fp32 on CPU)")
    args = parser.parse_args(argv)
    args.shapes = C.default_shapes(args)
    if args.dtype is None:
        args.dtype = "bf16" if C.on_gpu() else "fp32"
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
