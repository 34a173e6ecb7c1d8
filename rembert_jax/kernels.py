"""Fused kernels for the encoder's non-GEMM work, behind one switch per platform.

Two fusions, each with the plain XLA code as the reference and the fallback:

- `add_layer_norm(x, residual, params, eps)`: LayerNorm(x + residual) with float32 two-pass
  statistics (transformers' semantics, as `layers.layer_norm`), forward and backward. The
  "pallas" kernel reads both operands once and writes the normalised rows, saving the row
  statistics for a Pallas backward kernel (dx and per-block partial dscale/dbias).
  "tokamax" adds in XLA and normalises with tokamax's LayerNorm (its Triton kernel on a GPU,
  its XLA code elsewhere): the residual add is not fused there, tokamax has no such op.
- `bias_gelu(x, bias)`: exact (erf) GELU of x + bias in float32. The "pallas" kernel fuses the
  bias into the activation; its backward is plain XLA (one elementwise loop XLA fuses anyway).

`PLATFORM_DEFAULTS` is the switch: the implementation "auto" means on each backend. All are
"xla" until a GPU/TPU run measures a kernel faster there (benchmarks/gpu_check.py --sections
fused_kernels measures both on a GPU); set e.g. `PLATFORM_DEFAULTS["gpu"] = "pallas"` before
the first call (traces are cached: `jax.clear_caches()` after a change). On CPU the Pallas
kernels run in interpret mode (for tests: slow, never the default there).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from .layers import layer_norm

IMPLEMENTATIONS = ("auto", "xla", "pallas", "tokamax")
PLATFORM_DEFAULTS: dict[str, str] = {"cpu": "xla", "gpu": "xla", "cuda": "xla", "tpu": "xla"}
_BLOCK_ROWS = 8  # rows per kernel instance: a multiple of 8 (TPU sublanes), a power of two (Triton)


def select_fused_impl(requested: str, *, platform: str) -> str:
    """"xla" | "pallas" | "tokamax" for the request on `platform` (`jax.default_backend()`)."""
    if requested not in IMPLEMENTATIONS:
        raise ValueError(f"fused kernel implementation must be one of {IMPLEMENTATIONS}, got {requested!r}")
    if requested != "auto":
        return requested
    return PLATFORM_DEFAULTS.get(platform, "xla")


def add_layer_norm(x: jax.Array, residual: jax.Array, params: Mapping[str, jax.Array], eps: float,
                   impl: str = "auto") -> jax.Array:
    """LayerNorm(x + residual) over the last axis: x, residual [..., H] -> [..., H] in x's dtype."""
    impl = select_fused_impl(impl, platform=jax.default_backend())
    if impl == "pallas":
        rows = x.reshape(-1, x.shape[-1])
        out = _pallas_add_ln(rows, residual.reshape(rows.shape), params["scale"], params["bias"], eps)
        return out.reshape(x.shape)
    if impl == "tokamax":
        import tokamax  # optional (the `kernels` extra)
        from absl import flags

        # tokamax reads its options through absl flags and, unparsed, parses sys.argv itself:
        # a program's own arguments (pytest's, rembert-jax's) then raise. Its defaults suffice.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        z = x + residual
        tokamax_impl = "triton" if jax.default_backend() in ("gpu", "cuda") else "xla"
        return tokamax.layer_norm(z, params["scale"].astype(jnp.float32), params["bias"].astype(jnp.float32),
                                  epsilon=eps, implementation=tokamax_impl).astype(x.dtype)
    return layer_norm(x + residual, params, eps)


def bias_gelu(x: jax.Array, bias: jax.Array, impl: str = "auto") -> jax.Array:
    """0.5 z (1 + erf(z / sqrt 2)) for z = x + bias, in float32, back in x's dtype. x [..., I], bias [I]."""
    impl = select_fused_impl(impl, platform=jax.default_backend())
    if impl == "pallas":
        rows = x.reshape(-1, x.shape[-1])
        return _pallas_bias_gelu(rows, bias.astype(x.dtype)).reshape(x.shape)
    return _gelu32(x + bias.astype(x.dtype)).astype(x.dtype)


def _gelu32(z):
    z = z.astype(jnp.float32)
    return 0.5 * z * (1.0 + jax.lax.erf(z * math.sqrt(0.5)))


def _interpret() -> bool:
    return jax.default_backend() == "cpu"


def _padded(rows: jax.Array) -> tuple[jax.Array, int]:
    """rows [N, H] padded with zero rows to a multiple of the block: ([N', H], N)."""
    n = rows.shape[0]
    extra = -n % _BLOCK_ROWS
    return (jnp.pad(rows, ((0, extra), (0, 0))) if extra else rows), n


def _row_spec(width: int):
    from jax.experimental import pallas as pl  # imported on use: only the kernels need it

    return pl.BlockSpec((_BLOCK_ROWS, width), lambda i: (i, 0))


def _whole_spec(width: int):
    from jax.experimental import pallas as pl  # imported on use: only the kernels need it

    return pl.BlockSpec((1, width), lambda i: (0, 0))


# --------------------------------------------------------------------- residual add + LayerNorm

def _add_ln_fwd_kernel(x_ref, r_ref, scale_ref, bias_ref, y_ref, mean_ref, rstd_ref, *, eps):
    z = x_ref[...].astype(jnp.float32) + r_ref[...].astype(jnp.float32)  # [R, H]
    mean = jnp.mean(z, axis=-1, keepdims=True)
    centred = z - mean
    rstd = jax.lax.rsqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + eps)  # two-pass, like torch
    y = centred * rstd * scale_ref[...].astype(jnp.float32) + bias_ref[...].astype(jnp.float32)
    y_ref[...] = y.astype(y_ref.dtype)
    mean_ref[...] = mean
    rstd_ref[...] = rstd


def _add_ln_bwd_kernel(dy_ref, x_ref, r_ref, mean_ref, rstd_ref, scale_ref, dz_ref, dscale_ref, dbias_ref):
    dy = dy_ref[...].astype(jnp.float32)  # [R, H]
    z = x_ref[...].astype(jnp.float32) + r_ref[...].astype(jnp.float32)
    xhat = (z - mean_ref[...]) * rstd_ref[...]
    g = dy * scale_ref[...].astype(jnp.float32)
    dz = rstd_ref[...] * (g - jnp.mean(g, axis=-1, keepdims=True)
                          - xhat * jnp.mean(g * xhat, axis=-1, keepdims=True))
    dz_ref[...] = dz.astype(dz_ref.dtype)
    dscale_ref[...] = jnp.sum(dy * xhat, axis=0, keepdims=True)[None]  # this block's partial sums
    dbias_ref[...] = jnp.sum(dy, axis=0, keepdims=True)[None]


def _add_ln_forward(x, r, scale, bias, eps):
    from jax.experimental import pallas as pl  # imported on use: only the kernels need it

    xp, n = _padded(x)
    rp, _ = _padded(r)
    rows, width = xp.shape
    stat = jax.ShapeDtypeStruct((rows, 1), jnp.float32)
    y, mean, rstd = pl.pallas_call(
        functools.partial(_add_ln_fwd_kernel, eps=eps), grid=(rows // _BLOCK_ROWS,),
        in_specs=[_row_spec(width), _row_spec(width), _whole_spec(width), _whole_spec(width)],
        out_specs=[_row_spec(width), _row_spec(1), _row_spec(1)],
        out_shape=[jax.ShapeDtypeStruct(xp.shape, x.dtype), stat, stat], interpret=_interpret(),
    )(xp, rp, scale.reshape(1, width), bias.reshape(1, width))
    return y[:n], (mean, rstd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _pallas_add_ln(x, r, scale, bias, eps):
    return _add_ln_forward(x, r, scale, bias, eps)[0]


def _pallas_add_ln_fwd(x, r, scale, bias, eps):
    y, (mean, rstd) = _add_ln_forward(x, r, scale, bias, eps)
    return y, (x, r, scale, bias, mean, rstd)


def _pallas_add_ln_bwd(eps, residuals, dy):
    from jax.experimental import pallas as pl  # imported on use: only the kernels need it

    x, r, scale, bias, mean, rstd = residuals
    dyp, n = _padded(dy)  # padded rows have dy = 0: they add nothing to the sums
    xp, _ = _padded(x)
    rp, _ = _padded(r)
    rows, width = xp.shape
    blocks = rows // _BLOCK_ROWS
    partial = jax.ShapeDtypeStruct((blocks, 1, width), jnp.float32)
    partial_spec = pl.BlockSpec((1, 1, width), lambda i: (i, 0, 0))
    dz, dscale, dbias = pl.pallas_call(
        _add_ln_bwd_kernel, grid=(blocks,),
        in_specs=[_row_spec(width), _row_spec(width), _row_spec(width), _row_spec(1), _row_spec(1),
                  _whole_spec(width)],
        out_specs=[_row_spec(width), partial_spec, partial_spec],
        out_shape=[jax.ShapeDtypeStruct(xp.shape, jnp.float32), partial, partial], interpret=_interpret(),
    )(dyp, xp, rp, mean, rstd, scale.reshape(1, width))
    dz = dz[:n]
    return (dz.astype(x.dtype), dz.astype(r.dtype), dscale.sum((0, 1)).astype(scale.dtype),
            dbias.sum((0, 1)).astype(bias.dtype))


_pallas_add_ln.defvjp(_pallas_add_ln_fwd, _pallas_add_ln_bwd)


# ------------------------------------------------------------------------------- bias + GELU

def _bias_gelu_kernel(x_ref, bias_ref, y_ref):
    y_ref[...] = _gelu32(x_ref[...].astype(jnp.float32) + bias_ref[...].astype(jnp.float32)).astype(y_ref.dtype)


@jax.custom_vjp
def _pallas_bias_gelu(x, bias):
    from jax.experimental import pallas as pl  # imported on use: only the kernels need it

    xp, n = _padded(x)
    rows, width = xp.shape
    y = pl.pallas_call(
        _bias_gelu_kernel, grid=(rows // _BLOCK_ROWS,), in_specs=[_row_spec(width), _whole_spec(width)],
        out_specs=_row_spec(width), out_shape=jax.ShapeDtypeStruct(xp.shape, x.dtype), interpret=_interpret(),
    )(xp, bias.reshape(1, width))
    return y[:n]


def _pallas_bias_gelu_fwd(x, bias):
    return _pallas_bias_gelu(x, bias), (x, bias)


def _pallas_bias_gelu_bwd(residuals, dy):
    x, bias = residuals
    z = x.astype(jnp.float32) + bias.astype(jnp.float32)
    # d/dz gelu(z) = Phi(z) + z phi(z)
    slope = 0.5 * (1.0 + jax.lax.erf(z * math.sqrt(0.5))) + z * jnp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    dz = dy.astype(jnp.float32) * slope
    return dz.astype(x.dtype), dz.sum(0).astype(bias.dtype)


_pallas_bias_gelu.defvjp(_pallas_bias_gelu_fwd, _pallas_bias_gelu_bwd)
