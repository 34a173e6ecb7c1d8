"""Original Google TF1 checkpoints (`bert/...`, spec §5.4): read what TensorFlow itself writes,
skipping optimizer slots and pre-training heads; write what `tf.train.load_checkpoint` reads back."""

from __future__ import annotations

import numpy as np
import pytest
from convert_testing import assert_trees_equal, random_params
from hf_reference import TASK_CLASSES, hf_model, to_numpy

from rembert_jax.convert import load_pytorch, load_tf_checkpoint, save_tf_checkpoint

tf = pytest.importorskip("tensorflow")
TASKS = list(TASK_CLASSES)


def _google_name(pt_key: str) -> tuple[str, bool]:
    """The inferred original name of a base-model PyTorch key (spec §5.4), spelled out independently of
    our name table: (TF1 name, whether the array is the transpose of PyTorch's)."""
    parts = pt_key.split(".")
    out, i = [], 0
    while i < len(parts):
        if parts[i] == "layer" and i + 1 < len(parts) and parts[i + 1].isdigit():
            out.append(f"layer_{parts[i + 1]}")
            i += 2
            continue
        out.append(parts[i])
        i += 1
    leaf = out.pop()
    if out[-1].endswith("_embeddings"):
        return "bert/" + "/".join(out), False
    if out[-1] == "LayerNorm":
        return "bert/" + "/".join(out) + ("/gamma" if leaf == "weight" else "/beta"), False
    return "bert/" + "/".join(out) + ("/kernel" if leaf == "weight" else "/bias"), leaf == "weight"


def _write_google_checkpoint(folder, variables: dict[str, np.ndarray]) -> None:
    """A TF1 estimator-style checkpoint written by TensorFlow's own (v1, graph-mode) Saver."""
    with tf.Graph().as_default():
        for name, value in variables.items():
            tf.compat.v1.get_variable(name, initializer=tf.constant(value))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(folder / "model.ckpt"), global_step=1000)


def _google_variables(config, seed=0, with_training_state=True):
    state = {k: to_numpy(v) for k, v in hf_model(config, "base", seed=seed).state_dict().items()}
    variables = {}
    for key, value in state.items():
        name, transposed = _google_name(key)
        variables[name] = np.ascontiguousarray(value.T if transposed else value)
        if with_training_state:
            variables[f"{name}/adam_m"] = np.zeros_like(value)
            variables[f"{name}/adam_v"] = np.zeros_like(value)
    if with_training_state:
        variables["global_step"] = np.int64(1000)
        variables["cls/predictions/output_bias"] = np.zeros(config.vocab_size, np.float32)
        variables["cls/predictions/output_embedding"] = np.zeros((config.vocab_size, 7), np.float32)
    return state, variables


def test_google_checkpoint_reads_like_the_pytorch_conversion(tiny_config, tmp_path):
    state, variables = _google_variables(tiny_config)
    _write_google_checkpoint(tmp_path, variables)
    tiny_config.save_pretrained(tmp_path)
    config, params, info = load_tf_checkpoint(tmp_path, output_loading_info=True)  # latest: model.ckpt-1000
    assert info.unexpected_keys == [] and info.missing_keys == []
    assert sorted(info.unused_keys) == ["cls/predictions/output_bias", "cls/predictions/output_embedding"]
    np.testing.assert_array_equal(params["layers"]["self_attention"]["query"]["kernel"][1],
                                  state["encoder.layer.1.attention.self.query.weight"].T)
    np.testing.assert_array_equal(params["embeddings"]["ln"]["scale"], state["embeddings.LayerNorm.weight"])
    from safetensors.numpy import save_file

    save_file(state, tmp_path / "model.safetensors")
    _, reference = load_pytorch(tmp_path / "model.safetensors", config=tiny_config)
    assert_trees_equal(reference, params)


def test_checkpoint_prefix_and_rembert_spelled_prefix_are_accepted(tiny_config, tmp_path):
    state, variables = _google_variables(tiny_config, with_training_state=False)
    _write_google_checkpoint(tmp_path, {name.replace("bert/", "rembert/", 1): v for name, v in variables.items()})
    _, params = load_tf_checkpoint(tmp_path / "model.ckpt-1000", config=tiny_config)
    np.testing.assert_array_equal(params["pooler"]["kernel"], state["pooler.dense.weight"].T)


def test_smaller_input_embedding_loads_when_the_config_says_so(tiny_config, tmp_path):
    small = tiny_config.replace(input_embedding_size=12)
    state, variables = _google_variables(small)
    _write_google_checkpoint(tmp_path, variables)
    _, params = load_tf_checkpoint(tmp_path, config=small)
    np.testing.assert_array_equal(params["embeddings"]["word"], state["embeddings.word_embeddings.weight"])
    assert params["projection"]["kernel"].shape == (12, tiny_config.hidden_size)
    with pytest.raises(ValueError, match=r"bert/embeddings/word_embeddings is \[99, 12\] in the checkpoint but "
                                         r"RemBertModel of the given config needs \[99, 18\]"):
        load_tf_checkpoint(tmp_path, config=tiny_config)


@pytest.mark.parametrize("task", TASKS)
def test_ours_to_tf_checkpoint_to_ours_is_bit_exact(tiny_config, task, tmp_path):
    params = random_params(tiny_config, task)
    save_tf_checkpoint(tmp_path, tiny_config, params, task=task)
    _, loaded = load_tf_checkpoint(tmp_path, task="auto")
    assert_trees_equal(params, loaded)


def test_written_checkpoint_has_the_original_names_and_layout(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    files = save_tf_checkpoint(tmp_path, tiny_config, params)
    assert {"checkpoint", "config.json", "model.ckpt.index"} <= set(files)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt")
    reader = tf.train.load_checkpoint(str(tmp_path))
    names = set(reader.get_variable_to_shape_map())
    assert len(names) == 9 + 16 * tiny_config.num_hidden_layers
    np.testing.assert_array_equal(reader.get_tensor("bert/encoder/layer_1/attention/self/query/kernel"),
                                  params["layers"]["self_attention"]["query"]["kernel"][1])  # [in, out]
    np.testing.assert_array_equal(reader.get_tensor("bert/embeddings/LayerNorm/gamma"),
                                  params["embeddings"]["ln"]["scale"])
    np.testing.assert_array_equal(reader.get_tensor("bert/encoder/embedding_hidden_mapping_in/kernel"),
                                  params["projection"]["kernel"])


def test_task_checkpoint_into_the_bare_encoder_reports_its_head_unused(tiny_config, tmp_path):
    params = random_params(tiny_config, "question_answering")
    save_tf_checkpoint(tmp_path, tiny_config, params, task="question_answering")
    _, loaded, info = load_tf_checkpoint(tmp_path, output_loading_info=True)
    assert sorted(info.unused_keys) == ["cls/squad/output_bias", "cls/squad/output_weights"]
    assert_trees_equal(params["encoder"], loaded)


def test_missing_checkpoint_and_config_are_named(tiny_config, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no TF checkpoint at .*: expected a directory holding model.ckpt.index"):
        load_tf_checkpoint(tmp_path, config=tiny_config)
    save_tf_checkpoint(tmp_path / "c", tiny_config, random_params(tiny_config, "base"))
    (tmp_path / "c" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"no config.json beside .*model.ckpt; pass config="):
        load_tf_checkpoint(tmp_path / "c")


def test_corrupt_checkpoint_is_named(tiny_config, tmp_path):
    save_tf_checkpoint(tmp_path, tiny_config, random_params(tiny_config, "base"))
    (tmp_path / "model.ckpt.index").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match=r"model.ckpt is not a readable TF checkpoint"):
        load_tf_checkpoint(tmp_path)
