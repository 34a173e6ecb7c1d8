"""What-if switches for `gpu_check.py`: diagnostic stand-ins swapped into the encoder for one
measurement (never library code). They answer "what would this change buy on the GPU?" before
anyone edits the encoder: attention variants (cuDNN fed key lengths, forced XLA), remat
policies, an unrolled layer scan, and GELU forms. Each clears JAX's caches on entry and exit,
because the encoder's inner jit keeps traces made with whatever was patched in.
"""

from __future__ import annotations

import contextlib
import json


def seq_length_attention(original):
    """A cuDNN attention that states right padding as key lengths instead of a mask. The padding
    masks of these benchmarks are right padding, so this is exact for them; it shows what the
    fused path gives when the mask is not turned into a [B, 1, 1, K] bias."""
    import jax
    import jax.numpy as jnp

    def attend(q, k, v, mask=None, *, kv_length=None, impl="auto", dropout_rate=0.0, dropout_rng=None,
               return_weights=False):
        usable = (mask is not None and mask.ndim == 4 and mask.shape[1:3] == (1, 1) and kv_length is None
                  and not return_weights and q.dtype != jnp.float32 and jax.default_backend() == "gpu")
        if not usable:
            return original(q, k, v, mask, kv_length=kv_length, impl=impl, dropout_rate=dropout_rate,
                            dropout_rng=dropout_rng, return_weights=return_weights)
        lengths = jnp.broadcast_to(jnp.sum(mask[:, 0, 0, :], axis=-1, dtype=jnp.int32), (q.shape[0],))
        return jax.nn.dot_product_attention(q, k, v, key_value_seq_lengths=lengths, implementation="cudnn"), None

    return attend


@contextlib.contextmanager
def attention_variant(variant: str):
    """Diagnostic only: swap the encoder's attention ("auto": untouched; "xla": force the XLA path
    whatever is asked; "cudnn_seq_lengths": see `seq_length_attention`). TaskModel has no
    attention_impl knob, so this is how the train step gets the variants."""
    import jax

    import rembert_jax.encoder as encoder

    jax.clear_caches()  # the encoder's inner jit caches traces: drop them so the swap takes effect
    original = encoder.dot_product_attention
    if variant == "xla":
        encoder.dot_product_attention = lambda *a, **k: original(*a, **{**k, "impl": "xla"})
    elif variant == "cudnn_seq_lengths":
        encoder.dot_product_attention = seq_length_attention(original)
    try:
        yield
    finally:
        encoder.dot_product_attention = original
        jax.clear_caches()


def ours_with_fallbacks(measure, out: dict):
    """`measure()` with the encoder as it is; if that fails, record the error and measure the two
    diagnostic variants instead. Returns the result to compare against (the first that ran)."""
    try:
        return measure()
    except Exception as e:
        out["ours_auto_error"] = f"{type(e).__name__}: {e}"[:1500]
    first = None
    for variant in ("cudnn_seq_lengths", "xla"):
        try:
            with attention_variant(variant):
                result = measure()
            out[f"ours_{variant}"] = result if not isinstance(result, tuple) else result[0]
            first = first or result
        except Exception as e:
            out[f"ours_{variant}"] = {"error": f"{type(e).__name__}: {e}"[:1500]}
    if first is None:
        raise RuntimeError("every attention variant failed: " + json.dumps(out, default=str)[:3000])
    out["compared_variant"] = next(k for k in ("ours_cudnn_seq_lengths", "ours_xla")
                                   if isinstance(out.get(k), dict) and "error" not in out[k])
    return first


@contextlib.contextmanager
def patched(target, name: str, value):
    """Diagnostic only: set `target.name = value` (or a dict item) for the block, caches cleared."""
    import jax

    jax.clear_caches()
    is_dict = isinstance(target, dict)
    original = target[name] if is_dict else getattr(target, name)
    if is_dict:
        target[name] = value
    else:
        setattr(target, name, value)
    try:
        yield
    finally:
        if is_dict:
            target[name] = original
        else:
            setattr(target, name, original)
        jax.clear_caches()


def probe_variants():
    """What-if switches for the encoder, each a context manager factory (probe sections only)."""
    import functools

    import jax

    import rembert_jax.encoder as encoder
    import rembert_jax.layers as layers

    return {
        "base": contextlib.nullcontext,
        "remat_dots": lambda: patched(encoder, "apply", functools.partial(encoder.apply, remat="dots")),
        "remat_full": lambda: patched(encoder, "apply", functools.partial(encoder.apply, remat="full")),
        "scan_unrolled": lambda: patched(jax.lax, "scan", functools.partial(jax.lax.scan, unroll=True)),
        "gelu_tanh": lambda: patched(layers.ACTIVATIONS, "gelu", lambda x: jax.nn.gelu(x, approximate=True)),
        # exact GELU through erf instead of jax.nn.gelu's erfc (same function, ~1e-6 apart in fp32)
        "gelu_erf": lambda: patched(layers.ACTIVATIONS, "gelu", gelu_erf),
        "gelu_erf_f32": lambda: patched(layers.ACTIVATIONS, "gelu",
                                         lambda x: gelu_erf(x.astype("float32")).astype(x.dtype)),
    }


def gelu_erf(x):
    import jax
    import numpy as np

    return 0.5 * x * (1 + jax.lax.erf(x * np.sqrt(0.5).astype(x.dtype)))


@contextlib.contextmanager
def variant(name: str):
    """A '+'-joined list of `_probe_variants` names, all applied."""
    variants = probe_variants()
    with contextlib.ExitStack() as stack:
        for part in name.split("+"):
            stack.enter_context(variants[part]())
        yield
