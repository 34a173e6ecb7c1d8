"""Keras `tf_model.h5` (and its sharded-h5 / TF-safetensors variants) read and written with h5py,
in the layout transformers 4.x TFRemBert* classes use (spec §5.1-5.2)."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from convert_testing import assert_trees_equal, random_params
from hf_reference import TASK_CLASSES, hf_model, to_numpy

from rembert_jax.convert import load_keras, load_pytorch, save_keras, save_pytorch
from rembert_jax.convert.keras_h5 import _read_attribute, _write_attribute

TASKS = list(TASK_CLASSES)


def _tf_to_pytorch(name: str, prefixed: bool) -> tuple[str, bool]:
    """transformers' generic TF -> PT name translation (spec §5.1), written out independently of our
    name table: returns (PyTorch key, whether the array is transposed)."""
    name = name.removesuffix(":0").split("/", 1)[1]  # drop the model-name segment
    parts = [p.split("___")[-1] for p in name.split("/")]
    name = ".".join(parts).replace("_._", ".")
    transpose = name.endswith(".kernel")
    for old, new in ((".kernel", ".weight"), (".embeddings", ".weight"), (".gamma", ".weight"), (".beta", ".bias")):
        if name.endswith(old):
            name = name[: -len(old)] + new
    if prefixed and name.startswith("rembert."):
        return name, transpose
    return name.removeprefix("rembert."), transpose


@pytest.mark.parametrize("task", TASKS)
def test_written_h5_has_the_keras_layout_transformers_reads(tiny_config, task, tmp_path):
    model = hf_model(tiny_config, task)
    model.save_pretrained(tmp_path / "pt")
    config, params = load_pytorch(tmp_path / "pt", task=task)
    save_keras(tmp_path / "tf", config, params, task=task)
    state = {k: to_numpy(v) for k, v in model.state_dict().items()}
    seen = set()
    with h5py.File(tmp_path / "tf" / "tf_model.h5", "r") as f:
        layers = _read_attribute(f, "layer_names")
        head_layer = {"masked_lm": "mlm___cls", "causal_lm": "mlm___cls", "question_answering": "qa_outputs"}
        # transformers' classifier classes list their weightless Dropout (Keras' fresh-session name:
        # one Dropout in the embeddings and three per layer are built before it)
        dropout = [f"dropout_{1 + 3 * tiny_config.num_hidden_layers}"] if head_layer.get(task) is None else []
        assert layers == ["rembert"] + ([] if task == "base" else [*dropout, head_layer.get(task, "classifier")])
        for layer in layers:
            for weight in _read_attribute(f[layer], "weight_names"):
                model_name = "tf_rem_bert_" + {"base": "model"}.get(task, "for_" + task)
                assert weight.startswith(f"{model_name}/{layer}") and weight.endswith(":0")
                key, transposed = _tf_to_pytorch(weight, prefixed=task != "base")
                value = f[layer][weight][()]
                np.testing.assert_array_equal(value.T if transposed else value, state[key], err_msg=weight)
                seen.add(key)
    assert seen == set(state)
    assert json.loads((tmp_path / "tf" / "config.json").read_text())["architectures"] == [TASK_CLASSES[task]]


@pytest.mark.parametrize("task", TASKS)
def test_ours_to_h5_to_ours_is_bit_exact(tiny_config, task, tmp_path):
    params = random_params(tiny_config, task)
    save_keras(tmp_path, tiny_config, params, task=task)
    _, loaded = load_keras(tmp_path, task="auto")
    assert_trees_equal(params, loaded)


def test_lm_decoder_is_stored_vocab_first_like_pytorch(tiny_config, tmp_path):
    params = random_params(tiny_config, "masked_lm")
    save_keras(tmp_path, tiny_config, params, task="masked_lm")
    with h5py.File(tmp_path / "tf_model.h5", "r") as f:
        decoder = f["mlm___cls/tf_rem_bert_for_masked_lm/mlm___cls/predictions/decoder/weight:0"][()]
        dense = f["mlm___cls/tf_rem_bert_for_masked_lm/mlm___cls/predictions/dense/kernel:0"][()]
    np.testing.assert_array_equal(decoder, params["head"]["decoder"]["kernel"].T)  # [V, O]
    np.testing.assert_array_equal(dense, params["head"]["dense"]["kernel"])  # [H, O], as ours


def test_long_attributes_are_chunked_as_keras_does(tmp_path):
    names = [f"tf_rem_bert_model/rembert/encoder/layer_._{i}/attention/self/query/kernel:0" for i in range(2000)]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        _write_attribute(f, "weight_names", names)
        assert "weight_names" not in f.attrs and "weight_names0" in f.attrs and "weight_names1" in f.attrs
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert _read_attribute(f, "weight_names") == names


def _stripped_variables(params, config, task):
    """(stripped variable name, stored array) as late transformers 4.x writes the sharded / safetensors
    TF layouts (spec §5.2), built from the single-file h5 we write."""
    from rembert_jax.convert.names import name_table

    out = {}
    for name in name_table(config, task):
        leaf = params
        for part in name.path:
            leaf = leaf[part]
        value = np.asarray(leaf if name.layer is None else leaf[name.layer])
        out[f"{name.keras}:0"] = np.ascontiguousarray(value.T if name.keras_transposed else value)
    return out


def test_sharded_h5_variant_loads(tiny_config, tmp_path):
    params = random_params(tiny_config, "token_classification")
    variables = _stripped_variables(params, tiny_config, "token_classification")
    keys = list(variables)
    shards = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
    weight_map = {}
    for k, shard in enumerate(shards, start=1):
        file = f"tf_model-0000{k}-of-00002.h5"
        with h5py.File(tmp_path / file, "w") as f:
            _write_attribute(f, "layer_names", shard)
            for key in shard:
                f.create_dataset(key, data=variables[key])
        weight_map.update({f"tf_rem_bert_for_token_classification/{key}": file for key in shard})
    (tmp_path / "tf_model.h5.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    tiny_config.save_pretrained(tmp_path)
    _, loaded = load_keras(tmp_path, task="token_classification")
    assert_trees_equal(params, loaded)


def test_tf_safetensors_variant_loads_and_is_refused_as_pytorch(tiny_config, tmp_path):
    from safetensors.numpy import save_file

    params = random_params(tiny_config, "question_answering")
    save_file(_stripped_variables(params, tiny_config, "question_answering"), tmp_path / "model.safetensors",
              metadata={"format": "tf"})
    tiny_config.save_pretrained(tmp_path)
    _, loaded = load_keras(tmp_path, task="question_answering")
    assert_trees_equal(params, loaded)
    with pytest.raises(ValueError, match=r"model.safetensors holds TensorFlow weights .*load_keras"):
        load_pytorch(tmp_path)


def test_pytorch_safetensors_is_refused_as_keras(tiny_config, tmp_path):
    save_pytorch(tmp_path, tiny_config, random_params(tiny_config, "base"))
    with pytest.raises(FileNotFoundError, match=r"holds no TensorFlow weights"):
        load_keras(tmp_path)
    with pytest.raises(ValueError, match=r"holds 'pt'-format weights, not TensorFlow"):
        load_keras(tmp_path / "model.safetensors")


def test_h5_from_a_base_model_into_a_head_initialises_the_head(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    save_keras(tmp_path, tiny_config, params)
    _, loaded, info = load_keras(tmp_path, task="sequence_classification", output_loading_info=True)
    assert sorted(info.newly_initialized_keys) == ["classifier/bias", "classifier/kernel"]
    assert_trees_equal(params, loaded["encoder"])


def test_not_an_h5_file_is_named(tiny_config, tmp_path):
    (tmp_path / "tf_model.h5").write_bytes(b"\x00" * 64)
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"tf_model.h5 is not a readable HDF5 file"):
        load_keras(tmp_path)


def test_h5_without_keras_attributes_is_named(tiny_config, tmp_path):
    with h5py.File(tmp_path / "tf_model.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"tf_model.h5 has no 'layer_names' attribute"):
        load_keras(tmp_path)


def test_h5_with_other_sizes_is_a_named_shape_error(tiny_config, tmp_path):
    save_keras(tmp_path, tiny_config, random_params(tiny_config, "base"))
    with pytest.raises(ValueError, match=r"rembert/encoder/layer_._0/intermediate/dense/kernel:0 is \[32, 37\] in "
                                         r"the checkpoint but RemBertModel of the given config needs \[32, 40\]"):
        load_keras(tmp_path, config=tiny_config.replace(intermediate_size=40))


def test_bf16_is_refused_for_h5(tiny_config, tmp_path):
    with pytest.raises(ValueError, match=r"Keras h5 stores float32/float16 weights, not bfloat16"):
        save_keras(tmp_path / "out", tiny_config, random_params(tiny_config, "base"), dtype="bfloat16")
    assert not os.path.exists(tmp_path / "out")
