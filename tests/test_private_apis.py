"""The library's only uses of other packages' private APIs still do what they are for.

Each is isolated in one function, and the `private_names` import contract (pyproject.toml) allows a
private module of another distribution nowhere else. When JAX or qwix moves or changes one of them,
the test here fails and names the function to update.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest


def _stablehlo_version(exported) -> str:
    return re.search(rb"StableHLO_v[0-9.]+", exported.mlir_module_serialized).group().decode()


def test_the_saved_model_export_targets_an_older_stablehlo():
    from rembert_jax.adapters._saved_model import _stablehlo_for_older_consumers

    x = jnp.ones((3,), jnp.float32)
    default = _stablehlo_version(jax.export.export(jax.jit(lambda x: x * 2))(x))
    with _stablehlo_for_older_consumers():
        older = _stablehlo_version(jax.export.export(jax.jit(lambda x: x * 3))(x))
    after = _stablehlo_version(jax.export.export(jax.jit(lambda x: x * 4))(x))
    assert older != default and after == default, (
        f"jax {jax.__version__} no longer reads jax.export's StableHLO target where "
        "convert/_adapter_saved_model._stablehlo_for_older_consumers sets it "
        f"(default {default}, inside {older}): update that function")


def test_the_saved_model_export_writes_erf_without_its_composite():
    from rembert_jax.adapters._saved_model import _erf_without_composite

    x = jnp.ones((3,), jnp.float32)
    with _erf_without_composite():
        inside = jax.export.export(jax.jit(lambda x: jax.lax.erf(x) * 2))(x).mlir_module()
    after = jax.export.export(jax.jit(lambda x: jax.lax.erf(x) * 3))(x).mlir_module()
    assert "chlo.erf" not in inside and "chlo.erf" in after, (
        f"jax {jax.__version__} changed its lowering table for erf: update "
        "convert/_adapter_saved_model._erf_without_composite")


def test_fp8_still_finds_qwix_quantized_training_core():
    qwix = pytest.importorskip("qwix", reason="qwix is the `fp8` extra")
    from rembert_jax import fp8

    try:
        fp8._config.cache_clear()
        fp8._config()
    except (ImportError, AttributeError, TypeError) as e:
        pytest.fail(f"qwix {qwix.__version__} moved or changed its QT core (qwix._src.core.dot_general_qt): "
                    f"{e!r}; update rembert_jax.fp8._config, the one place that reads it")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 8)), jnp.float32)
    kernel = jnp.asarray(np.random.default_rng(1).normal(size=(8, 3)), jnp.float32)
    np.testing.assert_allclose(fp8.matmul_fp8(x, kernel), x @ kernel, rtol=0.15, atol=0.15)
