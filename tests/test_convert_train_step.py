"""A training run's checkpoint step (format "train-step") read by `rembert-jax convert`, the adapters'
`from_pretrained` and `model.init_from` / `--model`; a run directory means its newest step that reads."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from convert_testing import assert_trees_equal
from train_run_testing import config_text, write_data

import rembert_jax


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 4-step run of the tiny classifier with checkpoints at steps 2 and 4 and a PyTorch export."""
    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.trainer import train

    root = tmp_path_factory.mktemp("run")
    write_data(root)
    (root / "run.yaml").write_text(config_text(
        root, root / "out", train={"steps": 4, "eval_every": None},
        checkpoint={"every": 2, "keep": 2, "best_metric": None}))
    train(load_run_config(root / "run.yaml"), log=lambda m: None)
    return root


def _exported(root):
    from rembert_jax.convert import load_pytorch

    return load_pytorch(root / "out" / "export", task="sequence_classification")


def test_a_step_folder_and_a_run_directory_are_detected_and_read(run):
    from rembert_jax.convert import detect_format, load

    out = run / "out"
    for path in (out, out / "checkpoints", out / "checkpoints" / "4", out / "checkpoints" / "2"):
        assert detect_format(path) == "train-step"
    config, final = _exported(run)
    loaded_config, latest = load(out, task="auto")  # the run directory: its newest step (4) = the export
    assert loaded_config.id2label == config.id2label
    assert_trees_equal(final, latest)
    _, step_2 = load(out / "checkpoints" / "2", task="sequence_classification")
    assert not np.array_equal(step_2["head"]["classifier"]["kernel"], final["head"]["classifier"]["kernel"])
    _, encoder = load(out, task="base")
    assert_trees_equal(final["encoder"], encoder)


def test_a_run_directory_skips_a_newer_step_that_does_not_read(run, tmp_path, caplog):
    from rembert_jax.convert import load

    shutil.copytree(run / "out" / "checkpoints", tmp_path / "checkpoints")
    (tmp_path / "checkpoints" / "4" / "config" / "metadata").unlink()  # a save that never finished writing
    with caplog.at_level(logging.WARNING):
        _, params = load(tmp_path, task="auto")
    assert "checkpoints/4: not a readable training checkpoint step" in caplog.text
    assert_trees_equal(load(run / "out" / "checkpoints" / "2", task="auto")[1], params)
    with pytest.raises(ValueError, match=r"checkpoints/4: not a readable training checkpoint step"):
        load(tmp_path / "checkpoints" / "4")  # a step named on its own is read or refused, never replaced


def test_a_run_directory_is_resolved_once_for_its_config_and_its_weights(run, tmp_path, caplog):
    from rembert_jax.convert import load
    from rembert_jax.convert.dispatch import pin_source

    shutil.copytree(run / "out" / "checkpoints", tmp_path / "checkpoints")
    (tmp_path / "checkpoints" / "4" / "config" / "metadata").unlink()
    with caplog.at_level(logging.WARNING):
        assert pin_source(str(tmp_path), "train-step") == str(tmp_path / "checkpoints" / "2")
        caplog.clear()
        config, _ = load(tmp_path, task="auto", overrides={"classifier_dropout_prob": 0.25})  # config, then weights
    assert caplog.text.count("not a readable training checkpoint step") == 1
    assert config.classifier_dropout_prob == 0.25
    assert pin_source(str(tmp_path / "checkpoints" / "4"), "pytorch") == str(tmp_path / "checkpoints" / "4")


def test_rembert_jax_convert_reads_a_training_step(run, tmp_path, capsys):
    from rembert_jax.cli import main
    from rembert_jax.convert import load_pytorch

    assert main(["convert", str(run / "out"), str(tmp_path / "pt"), "--to", "pytorch"]) == 0
    assert "(train-step, sequence_classification)" in capsys.readouterr().out
    assert_trees_equal(_exported(run)[1], load_pytorch(tmp_path / "pt", task="auto")[1])
    step = str(run / "out" / "checkpoints" / "2")
    assert main(["convert", step, str(tmp_path / "h5"), "--from", "train-step", "--to", "tf", "--task", "base"]) == 0
    from rembert_jax.convert import load, load_keras

    assert_trees_equal(load(step, task="base")[1], load_keras(tmp_path / "h5")[1])
    assert main(["convert", step, str(tmp_path / "x"), "--to", "pytorch", "--task", "masked_lm"]) == 2
    assert "holds a sequence_classification model, not masked_lm" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse refuses it, before anything is read
        main(["convert", step, str(tmp_path / "y"), "--to", "train-step"])
    assert refused.value.code == 2
    assert "train-step is read only" in capsys.readouterr().err


def test_from_pretrained_reads_a_training_step(run, caplog):
    out = run / "out"
    exported = rembert_jax.RemBertForSequenceClassification.from_pretrained(out / "export")
    from_run = rembert_jax.RemBertForSequenceClassification.from_pretrained(out)
    inputs = {"input_ids": np.array([[5, 6, 7, 8]]), "attention_mask": np.ones((1, 4), np.int32)}
    np.testing.assert_array_equal(from_run(**inputs).logits, exported(**inputs).logits)
    with caplog.at_level(logging.WARNING):
        other = rembert_jax.RemBertForMaskedLM.from_pretrained(out / "checkpoints" / "4")
    assert "newly initialized" in caplog.text and other(**inputs).logits.shape[-1] == other.config.vocab_size


def test_model_init_from_and_eval_model_read_a_training_run(run, tmp_path):
    from safetensors.numpy import load_file

    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.trained_model import load_from_weights
    from rembert_jax.train.trainer import train

    out = run / "out"
    # warmup from 0: the single step's update is exactly zero, so the export equals the start
    cfg = load_run_config(run / "run.yaml", [f"output_dir={tmp_path / 'next'}", f"model.init_from={out}",
                                             "train.steps=1", "optim.warmup_steps=1", "checkpoint.every=null"])
    train(cfg, log=lambda m: None)
    before, after = load_file(out / "export" / "model.safetensors"), load_file(tmp_path / "next" / "export" / "model.safetensors")
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)

    config, params, source = load_from_weights(load_run_config(run / "run.yaml"), str(out / "checkpoints" / "2"))
    assert source.startswith("train-step weights in ")
    assert_trees_equal(rembert_jax.convert.load(out / "checkpoints" / "2", task="auto")[1], params)
