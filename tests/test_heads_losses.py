"""The loss functions against torch.nn's definitions on random logits (fp32), and the rules around
them: ignore index, NaN when everything is ignored, the causal shift, problem_type resolution,
QA clamping, and that nothing the caller passed is changed."""

from __future__ import annotations

import numpy as np
import pytest

from rembert_jax.heads import losses, resolve_problem_type

ATOL = 1e-6


def _t(x):
    import torch

    return torch.tensor(np.asarray(x))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


def test_cross_entropy_ignores_minus_100_like_torch(rng):
    import torch.nn.functional as F

    logits = (10 * rng.normal(size=(9, 5))).astype(np.float32)  # large logits: logsumexp must be stable
    labels = np.array([0, 4, -100, 2, -100, 1, 3, 3, -100])
    expected = F.cross_entropy(_t(logits), _t(labels)).item()
    np.testing.assert_allclose(float(losses.cross_entropy(logits, labels)), expected, atol=ATOL, rtol=0)


def test_cross_entropy_with_num_items_in_batch_divides_the_sum():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    labels = np.array([0, 1, -100])
    total = float(losses.cross_entropy(logits, labels)) * 2
    np.testing.assert_allclose(float(losses.cross_entropy(logits, labels, num_items_in_batch=8)), total / 8,
                               rtol=1e-6)


def test_cross_entropy_of_only_ignored_targets_is_nan_like_torch():
    import torch.nn.functional as F

    logits, labels = np.zeros((3, 4), np.float32), np.full((3,), -100)
    assert np.isnan(F.cross_entropy(_t(logits), _t(labels)).item())
    assert np.isnan(float(losses.cross_entropy(logits, labels)))


def test_causal_lm_loss_predicts_the_next_token(rng):
    import torch.nn.functional as F

    logits = rng.normal(size=(2, 6, 11)).astype(np.float32)
    labels = rng.integers(0, 11, (2, 6))
    labels[0, 2] = labels[1, 5] = -100
    manual = F.cross_entropy(_t(logits[:, :-1]).reshape(-1, 11), _t(labels[:, 1:]).reshape(-1)).item()
    np.testing.assert_allclose(float(losses.causal_lm_loss(logits, labels)), manual, atol=ATOL, rtol=0)


def test_causal_lm_loss_upcasts_half_precision_logits(rng):
    import jax.numpy as jnp

    logits = rng.normal(size=(1, 4, 7)).astype(np.float32)
    labels = rng.integers(0, 7, (1, 4))
    half = losses.causal_lm_loss(jnp.asarray(logits, jnp.bfloat16), labels)
    assert half.dtype == jnp.float32
    full = losses.causal_lm_loss(jnp.asarray(logits, jnp.bfloat16).astype(jnp.float32), labels)
    assert float(half) == float(full)


def test_mse_and_bce_with_logits_match_torch(rng):
    import torch.nn.functional as F

    x, y = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(float(losses.mse_loss(x, y)), F.mse_loss(_t(x), _t(y)).item(), atol=ATOL)
    hot = rng.integers(0, 2, (4, 3)).astype(np.float32)
    x = 20 * x  # saturated sigmoids: the stable form matters
    np.testing.assert_allclose(float(losses.bce_with_logits_loss(x, hot)),
                               F.binary_cross_entropy_with_logits(_t(x), _t(hot)).item(), atol=1e-5)


@pytest.mark.parametrize(
    ("num_labels", "problem_type", "dtype", "expected"),
    [
        (1, None, np.float32, "regression"),
        (1, None, np.int32, "regression"),
        (3, None, np.int32, "single_label_classification"),
        (3, None, np.int64, "single_label_classification"),
        (3, None, np.float32, "multi_label_classification"),
        (3, "regression", np.float32, "regression"),
        (1, "single_label_classification", np.int32, "single_label_classification"),
    ],
)
def test_problem_type_is_resolved_like_transformers(tiny_config, num_labels, problem_type, dtype, expected):
    config = tiny_config.replace(num_labels=num_labels, problem_type=problem_type)
    assert resolve_problem_type(config, np.zeros((2,), dtype)) == expected
    assert config.problem_type == problem_type  # never written back


def test_question_answering_loss_clamps_a_copy_and_ignores_out_of_range(rng):
    import torch

    S = 6
    start_logits, end_logits = rng.normal(size=(2, 3, S)).astype(np.float32)
    start = np.array([1, S + 4, -2])
    end = np.array([[2], [S], [9]])
    start_before, end_before = start.copy(), end.copy()
    ours = float(losses.question_answering_loss(start_logits, end_logits, start, end))
    np.testing.assert_array_equal(start, start_before)  # transformers clamps its inputs in place; we don't
    np.testing.assert_array_equal(end, end_before)

    ce = torch.nn.CrossEntropyLoss(ignore_index=S)
    s, e = _t(start).clamp(0, S), _t(end).squeeze(-1).clamp(0, S)
    expected = ((ce(_t(start_logits), s) + ce(_t(end_logits), e)) / 2).item()
    np.testing.assert_allclose(ours, expected, atol=ATOL, rtol=0)


def test_question_answering_loss_is_nan_when_every_position_is_outside():
    logits = np.zeros((2, 4), np.float32)
    assert np.isnan(float(losses.question_answering_loss(logits, logits, np.array([4, 7]), np.array([5, 4]))))
