"""The dtype policy: parameter dtype and compute dtype, declared once (spec §2.10).

LayerNorm statistics, softmax, logits and losses always run in float32, whatever the compute
dtype: LayerNorm's eps of 1e-12 underflows in half precision and fully-masked rows overflow.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

_NAMES = {"fp32": jnp.float32, "float32": jnp.float32, "bf16": jnp.bfloat16, "bfloat16": jnp.bfloat16,
          "fp16": jnp.float16, "float16": jnp.float16}


def _dtype(value) -> jnp.dtype:
    if isinstance(value, str):
        if value not in _NAMES:
            raise ValueError(f"unknown dtype {value!r}; choose one of {sorted(_NAMES)}")
        return jnp.dtype(_NAMES[value])
    dtype = jnp.dtype(value)
    if dtype not in (jnp.float32, jnp.bfloat16, jnp.float16):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype}")
    return dtype


@dataclasses.dataclass(frozen=True)
class DTypePolicy:
    """`param_dtype`: what parameters are stored in; `compute_dtype`: matmuls and activations;
    `gemm`: "native" (matmuls in the compute dtype) or "fp8" (the encoder layers' dense GEMMs in
    FP8 through qwix: e4m3 operands forward, e5m2 gradients, per-channel absmax scales; see
    `rembert_jax.fp8`). Attention's two matmuls, embeddings and heads stay in the compute dtype."""

    param_dtype: jnp.dtype = jnp.float32
    compute_dtype: jnp.dtype = jnp.float32
    gemm: str = "native"

    def __post_init__(self):
        object.__setattr__(self, "param_dtype", _dtype(self.param_dtype))
        object.__setattr__(self, "compute_dtype", _dtype(self.compute_dtype))
        if self.gemm not in ("native", "fp8"):
            raise ValueError(f"gemm must be 'native' or 'fp8', got {self.gemm!r}")

    @classmethod
    def from_name(cls, name: str | DTypePolicy | None) -> DTypePolicy:
        """`"fp32"` (everything fp32), `"bf16"`/`"fp16"` (fp32 master weights, half compute),
        `"fp8"` (fp32 master weights, bf16 compute, FP8 dense GEMMs)."""
        if isinstance(name, DTypePolicy):
            return name
        if name is None:
            return FP32
        if name == "fp8":
            return FP8
        return cls(param_dtype=jnp.float32, compute_dtype=_dtype(name))

    @property
    def fp8(self) -> bool:
        return self.gemm == "fp8"


FP32 = DTypePolicy()
FP8 = DTypePolicy(compute_dtype=jnp.bfloat16, gemm="fp8")
