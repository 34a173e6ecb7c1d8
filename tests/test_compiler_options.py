"""rembert_jax.compiler_options.jit: our XLA options on the outermost jit, none when nested."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax.compiler_options import INFERENCE_OPTIONS, TRAINING_OPTIONS, jit


def _square_sum(x):
    return jnp.sum(x * x)


def test_the_library_options_are_options_xla_knows():
    x = jnp.arange(6.0)
    assert float(jit(_square_sum)(x)) == 55.0  # an unknown option name would fail this compile
    assert float(jit(_square_sum, training=True)(x)) == 55.0
    assert INFERENCE_OPTIONS != TRAINING_OPTIONS  # measured apart (see the module docstring)


def test_options_reach_the_top_level_compile():
    bad = jit(_square_sum, compiler_options={"xla_no_such_option_exists": True})
    with pytest.raises(Exception, match="xla_no_such_option_exists"):
        bad(jnp.arange(3.0))


def test_nested_calls_compile_without_options_and_agree():
    bad = jit(_square_sum, compiler_options={"xla_no_such_option_exists": True})  # unusable at top level
    x = jnp.arange(4.0)
    assert float(jax.jit(lambda x: bad(x) + 1)(x)) == 15.0  # inside the caller's jit
    np.testing.assert_allclose(jax.grad(bad)(x), 2 * x)  # under grad
    np.testing.assert_allclose(jax.vmap(bad)(x[:, None]), x * x)  # under vmap


def test_decorator_forms_and_jit_methods():
    @jit
    def plain(x):
        return x + 1

    from functools import partial

    @partial(jit, static_argnames=("power",))
    def pow_(x, *, power):
        return x**power

    x = jnp.arange(3.0)
    np.testing.assert_allclose(plain(x), x + 1)
    np.testing.assert_allclose(pow_(x, power=3), x**3)
    assert "add" in plain.lower(x).as_text()
    assert plain._cache_size() == 1


def test_calls_inside_a_trace_without_tracer_arguments_compile_without_options():
    bad = jit(_square_sum, compiler_options={"xla_no_such_option_exists": True})
    x = jnp.arange(4.0)  # closed over: concrete, yet the call happens while JAX traces
    assert float(jax.jit(lambda: bad(x))()) == 14.0
    assert jax.eval_shape(lambda: bad(x)).shape == ()
    assert float(jax.lax.fori_loop(0, 2, lambda i, acc: acc + bad(x), 0.0)) == 28.0
