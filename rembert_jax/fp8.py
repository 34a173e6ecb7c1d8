"""FP8 GEMMs for `DTypePolicy(gemm="fp8")` (`policy="fp8"`), through qwix's quantized training.

`matmul_fp8(x, kernel)`: x [..., in] @ kernel [in, out] with both operands quantized to
float8_e4m3fn (absmax scales per row of x and per output column of the kernel) and, in the
backward pass, the incoming gradient quantized to float8_e5m2 for both gradient GEMMs. qwix
computes the scales and the straight-through gradients; nothing here hand-writes scaling. On a
GPU with FP8 tensor cores (Hopper) XLA runs the quantized dots as FP8 GEMMs; on a CPU the same
program is emulated (the quantize/dequantize rounding is exact, the dot upcasts), which is how
the quality tests run.

qwix's public API intercepts Flax modules; this encoder is pure functions, so its QT core
(`dot_general_qt`) is called directly (qwix 0.1.8).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


@functools.cache
def _config():
    """qwix's QT dot_general and its config. The one place that reads qwix's private core: when qwix
    moves it, tests/test_private_apis.py fails naming this function."""
    from qwix._src.core import dot_general_qt  # optional dependency: the `fp8` extra

    return dot_general_qt, dot_general_qt.DotGeneralQtConfig(
        lhs_qtype=jnp.float8_e4m3fn, rhs_qtype=jnp.float8_e4m3fn,
        dlhs_grad_qtype=jnp.float8_e5m2, drhs_grad_qtype=jnp.float8_e5m2)


def matmul_fp8(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x [..., in] @ kernel [in, out] -> [..., out] in x's dtype, as an FP8 (e4m3 / e5m2) GEMM."""
    qt, config = _config()
    dims = (((x.ndim - 1,), (0,)), ((), ()))
    return qt.dot_general_qt(x, kernel.astype(x.dtype), dims, config).astype(x.dtype)
