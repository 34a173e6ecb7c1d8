"""save_pytorch writes what transformers' RemBertFor* classes load with no missing or unexpected
keys and the same outputs as ours; ours -> PyTorch -> ours is bit-exact; writes are atomic."""

from __future__ import annotations

import os

import numpy as np
import pytest
from convert_testing import assert_trees_equal, example_batch, our_outputs, random_params
from hf_reference import TASK_CLASSES, to_numpy

from rembert_jax.convert import load_pytorch, save_pytorch

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
TASKS = list(TASK_CLASSES)


@pytest.mark.parametrize("task", TASKS)
def test_transformers_loads_what_we_write_and_agrees(tiny_config, task, tmp_path):
    params = random_params(tiny_config, task)
    files = save_pytorch(tmp_path, tiny_config, params, task=task)
    assert files == ["model.safetensors", "config.json"]
    cls = getattr(transformers, TASK_CLASSES[task])
    model, info = cls.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    batch = example_batch(tiny_config, task)
    with torch.no_grad():
        theirs = model.eval()(**{k: torch.from_numpy(v) for k, v in batch.items()})
    for key, ours in our_outputs(tiny_config, task, params, batch).items():
        np.testing.assert_allclose(np.asarray(ours), to_numpy(theirs[key]), atol=1e-5, rtol=0, err_msg=key)


@pytest.mark.parametrize("task", TASKS)
def test_ours_to_pytorch_to_ours_is_bit_exact(tiny_config, task, tmp_path):
    params = random_params(tiny_config, task)
    save_pytorch(tmp_path, tiny_config, params, task=task)
    config, loaded = load_pytorch(tmp_path, task="auto")
    assert config.architectures == [TASK_CLASSES[task]]  # a list, as transformers keeps it
    assert_trees_equal(params, loaded)


def test_sharded_above_threshold_with_index_that_transformers_reads(tiny_config, tmp_path):
    params = random_params(tiny_config, "masked_lm")
    files = save_pytorch(tmp_path, tiny_config, params, task="masked_lm", max_shard_size="10KB")
    assert files[-2:] == ["model.safetensors.index.json", "config.json"] and len(files) > 3
    assert not os.path.exists(tmp_path / "model.safetensors")
    _, info = transformers.RemBertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    _, loaded = load_pytorch(tmp_path, task="masked_lm")
    assert_trees_equal(params, loaded)


def test_rewriting_a_sharded_checkpoint_as_one_file_removes_the_stale_shards(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    save_pytorch(tmp_path, tiny_config, params, max_shard_size="10KB", force=True)
    save_pytorch(tmp_path, tiny_config, params, force=True)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors", "tokenizer_config.json"]


def test_bf16_on_request_is_recorded_in_config(tiny_config, tmp_path):
    import ml_dtypes

    params = random_params(tiny_config, "base")
    save_pytorch(tmp_path, tiny_config, params, dtype="bfloat16")
    config, loaded = load_pytorch(tmp_path)
    assert config.dtype == "bfloat16"
    assert loaded["projection"]["kernel"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(loaded["projection"]["kernel"]),
                                  params["projection"]["kernel"].astype(ml_dtypes.bfloat16))


def test_interrupted_write_leaves_nothing_behind(tiny_config, tmp_path, monkeypatch):
    from rembert_jax.convert import files

    params = random_params(tiny_config, "base")
    target = tmp_path / "out"
    real = files.write_safetensors

    def crash(path, tensors, *args, **kwargs):
        real(path, tensors[:3], *args, **kwargs)  # part of the file is on disk...
        raise KeyboardInterrupt  # ...when the user presses ^C

    monkeypatch.setattr(files, "write_safetensors", crash)
    with pytest.raises(KeyboardInterrupt):
        save_pytorch(target, tiny_config, params)
    assert os.listdir(tmp_path) == []  # no target, no staging directory

    monkeypatch.setattr(files, "write_safetensors", real)
    save_pytorch(target, tiny_config, params)
    before = (target / "model.safetensors").read_bytes()
    monkeypatch.setattr(files, "write_safetensors", crash)
    with pytest.raises(KeyboardInterrupt):
        save_pytorch(target, tiny_config, random_params(tiny_config, "base", seed=5), force=True)
    assert (target / "model.safetensors").read_bytes() == before  # the old checkpoint is untouched
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_wrong_leaf_shape_is_named(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    params["layers"]["mlp"]["intermediate"]["kernel"] = np.zeros((2, 32, 40), np.float32)
    with pytest.raises(ValueError, match=r"layers/mlp/intermediate/kernel is \[2, 32, 40\], expected \[L>0, 32, 37\]"):
        save_pytorch(tmp_path, tiny_config, params)
    assert not os.listdir(tmp_path)


def test_leaf_without_a_name_is_refused(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    params["embeddings"]["extra"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"no name for: embeddings/extra"):
        save_pytorch(tmp_path, tiny_config, params)


def test_task_must_fit_the_params(tiny_config, tmp_path):
    params = random_params(tiny_config, "question_answering")
    with pytest.raises(ValueError, match=r"params hold a head: pass task= one of masked_lm"):
        save_pytorch(tmp_path, tiny_config, params)
    with pytest.raises(ValueError, match=r"params are a task model .* doesn't fit task='base'"):
        save_pytorch(tmp_path, tiny_config, params, task="base")
    with pytest.raises(ValueError, match=r"head/classifier/kernel is missing"):
        save_pytorch(tmp_path, tiny_config, params, task="token_classification")
