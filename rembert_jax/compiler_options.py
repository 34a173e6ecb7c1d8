"""The XLA options our own jitted entry points compile with, and `jit`, which applies them.

Measured on an H100 (benchmarks/gpu_check.py --profile, full RemBERT, bf16 forward at (64,128)):
XLA's Triton GEMM fusions were slower than cuBLAS for RemBERT's shapes, so turning them off made
the whole forward 3.4% faster (416k -> 430k tokens/s; (16,512): 392k -> 407k). The options are
per executable (`jax.jit(..., compiler_options=...)`), so they change nothing for the user's own
programs, and XLA ignores GPU options when it compiles for a CPU or TPU.

Every jit of the library that can be the outermost one (encoder `apply`, TaskModel `apply`/`loss`/
`init`, `generate`, the adapters, the train and eval steps) goes through `jit`. A jit nested in
the caller's own `jax.jit` is inlined and compiles with the caller's options: wrap your own step
with `rembert_jax.compiler_options.jit` (same arguments as `jax.jit`) to get ours.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

COMPILER_OPTIONS: dict[str, Any] = {
    "xla_gpu_enable_triton_gemm": False,  # cuBLAS GEMMs: +3.4% forward on an H100 (see above)
}


def jit(fun: Callable | None = None, **kwargs) -> Callable:
    """`jax.jit(fun, **kwargs)` compiled with COMPILER_OPTIONS when it is the outermost jit.

    JAX accepts `compiler_options` only on a top-level jit, so a call whose arguments are tracers
    (inside the caller's jit, grad or vmap) goes to the same function jitted without them.
    Usable as `jit(f, ...)`, `@jit` or `@partial(jit, static_argnames=...)`; the result has the
    jitted function's `lower`, `trace`, `eval_shape` and cache methods (of the top-level one).
    """
    if fun is None:
        return functools.partial(jit, **kwargs)
    options = {**COMPILER_OPTIONS, **(kwargs.pop("compiler_options", None) or {})}
    top_level = jax.jit(fun, compiler_options=options, **kwargs)
    nested = jax.jit(fun, **kwargs)

    @functools.wraps(fun)
    def call(*args, **kw):
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves((args, kw)))
        return (nested if traced else top_level)(*args, **kw)

    for name in ("lower", "trace", "eval_shape", "clear_cache", "_cache_size"):
        setattr(call, name, getattr(top_level, name))
    return call
