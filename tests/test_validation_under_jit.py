"""Checks that survive the user's own `jax.jit`: value-free checks read shapes and dtypes, which
tracers have, so they raise at trace time; value checks (ids in range) are kept by one line on the
host, `validate_inputs(inputs, config)`, before the jitted call (as the README shows)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rembert_jax import apply, init_params, validate_inputs


@pytest.fixture(scope="module")
def params(tiny_config):
    return jax.jit(lambda key: init_params(tiny_config, key))(jax.random.key(0))


@pytest.fixture(scope="module")
def users_jit():
    jitted = jax.jit(apply, static_argnames="config")  # what users write (README)
    # ... with the config's frozen, hashable form as the static argument, as the README shows
    return lambda params, inputs, config: jitted(params, inputs, config=config.frozen())


def _ids(config, length=5):
    return np.random.default_rng(0).integers(1, config.vocab_size, (2, length)).astype(np.int32)


def test_good_inputs_run_under_a_users_jit(tiny_config, params, users_jit):
    ids = _ids(tiny_config)
    out = users_jit(params, {"input_ids": ids, "attention_mask": np.ones_like(ids)}, config=tiny_config)
    expected = apply(params, {"input_ids": ids, "attention_mask": np.ones_like(ids)}, config=tiny_config)
    np.testing.assert_allclose(out["last_hidden_state"], expected["last_hidden_state"], atol=1e-6)


@pytest.mark.parametrize(("make", "message"), [
    (lambda ids: {"input_ids": ids, "attn_mask": np.ones_like(ids)},
     r"inputs has unknown key\(s\) 'attn_mask' \(did you mean 'attention_mask'\?\); allowed: input_ids, "),
    (lambda ids: {"input_ids": ids[:, :, None]}, r"input_ids must have shape \[batch, length\], got \(2, 5, 1\)"),
    (lambda ids: {"input_ids": ids.astype(np.float32)}, "input_ids must be an integer array, got dtype float32"),
    (lambda ids: {"input_ids": ids, "attention_mask": np.ones(2, np.int32)},
     r"attention_mask must have shape \[2, 5\] or \[2, 5, 5\], got \(2,\)"),
    (lambda ids: {"input_ids": ids, "token_type_ids": ids[:1]}, r"token_type_ids must have shape \[2, 5\]"),
])
def test_value_free_checks_raise_inside_a_users_jit(tiny_config, params, users_jit, make, message):
    with pytest.raises(ValueError, match=message):
        users_jit(params, make(_ids(tiny_config)), config=tiny_config)


def test_a_too_long_sequence_raises_inside_a_users_jit(tiny_config, params, users_jit):
    ids = _ids(tiny_config, tiny_config.max_position_embeddings + 1)
    with pytest.raises(ValueError, match=f"sequence length {ids.shape[1]} exceeds max_position_embeddings="):
        users_jit(params, {"input_ids": ids}, config=tiny_config)


def test_out_of_range_ids_under_a_users_jit_are_caught_by_the_documented_line(tiny_config, params, users_jit):
    ids = _ids(tiny_config)
    ids[1, 2] = tiny_config.vocab_size  # XLA would clamp this gather: a plausible-looking wrong answer
    inputs = {"input_ids": ids}
    with pytest.raises(ValueError, match=r"input_ids must be in \[0, 99\) \(vocab_size=99\); found 99 at index "
                                         r"\(1, 2\)"):
        validate_inputs(inputs, tiny_config)  # the README's one line before the jitted call
        users_jit(params, inputs, config=tiny_config)
    # Without it the values are out of reach inside the jit (tracers): no error, only NaN in that row.
    hidden = np.asarray(users_jit(params, inputs, config=tiny_config)["last_hidden_state"])
    assert np.isnan(hidden[1]).any() and np.isfinite(hidden[0]).all()


def test_a_task_models_batch_names_the_closest_allowed_key(tiny_config):
    from rembert_jax.heads import TaskModel

    model = TaskModel(tiny_config, "sequence_classification")
    ids = _ids(tiny_config)
    with pytest.raises(ValueError, match=r"'label' \(did you mean 'labels'\?\); allowed: input_ids"):
        jax.jit(model.apply)(None, {"input_ids": ids, "label": np.zeros(2, np.int32)})
