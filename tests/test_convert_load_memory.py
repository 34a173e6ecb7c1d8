"""Loading streams tensors onto the device (issue 15, item 9): the host never holds a second copy
of the model. Host allocations are counted with tracemalloc (numpy reports its buffers to it), so
the check is deterministic; benchmarks/bench_load_memory.py measures the real peak RSS."""

from __future__ import annotations

import tracemalloc

import jax
import numpy as np
import pytest
from convert_testing import assert_trees_equal, random_params

from rembert_jax.convert import convert_checkpoint, load_orbax, load_pytorch, save_pytorch


@pytest.fixture(scope="module")
def wide_config(tiny_config):
    """Many mid-sized tensors: the model (~9 MB) is far larger than any one of them (<= 0.6 MB)."""
    return tiny_config.replace(num_hidden_layers=6, hidden_size=128, intermediate_size=512, vocab_size=1000,
                               input_embedding_size=64)


def _model_bytes(params) -> int:
    return sum(np.asarray(x).nbytes for x in jax.tree_util.tree_leaves(params))


def _host_peak(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_loading_never_holds_the_model_on_the_host(wide_config, tmp_path):
    params = random_params(wide_config, "base")
    save_pytorch(tmp_path / "pt", wide_config, params)
    model_bytes = _model_bytes(params)
    largest = max(np.asarray(x)[0].nbytes if x.ndim == 3 else np.asarray(x).nbytes
                  for x in jax.tree_util.tree_leaves(params))
    assert largest < model_bytes / 10
    _, loaded = load_pytorch(tmp_path / "pt")  # compiles the in-place update once
    assert_trees_equal(params, loaded)
    assert all(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(loaded))
    del loaded
    peak = _host_peak(lambda: load_pytorch(tmp_path / "pt"))
    assert peak < model_bytes / 3, (peak, model_bytes)  # a host tree moved afterwards costs >= model_bytes


def test_convert_to_jax_reads_onto_the_device_and_round_trips(wide_config, tmp_path, monkeypatch):
    from rembert_jax.convert import dispatch

    params = random_params(wide_config, "base")
    save_pytorch(tmp_path / "pt", wide_config, params)
    seen = {}
    real = dispatch.read_checkpoint

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen["leaves"] = jax.tree_util.tree_leaves(out[1])
        return out

    monkeypatch.setattr(dispatch, "read_checkpoint", spy)
    convert_checkpoint(tmp_path / "pt", tmp_path / "jax", to="jax")
    assert seen["leaves"] and all(isinstance(x, jax.Array) for x in seen["leaves"])
    assert_trees_equal(params, load_orbax(tmp_path / "jax")[1])
