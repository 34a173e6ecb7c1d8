"""The XLA options our own jitted entry points compile with, and `jit`, which applies them.

Measured on an H100 80GB (benchmarks/gpu_check.py --final, full RemBERT, bf16, jax 0.11.2):
XLA's Triton GEMM fusions are slower than cuBLAS for the inference forward (turning them off:
(64,128) 402.6k -> 418.2k tokens/s, (16,512) 381.1k -> 394.0k, +3.6% / +3.4%), but faster in the
training step, where they fuse the backward's GEMMs with their neighbours (turning them off:
(64,128) 93.6k -> 87.1k tokens/s, -7%). So inference and training compile with different sets.
The options are per executable (`jax.jit(..., compiler_options=...)`): they change nothing for
the user's own programs, and XLA ignores GPU options when it compiles for a CPU or TPU.

Every jit of the library that can be the outermost one goes through `jit`: the encoder `apply`,
TaskModel `apply`/`loss`/`init`, `generate`, the adapters and the eval step (inference), and the
train step (`training=True`). A jit nested in the caller's own `jax.jit` is inlined and compiles
with the caller's options: wrap your own step with `rembert_jax.compiler_options.jit` (same
arguments as `jax.jit`, plus `training=`) to get ours.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

INFERENCE_OPTIONS: dict[str, Any] = {
    "xla_gpu_enable_triton_gemm": False,  # cuBLAS GEMMs: +3.5% forward on an H100 (see above)
}
TRAINING_OPTIONS: dict[str, Any] = {}  # XLA's defaults (Triton GEMM fusions on): 7% faster steps


def jit(fun: Callable | None = None, *, training: bool = False, **kwargs) -> Callable:
    """`jax.jit(fun, **kwargs)` compiled with TRAINING_OPTIONS (`training=True`) or
    INFERENCE_OPTIONS when it is the outermost jit; explicit `compiler_options` are added on top.

    JAX accepts `compiler_options` only on a top-level jit, so a call made while JAX is tracing
    (inside the caller's jit, grad, vmap, eval_shape, a loop body; with or without tracer
    arguments) goes to the same function jitted without them. The options are read when `jit`
    is applied (at import for the library's functions). Usable as `jit(f, ...)`, `@jit` or
    `@partial(jit, static_argnames=...)`; the result has the jitted function's `lower`, `trace`,
    `eval_shape` and cache methods (of the top-level one).
    """
    if fun is None:
        return functools.partial(jit, training=training, **kwargs)
    library = TRAINING_OPTIONS if training else INFERENCE_OPTIONS
    options = {**library, **(kwargs.pop("compiler_options", None) or {})}
    top_level = jax.jit(fun, compiler_options=options, **kwargs)
    nested = jax.jit(fun, **kwargs)

    @functools.wraps(fun)
    def call(*args, **kw):
        if _tracing(args, kw):
            return nested(*args, **kw)
        try:
            return top_level(*args, **kw)
        except ValueError as e:  # a trace we could not see (JAX checks this before any work)
            if "compiler_options" not in str(e):
                raise
            return nested(*args, **kw)

    for name in ("lower", "trace", "eval_shape", "clear_cache", "_cache_size"):
        setattr(call, name, getattr(top_level, name))
    return call


def _tracing(args, kwargs) -> bool:
    """Does this call carry tracers (so JAX is tracing it and only a plain nested jit is allowed)?

    A call made inside a trace with only concrete arguments (closed-over arrays) is not seen here;
    `call` learns of it from the ValueError JAX raises, before any work, for `compiler_options` on
    a nested jit. (JAX's trace state itself has no public spelling, so it is not asked.)
    """
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves((args, kwargs)))
