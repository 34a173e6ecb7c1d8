"""Whole training runs on a tiny model and a slice of the demo data: exact kill-and-resume, NaN stop,
checkpoints, export that transformers loads, and the eval / predict commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from rembert_jax.train.data_files import DEMO_DIR

LANGUAGES = ("en", "ru", "zh")


def _write_data(directory) -> None:
    rows = [r for r in _read_jsonl(DEMO_DIR / "train.jsonl") if r["label"] in LANGUAGES]
    for name, part in (("train.jsonl", rows[:36]), ("dev.jsonl", rows[36:48])):
        with open(directory / name, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)


def _read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _config_text(data_dir, output_dir, **sections) -> str:
    base = {
        "task": "sequence_classification",
        "output_dir": str(output_dir),
        "model": {"config": "tiny", "overrides": {
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "input_embedding_size": 16,
            "output_embedding_size": 16, "intermediate_size": 37, "max_position_embeddings": 32,
            "hidden_dropout_prob": 0.1}},  # dropout on: the resumed run must draw the same masks
        "data": {"train": str(data_dir / "train.jsonl"), "eval": str(data_dir / "dev.jsonl"),
                 "labels": list(LANGUAGES), "tokenizer": "demo:", "max_length": 32, "buckets": [16, 32]},
        "optim": {"learning_rate": 3e-3, "warmup_steps": 2},
        "train": {"steps": 12, "batch_size": 4, "log_every": 1, "eval_every": 6, "progress_bar": False},
        "checkpoint": {"every": 3, "keep": 2, "best_metric": "accuracy"},
        "export": {"formats": ["pytorch"]},
    }
    for key, value in sections.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    return json.dumps(base)  # JSON is YAML


def _records(output_dir) -> list[dict]:
    from rembert_jax.train.run_log import read_records

    return [{k: v for k, v in r.items() if k != "examples_per_second"}
            for r in read_records(os.path.join(output_dir, "metrics.jsonl"))]


def _weights(output_dir) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(os.path.join(output_dir, "export", "model.safetensors"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """An uninterrupted run of the command line, in its own process like the killed and resumed ones
    (results are bitwise reproducible from process to process, not across differently warmed-up ones)."""
    root = tmp_path_factory.mktemp("run")
    _write_data(root)
    config = root / "run.yaml"
    config.write_text(_config_text(root, root / "uninterrupted"))
    done = _train(config)
    assert done.returncode == 0, done.stderr
    with open(root / "uninterrupted" / "summary.json") as f:
        return root, config, SimpleNamespace(**json.load(f))


def _train(config, *args, prelude: str = ""):
    script = f"{prelude}\nimport sys\nfrom rembert_jax.train.cli import main\nsys.exit(main({['train', str(config), *args]!r}))"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_run_writes_checkpoints_metrics_and_summary(finished_run):
    root, _, result = finished_run
    assert result.step == 12
    assert sorted(int(s) for s in os.listdir(result.checkpoint_dir)) == sorted({9, 12} | {result.best_checkpoint})
    records = _records(result.output_dir)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 13))
    assert [r["step"] for r in records if "eval/accuracy" in r] == [6, 12]
    with open(os.path.join(result.output_dir, "summary.json")) as f:
        summary = json.load(f)
    assert summary["step"] == 12 and summary["train_loss"] is not None
    assert os.path.isfile(os.path.join(result.export_dirs["pytorch"], "model.safetensors"))


def test_killed_and_resumed_run_equals_the_uninterrupted_one(finished_run, tmp_path):
    root, _, uninterrupted = finished_run
    config = tmp_path / "run.yaml"
    config.write_text(_config_text(root, tmp_path / "resumed"))
    # A real process, killed with SIGKILL right after it logged step 8 (its checkpoint at step 6 may
    # still be in flight: whatever is committed is what the resume starts from).
    killer = textwrap.dedent("""
        import os, signal
        from rembert_jax.train import run_log
        write = run_log.RunLog.write
        def write_then_die(self, step, record):
            write(self, step, record)
            if step == 8 and "loss" in record:
                self.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        run_log.RunLog.write = write_then_die
    """)
    killed = _train(config, prelude=killer)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not os.path.exists(tmp_path / "resumed" / "summary.json")
    assert [r["step"] for r in _records(tmp_path / "resumed") if "loss" in r][-1] == 8

    resumed = _train(config, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stderr

    assert _records(tmp_path / "resumed") == _records(uninterrupted.output_dir)
    with open(tmp_path / "resumed" / "summary.json") as f:
        assert json.load(f)["train_loss"] == uninterrupted.train_loss  # also over steps before the resume
    ours, theirs = _weights(tmp_path / "resumed"), _weights(uninterrupted.output_dir)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_resume_refuses_a_changed_config_and_a_fresh_start_refuses_old_checkpoints(finished_run):
    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.trainer import train

    _, config, _ = finished_run
    with pytest.raises(ValueError, match=r"differs from the checkpoint's in model\.overrides\.hidden_size, "
                                         r"train\.batch_size, which the checkpoint can't continue with"):
        train(load_run_config(config, ["train.batch_size=8", "model.overrides.hidden_size=64"]), resume=True,
              log=lambda m: None)
    with pytest.raises(FileExistsError, match="already holds checkpoints: continue that run with --resume"):
        train(load_run_config(config), log=lambda m: None)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(finished_run, tmp_path):
    from rembert_jax.train.checkpoint import Checkpoints
    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.trainer import NonFiniteLossError, train

    root, _, _ = finished_run
    config = tmp_path / "run.yaml"
    # An absurd learning rate: step 1 moves every weight by ~1e30, step 2's forward pass overflows.
    config.write_text(_config_text(root, tmp_path / "nan", optim={"learning_rate": 1e30, "warmup_steps": 0,
                                                                  "schedule": "constant", "max_grad_norm": None},
                                   checkpoint={"every": 1, "best_metric": None}))
    cfg = load_run_config(config)
    with pytest.raises(NonFiniteLossError, match=r"stopped at step 2: the loss is nan.*last good checkpoint is "
                                                 r"step 1 in .*--resume optim\.learning_rate=1e\+29 optim\.max_grad_norm"):
        train(cfg, log=lambda m: None)
    with Checkpoints(tmp_path / "nan" / "checkpoints", cfg.checkpoint, read_only=True) as checkpoints:
        assert checkpoints.all_steps() == [1]
    records = _records(tmp_path / "nan")
    assert records[-1]["step"] == 2 and records[-1]["loss"] is None


def test_resume_with_a_deliberately_changed_learning_rate_trains_on_with_a_note(finished_run, tmp_path):
    import shutil

    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.trainer import train

    root, config, uninterrupted = finished_run
    shutil.copytree(uninterrupted.checkpoint_dir, tmp_path / "more" / "checkpoints")
    notes = []
    cfg = load_run_config(config, [f"output_dir={tmp_path / 'more'}", "optim.learning_rate=1e-4", "optim.max_grad_norm=0.5",
                                   "train.steps=14", "export.formats=[]"])
    result = train(cfg, resume=True, log=notes.append)
    assert result.step == 14
    changed = next(note for note in notes if note.startswith("resuming with changed settings"))
    assert "optim.learning_rate 0.003 -> 0.0001" in changed and "train.steps 12 -> 14" in changed


def test_export_loads_in_transformers_and_agrees_with_our_model(finished_run):
    import jax
    import torch
    import transformers

    from rembert_jax.heads import TaskModel
    from rembert_jax.train.trained_model import load_from_checkpoint

    root, config, result = finished_run
    export = result.export_dirs["pytorch"]
    model = transformers.RemBertForSequenceClassification.from_pretrained(export).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(export)
    assert model.config.id2label == dict(enumerate(LANGUAGES))

    from rembert_jax.train.run_config import load_run_config

    ours_config, params, _ = load_from_checkpoint(load_run_config(config), step=12)
    batch = tokenizer(["The cat sat on the mat.", "Все люди рождаются свободными."], padding=True, return_tensors="np")
    ours = TaskModel(ours_config, "sequence_classification").apply(params, dict(batch))["logits"]
    with torch.no_grad():
        theirs = model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(jax.device_get(ours), theirs, atol=1e-5)


def test_eval_and_predict_commands_use_the_checkpoint(finished_run, tmp_path, capsys):
    from rembert_jax.train.cli import main

    root, config, result = finished_run
    metrics_file = tmp_path / "eval" / "metrics.json"
    assert main(["eval", str(config), "--step", "12", "--output", str(metrics_file)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] == pytest.approx(result.eval_metrics["accuracy"])
    assert json.loads(metrics_file.read_text()) == metrics  # the same JSON, in a directory made for it

    out = tmp_path / "predictions.jsonl"
    assert main(["predict", str(config), "--input", str(root / "dev.jsonl"), "--output", str(out), "--step", "12"]) == 0
    assert f"wrote 12 predictions to {out}" in capsys.readouterr().out
    rows, gold = _read_jsonl(out), _read_jsonl(root / "dev.jsonl")
    assert [r["id"] for r in rows] == [g["id"] for g in gold]
    assert {r["prediction"] for r in rows} <= set(LANGUAGES)
    accuracy = np.mean([r["prediction"] == g["label"] for r, g in zip(rows, gold, strict=True)])
    assert accuracy == pytest.approx(result.eval_metrics["accuracy"])

    assert main(["eval", str(config), "--model", result.export_dirs["pytorch"]]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(result.eval_metrics["accuracy"])


def test_eval_from_a_checkpoint_of_another_task_names_both_tasks(finished_run):
    import dataclasses

    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.trained_model import load_from_checkpoint

    _, config, _ = finished_run
    cfg = dataclasses.replace(load_run_config(str(config)), task="token_classification")
    with pytest.raises(ValueError, match=r"trained for task 'sequence_classification' but the run config says "
                                         r"task 'token_classification'"):
        load_from_checkpoint(cfg, step=12)
