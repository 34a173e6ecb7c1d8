"""Starting weights from a transformers checkpoint (`--model DIR` / `model.init_from`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hf_reference import hf_model

from rembert_jax.train.data.files import DEMO_DIR

LANGUAGES = ("en", "ru", "zh")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    with open(DEMO_DIR / "train.jsonl", encoding="utf-8") as f:
        rows = [r for r in map(json.loads, f) if r["label"] in LANGUAGES][:8]
    with open(root / "train.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return root


def _run_config(data_dir, output_dir, init_from, **train):
    from rembert_jax.train.run_config import RunConfig

    return RunConfig.from_dict({
        "task": "sequence_classification", "output_dir": str(output_dir),
        "model": {"init_from": str(init_from)},
        "data": {"train": str(data_dir / "train.jsonl"), "labels": list(LANGUAGES), "tokenizer": "demo:",
                 "max_length": 32, "buckets": [32]},
        # warmup from 0: the single step's update is exactly zero, so the export must equal the start
        "optim": {"learning_rate": 1e-3, "warmup_steps": 1},
        "train": {"steps": 1, "batch_size": 4, "progress_bar": False, **train},
        "checkpoint": {"every": None},
        "export": {"formats": ["pytorch", "tf"]},
    })


def test_fine_tuning_starts_from_the_pytorch_weights(tiny_config, data_dir, tmp_path):
    import jax
    from safetensors.numpy import load_file

    from rembert_jax.convert import load_keras, load_pytorch
    from rembert_jax.train.trainer import train

    config = tiny_config.replace(vocab_size=3000, max_position_embeddings=32, id2label=dict(enumerate(LANGUAGES)))
    start = tmp_path / "start"
    hf_model(config, "sequence_classification", seed=3).save_pretrained(start)

    result = train(_run_config(data_dir, tmp_path / "run", start), log=lambda m: None)

    before, after = load_file(start / "model.safetensors"), load_file(tmp_path / "run" / "export" / "model.safetensors")
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert result.step == 1
    # The Keras h5 export holds the same weights.
    _, from_h5 = load_keras(tmp_path / "run" / "export", task="sequence_classification")
    _, from_pt = load_pytorch(start, task="sequence_classification")
    jax.tree_util.tree_map(np.testing.assert_array_equal, from_h5, from_pt)


def test_a_bare_encoder_checkpoint_gets_a_fresh_head_sized_by_the_labels(tiny_config, data_dir, tmp_path):
    from safetensors.numpy import load_file

    from rembert_jax.train.trainer import train

    start = tmp_path / "start"
    hf_model(tiny_config.replace(vocab_size=3000, max_position_embeddings=32), "base", seed=4).save_pretrained(start)

    train(_run_config(data_dir, tmp_path / "run", start), log=lambda m: None)

    after = load_file(tmp_path / "run" / "export" / "model.safetensors")
    assert after["classifier.weight"].shape == (len(LANGUAGES), tiny_config.hidden_size)
    np.testing.assert_array_equal(after["rembert.embeddings.word_embeddings.weight"],
                                  load_file(start / "model.safetensors")["embeddings.word_embeddings.weight"])


def test_a_checkpoint_with_a_smaller_vocabulary_than_the_tokenizer_is_refused(tiny_config, data_dir, tmp_path):
    from rembert_jax.train.trainer import train

    start = tmp_path / "start"
    hf_model(tiny_config, "base").save_pretrained(start)  # vocab_size 99 < the demo tokenizer's 3000
    with pytest.raises(ValueError, match=r"tokenizer has 3000 tokens but the model's vocabulary only 99"):
        train(_run_config(data_dir, tmp_path / "run", start), log=lambda m: None)
    with pytest.raises(FileNotFoundError, match=r"model\.init_from: .*nowhere.* does not exist"):
        train(_run_config(data_dir, tmp_path / "run2", tmp_path / "nowhere"), log=lambda m: None)


def test_tf_format_safetensors_are_read_as_keras_weights_like_the_adapters_do(tmp_path):
    # transformers' TF classes write model.safetensors with metadata format="tf" (Keras names).
    from safetensors.numpy import save_file

    from rembert_jax.train.starting_model import weights_format

    save_file({"x": np.zeros(1, np.float32)}, str(tmp_path / "model.safetensors"), metadata={"format": "tf"})
    assert weights_format(str(tmp_path)) == "tf-h5"  # the one table's name (was the loaders' own "keras_h5")
    assert weights_format(str(tmp_path / "model.safetensors")) == "tf-h5"
