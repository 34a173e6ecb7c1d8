"""Run configs: YAML loading, dotted overrides, and errors that name the bad key."""

from __future__ import annotations

import os
import signal

import pytest

from rembert_jax.train.run_config import DistributedSection, RunConfig, distributed_settings, load_run_config


def _write(tmp_path, text: str):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides_build_the_run_config(tmp_path):
    path = _write(tmp_path, "task: masked_lm\noptim:\n  learning_rate: 1e-3\ntrain:\n  steps: 50\n")
    cfg = load_run_config(path, ["optim.learning_rate=3e-4", "train.batch_size=8", "export.formats=[pytorch, tf]",
                                 "data.train=x.jsonl", "model.overrides.num_hidden_layers=1"])
    assert cfg.task == "masked_lm"
    assert cfg.optim.learning_rate == 3e-4  # YAML 1.1 reads "3e-4" as a string; it is coerced
    assert (cfg.train.steps, cfg.train.batch_size) == (50, 8)
    assert cfg.export.formats == ("pytorch", "tf")
    assert cfg.data == {"train": "x.jsonl"}
    assert cfg.model.overrides == {"num_hidden_layers": 1}
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_remat_is_off_by_default_and_on_in_the_gpu_fine_tuning_config():
    assert RunConfig().model.remat == "none"
    assert load_run_config("demo").model.remat == "none"  # CPU demo: memory is no concern there
    assert load_run_config("finetune").model.remat == "dots"


@pytest.mark.parametrize("name", ["demo.yaml", "demo_mlm.yaml", "finetune.yaml"])
def test_shipped_run_configs_are_valid(name):
    from pathlib import Path

    from rembert_jax.train.data import DataSpec

    cfg = load_run_config(Path(__file__).parents[1] / "configs" / name)
    DataSpec.from_mapping(cfg.data)
    assert cfg.export.formats


@pytest.mark.parametrize("text, overrides, match", [
    ("optim:\n  learnin_rate: 1e-3\n", [], r"unknown key 'optim\.learnin_rate'.*known keys at optim: learning_rate"),
    ("colour: blue\n", [], r"unknown key 'colour'"),
    ("", ["train.stepz=3"], r"unknown key 'train\.stepz'"),
    ("train:\n  steps: many\n", [], r"train\.steps must be int, got 'many'"),
    ("train:\n  steps: 0\n", [], r"train\.steps must be >= 1, got 0"),
    ("optim:\n  learning_rate: -1\n", [], r"optim\.learning_rate must be > 0"),
    ("optim: 3\n", [], r"optim must be a mapping"),
    ("task: translation\n", [], r"task must be one of sequence_classification"),
    ("optim:\n  schedule: exponential\n", [], r"optim\.schedule must be one of linear, cosine, constant"),
    ("optim:\n  warmup_steps: 50\ntrain:\n  steps: 10\n", [], r"optim\.warmup_steps must be in \[0, train\.steps=10\]"),
    ("export:\n  formats: [onnx]\n", [], r"export\.formats must be a list of pytorch, tf"),
    ("checkpoint:\n  best_mode: best\n", [], r"checkpoint\.best_mode must be max or min"),
    ("model:\n  remat: all\n", [], r"model\.remat must be one of none, dots, full, got 'all'"),
    ("distributed:\n  num_processes: 2\n  process_id: 2\n", [],
     r"distributed\.process_id must be in \[0, distributed\.num_processes=2\), got 2"),
    ("", ["optim.learning_rate"], r"override 'optim\.learning_rate' must look like section\.key=value"),
    ("task: masked_lm\n", ["task.x=1"], r"'task' is not a section"),
    ("- a\n- b\n", [], r"must hold a YAML mapping"),
    ("a: [\n", [], r"not valid YAML"),
])
def test_bad_run_config_names_the_key(tmp_path, text, overrides, match):
    with pytest.raises(ValueError, match=match):
        load_run_config(_write(tmp_path, text), overrides)


def test_missing_run_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no run config at .*nope\.yaml'; shipped run configs: demo, "):
        load_run_config(tmp_path / "nope.yaml")


def test_shipped_run_configs_load_by_name_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here: the packaged copy is used
    assert load_run_config("demo").task == "sequence_classification"
    assert load_run_config("configs/demo_mlm.yaml").task == "masked_lm"


def test_train_command_reports_config_errors_with_exit_code_2(tmp_path, capsys):
    from rembert_jax.cli import main

    path = _write(tmp_path, "optim:\n  learnin_rate: 1e-3\n")
    assert main(["train", str(path)]) == 2
    assert "unknown key 'optim.learnin_rate'" in capsys.readouterr().err


def test_bad_data_section_is_reported_before_training(tmp_path, capsys):
    from rembert_jax.cli import main

    path = _write(tmp_path, f"output_dir: {tmp_path / 'run'}\ndata:\n  train: {tmp_path / 'missing.jsonl'}\n"
                            "  tokenizer: 'demo:'\n")
    assert main(["train", str(path)]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    path = _write(tmp_path, f"output_dir: {tmp_path / 'run'}\ndata:\n  trian: x.jsonl\n")
    assert main(["train", str(path)]) == 2
    assert "trian" in capsys.readouterr().err


def test_distributed_settings_come_from_the_run_config_or_the_environment():
    assert distributed_settings(DistributedSection(), {}) is None  # one process
    assert distributed_settings(DistributedSection(num_processes=1), {}) is None
    env = {"JAX_COORDINATOR_ADDRESS": "host0:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert distributed_settings(DistributedSection(), env) == {
        "coordinator_address": "host0:1234", "num_processes": 4, "process_id": 3}
    ours = DistributedSection(coordinator_address="10.0.0.1:99", num_processes=2, process_id=1)
    assert distributed_settings(ours, env) == {"coordinator_address": "10.0.0.1:99", "num_processes": 2,
                                               "process_id": 1}  # the run config wins
    # a coordinator alone: JAX detects the cluster (SLURM, ...)
    assert distributed_settings(DistributedSection(), {"JAX_COORDINATOR_ADDRESS": "h:1"}) == {
        "coordinator_address": "h:1", "num_processes": None, "process_id": None}


def test_bad_distributed_settings_are_explained():
    with pytest.raises(ValueError, match=r"num_processes=2 needs distributed\.coordinator_address"):
        distributed_settings(DistributedSection(num_processes=2, process_id=0), {})
    with pytest.raises(ValueError, match=r"JAX_NUM_PROCESSES must be an integer .*got 'two'"):
        distributed_settings(DistributedSection(), {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two"})
    with pytest.raises(ValueError, match=r"process_id must be in \[0, num_processes=2\), got 5"):
        distributed_settings(DistributedSection(), {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2",
                                                    "JAX_PROCESS_ID": "5"})


def test_interrupted_train_command_suggests_a_resume_with_the_same_flags(tmp_path, capsys, monkeypatch):
    # --output-dir moves the checkpoints: a resume command without it would look in the wrong place.
    from rembert_jax.cli import main
    from rembert_jax.train import trainer
    from rembert_jax.train.interrupts import RunInterrupted

    def interrupted(cfg, **kwargs):
        os.makedirs(os.path.join(cfg.output_dir, "checkpoints", "3"))
        raise RunInterrupted(signal.SIGINT, 4)

    monkeypatch.setattr(trainer, "train", interrupted)
    path = _write(tmp_path, "train:\n  steps: 5\n")
    run_dir = tmp_path / "my run"
    assert main(["train", str(path), "train.seed=3", "--output-dir", str(run_dir), "--export", "pytorch"]) == 130
    err = capsys.readouterr().err
    assert f"the checkpoints written are in {run_dir}/checkpoints (latest step 3): continue with" in err
    assert (f"rembert-jax train {path} train.seed=3 'export.formats=[pytorch]' 'output_dir={run_dir}' --resume"
            in err.replace("\n", " "))


def test_bench_command_without_the_benchmark_scripts_is_a_clear_error(tmp_path, capsys):
    from rembert_jax.cli import main

    assert main(["bench", "--benchmarks-dir", str(tmp_path), "forward"]) == 2
    assert "no benchmark scripts in" in capsys.readouterr().err
