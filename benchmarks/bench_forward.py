"""Forward pass, ours vs transformers PyTorch RemBertModel, same weights, same process.

    python benchmarks/bench_forward.py                       # CPU: 4 full-width layers, small batches
    python benchmarks/bench_forward.py --shapes 64x128,16x512 --dtypes bf16   # GPU: full 32 layers

Per (dtype, batch x length): tokens/s of ours and of transformers eager (and `torch.compile` on a
GPU), the ratio, compile time, peak memory and the max abs difference of the two outputs.
bf16 means bf16 weights and compute on both sides (inference needs no fp32 master copy).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with torch

import numpy as np  # noqa: E402

from rembert_jax.benchmarks import _common as C  # noqa: E402


def parse_shapes(text: str) -> list[tuple[int, int]]:
    shapes = []
    for item in text.split(","):
        b, _, s = item.lower().partition("x")
        if not (b.isdigit() and s.isdigit()):
            raise ValueError(f"--shapes entries must look like 64x128 (batch x length), got {item!r}")
        shapes.append((int(b), int(s)))
    return shapes


def our_forward(config, dtype: str, attention_impl: str = "auto", compiler_options: dict | None = None):
    """A jitted `(params, batch) -> last_hidden_state` with the dtype policy for `dtype`, compiled
    with the library's XLA options (`rembert_jax.compiler_options`) updated by `compiler_options`."""
    import jax.numpy as jnp

    from rembert_jax import DTypePolicy
    from rembert_jax.compiler_options import jit
    from rembert_jax.encoder import apply

    compute = jnp.float32 if dtype == "fp32" else jnp.bfloat16
    # "fp8": bf16 weights and compute with the layers' GEMMs in FP8 (policy "fp8")
    policy = DTypePolicy(param_dtype=compute, compute_dtype=compute, gemm="fp8" if dtype == "fp8" else "native")

    def forward(params, batch):
        out = apply(params, batch, config=config, policy=policy, attention_impl=attention_impl, validate=False)
        return out["last_hidden_state"]

    return jit(forward, compiler_options=compiler_options), policy


def measure_ours(config, params, batch, dtype: str, *, iters: int, warmup: int, attention_impl: str = "auto",
                 compiler_options: dict | None = None):
    import jax

    forward, policy = our_forward(config, dtype, attention_impl, compiler_options)
    params = jax.tree_util.tree_map(lambda x: x.astype(policy.param_dtype), params)
    batch = jax.device_put(batch)
    start = time.perf_counter()
    compiled = forward.lower(params, batch).compile()
    compile_s = time.perf_counter() - start
    with C.RssPeak() as rss:
        timing = C.time_calls(lambda: compiled(params, batch), C.jax_sync, iters=iters, warmup=warmup)
    out = np.asarray(compiled(params, batch).astype("float32"))
    tokens = batch["input_ids"].size
    return {"tokens_per_s": tokens / timing["step_s"], "step_s": timing["step_s"], "compile_s": compile_s,
            "program_bytes": C.jax_compiled_bytes(compiled),
            "peak_bytes": C.jax_gpu_peak_bytes() if C.on_gpu() else rss.bytes}, out


def measure_torch(model, batch, dtype: str, *, iters: int, warmup: int, compile_model: bool = False):
    import torch

    torch_dtype = torch.float32 if dtype == "fp32" else torch.bfloat16
    model = model.to(torch_dtype)
    # One static graph per shape: a second shape must not turn on dynamic shapes (slower kernels).
    runner = torch.compile(model, dynamic=False) if compile_model else model
    inputs = C.to_torch(batch)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    def call():
        with torch.inference_mode():
            return runner(**inputs).last_hidden_state

    with C.RssPeak() as rss:
        timing = C.time_calls(call, C.torch_sync, iters=iters, warmup=warmup)
    out = call().float().cpu().numpy()
    tokens = batch["input_ids"].size
    return {"tokens_per_s": tokens / timing["step_s"], "step_s": timing["step_s"],
            "first_call_s": timing["first_call_s"],
            "peak_bytes": torch.cuda.max_memory_allocated() if cuda else rss.bytes}, out


def run(args) -> dict:
    C.set_torch_threads(args)
    config = C.bench_config(args)
    report = C.Report("forward", args.out)
    report.add("environment", C.environment())
    report.add("config", {"layers": config.num_hidden_layers, "hidden": config.hidden_size,
                          "vocab": config.vocab_size})
    model = C.hf_model(config, "base")
    params = C.params_from_hf(model, config, "base")
    iters = C.iterations(args)
    for dtype in args.dtypes.split(","):
        for batch_size, length in parse_shapes(args.shapes):
            batch = C.random_batch(config, batch_size, length, seed=batch_size + length)
            outputs = {}

            def ours_once(batch=batch, dtype=dtype, outputs=outputs):
                result, outputs["ours"] = measure_ours(config, params, batch, dtype, iters=iters, warmup=args.warmup)
                return result

            def eager_once(batch=batch, dtype=dtype, outputs=outputs):
                result, outputs["torch"] = measure_torch(model, batch, dtype, iters=iters, warmup=args.warmup)
                return result

            ours, eager, speedup = C.alternate(C.rounds(args), ours_once, eager_once)
            result = {"ours": ours, "torch_eager": eager, "speedup_vs_eager": speedup,
                      "max_abs_diff_vs_torch": float(np.max(np.abs(outputs["ours"] - outputs["torch"])))}
            if C.on_gpu() and not args.no_compile:
                compiled, _ = measure_torch(model, batch, dtype, iters=iters, warmup=args.warmup,
                                            compile_model=True)
                result["torch_compile"] = compiled
                result["speedup_vs_compile"] = C.ratio(ours["tokens_per_s"], compiled["tokens_per_s"])
            report.add(f"{dtype}_{batch_size}x{length}", result)
    return report.data


def main(argv=None) -> int:
    parser = C.shapes_parser(__doc__, cpu_shapes="8x128,2x512")
    parser.add_argument("--dtypes", default="fp32,bf16", help="comma list of fp32, bf16")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile on the GPU")
    args = parser.parse_args(argv)
    args.shapes = C.default_shapes(args)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
