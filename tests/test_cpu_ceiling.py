"""`benchmarks/cpu_ceiling.py`'s ceilings: the forward's is GEMMs at peak; a training step's floor
also holds the optimizer's memory-bound update, which no GEMM speed removes."""

import pytest

from rembert_jax.benchmarks.cpu_ceiling import ceiling


def test_forward_ceiling_is_peak_over_achieved_gemm_rate():
    row = ceiling({"torch_gflops": 200.0}, peak_gflops=300.0)
    assert row == {"fraction_of_peak": pytest.approx(2 / 3), "speedup_ceiling": pytest.approx(1.5)}


def test_training_floor_adds_the_optimizer_step_to_the_gemms_at_peak():
    # 1.0 s a step at 200 GFLOP/s is 200 GFLOP: 0.667 s at 300 GFLOP/s, plus a 0.1 s AdamW step.
    row = ceiling({"torch_gflops": 200.0, "torch_step_s": 1.0, "adamw_s": 0.1}, peak_gflops=300.0)
    assert row["gemm_at_peak_s"] == pytest.approx(2 / 3)
    assert row["floor_s"] == pytest.approx(2 / 3 + 0.1)
    assert row["speedup_ceiling"] == pytest.approx(1 / (2 / 3 + 0.1))

