"""load_pytorch reads what transformers writes (safetensors, sharded, .bin), exactly, and names
every key that is missing, unexpected or mis-shaped."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from convert_testing import example_batch, our_outputs
from hf_reference import TASK_CLASSES, hf_model, to_numpy

from rembert_jax.convert import LoadingInfo, load_pytorch, name_table

torch = pytest.importorskip("torch")
TASKS = list(TASK_CLASSES)


def _state(model) -> dict[str, np.ndarray]:
    return {k: to_numpy(v) for k, v in model.state_dict().items()}


def _leaf(params, path):
    for part in path:
        params = params[part]
    return np.asarray(params)


def _assert_matches_state(params, state, config, task, *, pooler=None):
    """Every tensor of the table equals its state-dict entry, and every state-dict entry is used."""
    names = name_table(config, task, add_pooling_layer=pooler)
    for name in names:
        ours = _leaf(params, name.path)
        ours = ours if name.layer is None else ours[name.layer]
        theirs = state[name.pytorch] if name.pytorch in state else state[name.pytorch.removeprefix("rembert.")]
        np.testing.assert_array_equal(ours, theirs.T if name.pytorch_transposed else theirs, err_msg=name.pytorch)
    assert len(names) == len(state)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_config):
    """task -> (directory written by transformers' save_pretrained, its state dict)."""
    out = {}
    for task in TASKS:
        model = hf_model(tiny_config, task)
        folder = tmp_path_factory.mktemp(task)
        model.save_pretrained(folder)
        out[task] = (str(folder), _state(model))
    return out


@pytest.mark.parametrize("task", TASKS)
def test_every_task_checkpoint_loads_bit_exact(saved, tiny_config, task):
    folder, state = saved[task]
    config, params = load_pytorch(folder, task=task)
    assert config.architectures == [TASK_CLASSES[task]]  # a list, as transformers keeps it
    assert config.hidden_size == tiny_config.hidden_size
    if task != "base":
        assert set(params) == {"encoder", "head"}
    _assert_matches_state(params, state, tiny_config, task)


@pytest.mark.parametrize("task", TASKS)
def test_what_transformers_saves_we_load_and_agree_with(saved, tiny_config, task):
    folder, _ = saved[task]
    config, params = load_pytorch(folder, task=task)
    model = hf_model(tiny_config, task)  # the same seed: the very weights that were saved
    batch = example_batch(tiny_config, task)
    with torch.no_grad():
        theirs = model(**{k: torch.from_numpy(v) for k, v in batch.items()})
    for key, ours in our_outputs(config, task, params, batch).items():
        np.testing.assert_allclose(np.asarray(ours), to_numpy(theirs[key]), atol=1e-5, rtol=0, err_msg=key)


def test_table_spells_the_reference_keys_and_transposes(saved, tiny_config):
    """Hand-spelled spot checks, independent of the name table."""
    folder, state = saved["masked_lm"]
    _, p = load_pytorch(folder, task="masked_lm")
    enc, head = p["encoder"], p["head"]
    eq = np.testing.assert_array_equal
    eq(enc["embeddings"]["word"], state["rembert.embeddings.word_embeddings.weight"])
    eq(enc["embeddings"]["ln"]["scale"], state["rembert.embeddings.LayerNorm.weight"])
    eq(enc["projection"]["kernel"], state["rembert.encoder.embedding_hidden_mapping_in.weight"].T)
    eq(enc["layers"]["self_attention"]["query"]["kernel"][1],
       state["rembert.encoder.layer.1.attention.self.query.weight"].T)
    eq(enc["layers"]["self_attention"]["output"]["bias"][0], state["rembert.encoder.layer.0.attention.output.dense.bias"])
    eq(enc["layers"]["self_attention"]["ln"]["bias"][1], state["rembert.encoder.layer.1.attention.output.LayerNorm.bias"])
    eq(enc["layers"]["mlp"]["intermediate"]["kernel"][0], state["rembert.encoder.layer.0.intermediate.dense.weight"].T)
    eq(enc["layers"]["mlp"]["output"]["kernel"][1], state["rembert.encoder.layer.1.output.dense.weight"].T)
    eq(enc["layers"]["mlp"]["ln"]["scale"][1], state["rembert.encoder.layer.1.output.LayerNorm.weight"])
    eq(head["decoder"]["kernel"], state["cls.predictions.decoder.weight"].T)  # [O, V]
    eq(head["ln"]["scale"], state["cls.predictions.LayerNorm.weight"])
    assert head["decoder"]["kernel"].shape == (tiny_config.output_embedding_size, tiny_config.vocab_size)
    assert "pooler" not in enc


def test_base_checkpoint_keeps_its_pooler_and_loads_without_one(saved, tiny_config, tmp_path):
    folder, state = saved["base"]
    _, params = load_pytorch(folder)
    np.testing.assert_array_equal(params["pooler"]["kernel"], state["pooler.dense.weight"].T)
    no_pooler = hf_model(tiny_config, "base", add_pooling_layer=False)
    no_pooler.save_pretrained(tmp_path)
    _, params = load_pytorch(tmp_path)
    assert "pooler" not in params
    _assert_matches_state(params, _state(no_pooler), tiny_config, "base", pooler=False)


def test_sharded_safetensors_load_like_a_single_file(saved, tiny_config, tmp_path):
    model = hf_model(tiny_config, "sequence_classification")
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    assert os.path.isfile(tmp_path / "model.safetensors.index.json")
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".safetensors")]) > 1
    _, params = load_pytorch(tmp_path, task="sequence_classification")
    _assert_matches_state(params, _state(model), tiny_config, "sequence_classification")


def test_pytorch_model_bin_loads_with_weights_only(saved, tiny_config, tmp_path):
    folder, state = saved["question_answering"]
    model = hf_model(tiny_config, "question_answering")
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(Path(folder, "config.json").read_text())
    _, params = load_pytorch(tmp_path, task="question_answering")
    _assert_matches_state(params, state, tiny_config, "question_answering")


def test_weights_file_path_reads_config_beside_it_or_given(saved, tiny_config, tmp_path):
    folder, state = saved["base"]
    _, params = load_pytorch(os.path.join(folder, "model.safetensors"))
    _assert_matches_state(params, state, tiny_config, "base")
    lone = tmp_path / "weights.safetensors"
    lone.write_bytes(Path(folder, "model.safetensors").read_bytes())
    with pytest.raises(FileNotFoundError, match="no config.json beside .*weights.safetensors; pass config="):
        load_pytorch(lone)
    config, params = load_pytorch(lone, config=tiny_config)
    assert config is tiny_config
    _assert_matches_state(params, state, tiny_config, "base")


def test_prefixed_base_keys_and_legacy_position_ids_buffer_are_accepted(saved, tiny_config, tmp_path):
    """Old checkpoints carry `embeddings.position_ids`; some tools keep the `rembert.` prefix."""
    from safetensors.numpy import save_file

    _, state = saved["base"]
    renamed = {f"rembert.{k}": v for k, v in state.items()}
    renamed["rembert.embeddings.position_ids"] = np.arange(tiny_config.max_position_embeddings)[None]
    save_file(renamed, tmp_path / "model.safetensors")
    tiny_config.save_pretrained(tmp_path)
    _, params = load_pytorch(tmp_path)
    _assert_matches_state(params, state, tiny_config, "base")


def test_base_checkpoint_into_task_initialises_head_and_reports_it(saved, tiny_config, caplog):
    folder, state = saved["base"]
    with caplog.at_level(logging.WARNING, logger="rembert_jax.convert"):
        _, params, info = load_pytorch(folder, task="masked_lm", output_loading_info=True)
    assert isinstance(info, LoadingInfo)
    assert sorted(info.newly_initialized_keys) == sorted(
        f"cls.predictions.{m}.{p}" for m in ("dense", "LayerNorm", "decoder") for p in ("weight", "bias"))
    assert sorted(info.unused_keys) == ["pooler.dense.bias", "pooler.dense.weight"]
    assert "newly initialized" in caplog.text and "cls.predictions.decoder.weight" in caplog.text
    head = params["head"]
    assert head["decoder"]["kernel"].shape == (tiny_config.output_embedding_size, tiny_config.vocab_size)
    np.testing.assert_array_equal(head["ln"]["scale"], 1.0)
    np.testing.assert_array_equal(head["decoder"]["bias"], 0.0)
    assert 0.01 < float(np.std(head["dense"]["kernel"])) < 0.03  # normal(0.02)
    np.testing.assert_array_equal(params["encoder"]["embeddings"]["word"], state["embeddings.word_embeddings.weight"])


def test_mlm_checkpoint_into_sequence_classification_initialises_pooler_too(saved, tiny_config):
    folder, _ = saved["masked_lm"]
    _, params, info = load_pytorch(folder, task="sequence_classification", output_loading_info=True)
    assert set(info.newly_initialized_keys) >= {"rembert.pooler.dense.weight", "classifier.weight"}
    assert len(info.unused_keys) == 6  # the MLM head
    assert params["encoder"]["pooler"]["kernel"].shape == (tiny_config.hidden_size, tiny_config.hidden_size)


def test_head_checkpoint_into_bare_encoder_reports_unused_head(saved, tiny_config, caplog):
    folder, state = saved["token_classification"]
    with caplog.at_level(logging.WARNING, logger="rembert_jax.convert"):
        _, params, info = load_pytorch(folder, output_loading_info=True)
    assert sorted(info.unused_keys) == ["classifier.bias", "classifier.weight"]
    assert "were not used" in caplog.text
    assert "pooler" not in params
    np.testing.assert_array_equal(params["layers"]["mlp"]["ln"]["bias"][0],
                                  state["rembert.encoder.layer.0.output.LayerNorm.bias"])


@pytest.mark.parametrize("task", TASKS)
def test_auto_detects_the_task_from_architectures(saved, task):
    folder, _ = saved[task]
    _, params = load_pytorch(folder, task="auto")
    assert ("head" in params) == (task != "base")


def test_auto_detects_task_from_keys_without_architectures(saved, tmp_path):
    from rembert_jax.convert import detect_task
    from rembert_jax.convert.sources import open_safetensors

    folder, _ = saved["question_answering"]
    with open_safetensors(os.path.join(folder, "model.safetensors")) as source:
        from rembert_jax import RemBertConfig

        config = RemBertConfig.from_pretrained(folder).replace(architectures=None)
        assert detect_task(config, source.keys()) == "question_answering"


def test_decoder_with_cross_attention_loads(tiny_decoder_config, tmp_path):
    model = hf_model(tiny_decoder_config, "causal_lm")
    model.save_pretrained(tmp_path)
    _, params = load_pytorch(tmp_path, task="causal_lm")
    assert params["encoder"]["layers"]["cross_attention"]["query"]["kernel"].shape == (2, 32, 32)
    _assert_matches_state(params, _state(model), tiny_decoder_config, "causal_lm")


def test_dtype_casts_every_tensor(saved):
    import ml_dtypes

    folder, state = saved["base"]
    _, params = load_pytorch(folder, dtype="bfloat16")
    assert params["layers"]["mlp"]["output"]["kernel"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(np.asarray(params["embeddings"]["word"]),
                                  state["embeddings.word_embeddings.weight"].astype(ml_dtypes.bfloat16))


# ------------------------------------------------------------------------------ bad checkpoints


def _write_state(folder, state, config):
    from safetensors.numpy import save_file

    os.makedirs(folder, exist_ok=True)
    save_file(state, os.path.join(folder, "model.safetensors"))
    config.save_pretrained(folder)
    return folder


def test_missing_key_is_named(saved, tiny_config, tmp_path):
    _, state = saved["base"]
    state = dict(state)
    del state["encoder.layer.1.attention.self.key.bias"]
    _write_state(tmp_path, state, tiny_config)
    with pytest.raises(ValueError, match=r"model.safetensors does not match .*missing keys: "
                                         r"encoder\.layer\.1\.attention\.self\.key\.bias"):
        load_pytorch(tmp_path)


def test_missing_key_is_initialised_when_not_strict(saved, tiny_config, tmp_path):
    _, state = saved["base"]
    state = dict(state)
    del state["encoder.layer.1.attention.self.key.bias"]
    _write_state(tmp_path, state, tiny_config)
    _, params, info = load_pytorch(tmp_path, strict=False, output_loading_info=True)
    assert info.missing_keys == ["encoder.layer.1.attention.self.key.bias"]
    bias = np.asarray(params["layers"]["self_attention"]["key"]["bias"])
    np.testing.assert_array_equal(bias[1], 0.0)
    np.testing.assert_array_equal(bias[0], state["encoder.layer.0.attention.self.key.bias"])


def test_unexpected_key_is_named(saved, tiny_config, tmp_path):
    _, state = saved["base"]
    state = dict(state, **{"encoder.layer.2.output.dense.bias": np.zeros(32, np.float32)})
    _write_state(tmp_path, state, tiny_config)
    with pytest.raises(ValueError, match=r"unexpected keys: encoder\.layer\.2\.output\.dense\.bias"):
        load_pytorch(tmp_path)
    _, _, info = load_pytorch(tmp_path, strict=False, output_loading_info=True)
    assert info.unexpected_keys == ["encoder.layer.2.output.dense.bias"]


def test_wrong_shape_is_named_with_both_shapes(saved, tiny_config, tmp_path):
    folder, _ = saved["base"]
    with pytest.raises(ValueError, match=r"mis-shaped keys: embeddings\.word_embeddings\.weight is \[99, 18\] "
                                         r"in the checkpoint but RemBertModel of the given config needs \[99, 24\]"):
        load_pytorch(folder, config=tiny_config.replace(input_embedding_size=24), strict=False)


def test_classifier_with_other_label_count_is_a_shape_error(saved, tiny_config):
    folder, _ = saved["sequence_classification"]
    with pytest.raises(ValueError, match=r"classifier\.weight is \[2, 32\] in the checkpoint but .* needs \[5, 32\]"):
        load_pytorch(folder, task="sequence_classification", config=tiny_config.replace(num_labels=5))


def test_directory_without_weights_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"holds no PyTorch weights: expected one of model.safetensors"):
        load_pytorch(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing' does not exist"):
        load_pytorch(tmp_path / "nothing")


def test_wrong_file_is_named(tiny_config, tmp_path):
    (tmp_path / "model.safetensors").write_text("this is not a checkpoint")
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model.safetensors is not a readable safetensors file"):
        load_pytorch(tmp_path)
    (tmp_path / "weights.h5").write_text("x")
    with pytest.raises(ValueError, match=r"weights.h5: unknown PyTorch weights format"):
        load_pytorch(tmp_path / "weights.h5")


def test_truncated_safetensors_is_named(saved, tiny_config, tmp_path):
    folder, _ = saved["base"]
    data = Path(folder, "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model.safetensors.*(truncated|corrupt)"):
        load_pytorch(tmp_path)


class _NotATensor:
    pass


def test_pickle_that_is_not_plain_tensors_is_refused(tiny_config, tmp_path):
    torch.save({"embeddings.word_embeddings.weight": _NotATensor()}, tmp_path / "pytorch_model.bin")
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"pytorch_model.bin is not a plain PyTorch state dict: loading it with "
                                         r"weights_only=True failed"):
        load_pytorch(tmp_path)


def test_state_dict_with_non_tensor_entry_is_named(tiny_config, tmp_path):
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(2), "step": 3}, tmp_path / "pytorch_model.bin")
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"pytorch_model.bin: entry 'step' is a int, not a tensor"):
        load_pytorch(tmp_path)


def test_index_naming_a_missing_shard_is_named(saved, tmp_path):
    folder, _ = saved["base"]
    index = {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(Path(folder, "config.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"no such checkpoint file: .*model-00001-of-00002.safetensors"):
        load_pytorch(tmp_path)


def test_unknown_task_is_named(saved):
    folder, _ = saved["base"]
    with pytest.raises(ValueError, match=r"unknown task 'summarization'; choose one of base, masked_lm"):
        load_pytorch(folder, task="summarization")


def test_truncated_pytorch_model_bin_is_named(saved, tiny_config, tmp_path):
    model = hf_model(tiny_config, "base")
    torch.save(model.state_dict(), tmp_path / "full.bin")
    data = (tmp_path / "full.bin").read_bytes()
    (tmp_path / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    tiny_config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"pytorch_model.bin is not a readable PyTorch checkpoint .*truncated"):
        load_pytorch(tmp_path / "pytorch_model.bin")


def test_sharded_pytorch_model_bin_with_index_loads(saved, tiny_config, tmp_path):
    folder, state = saved["multiple_choice"]
    model = hf_model(tiny_config, "multiple_choice")
    items = list(model.state_dict().items())
    weight_map = {}
    for k, chunk in enumerate((items[: len(items) // 2], items[len(items) // 2:]), start=1):
        file = f"pytorch_model-0000{k}-of-00002.bin"
        torch.save(dict(chunk), tmp_path / file)
        weight_map.update({key: file for key, _ in chunk})
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (tmp_path / "config.json").write_text(Path(folder, "config.json").read_text())
    _, params = load_pytorch(tmp_path, task="multiple_choice")
    _assert_matches_state(params, state, tiny_config, "multiple_choice")


def test_a_missing_pooler_alone_is_initialised_without_a_whole_fresh_encoder(tiny_config):
    from rembert_jax.convert.fresh import fresh_params

    H = tiny_config.hidden_size
    for task in ("sequence_classification", "base"):
        names = name_table(tiny_config, task)
        wanted = [n for n in names if n.part in ("pooler", "head")]
        fresh = fresh_params(tiny_config, task, wanted)
        encoder = fresh["encoder"] if task != "base" else fresh
        assert list(encoder) == ["pooler"], task  # no 2 GB encoder built for one [H, H] matrix
        assert encoder["pooler"]["kernel"].shape == (H, H)
        np.testing.assert_array_equal(encoder["pooler"]["bias"], 0.0)
        assert 0.01 < float(np.std(encoder["pooler"]["kernel"])) < 0.03  # normal(0.02)


def test_an_index_naming_a_tensor_its_shard_lacks_closes_the_opened_shards(tmp_path):
    from rembert_jax.convert.sources import TensorSource, open_sharded

    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "one.safetensors", "b": "one.safetensors"}}))
    closed = []

    def open_shard(path):
        return TensorSource(path, {"a": (1,)}, lambda k: np.zeros(1), lambda: closed.append(path))

    with pytest.raises(ValueError, match=r"maps 'b' to one.safetensors, but that shard has no such tensor"):
        open_sharded(str(index), open_shard)
    assert closed == [str(tmp_path / "one.safetensors")]
