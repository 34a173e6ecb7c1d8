"""A trained model for `eval` and `predict`: from a run's checkpoint, or from exported weights.

    --checkpoint DIR        a run's checkpoint directory (<output_dir>/checkpoints), or one step's folder
                            in it; default: the run config's output_dir. The best checkpoint by
                            `checkpoint.best_metric` when there is one, else the latest; --step picks one.
    --model DIR             weights in any format the converters read (e.g. an `export/` directory, another
                            run's checkpoint step or output_dir), or a Hub id (`google/rembert`)

A checkpoint stores the model config next to the train state, so nothing else is needed to read it;
its params are read by `rembert_jax.convert.load` (format "train-step"), never the optimizer state.
"""

from __future__ import annotations

import os

from rembert_jax import RemBertConfig
from rembert_jax.tasks import get_task

from .run_config import RunConfig


def _checkpoint_root(path: str) -> tuple[str, int | None]:
    """(checkpoint directory, step) for a checkpoint directory or one of its step folders."""
    from rembert_jax.convert.formats import is_train_step

    path = os.path.abspath(path)
    if is_train_step(path):
        return os.path.dirname(path.rstrip(os.sep)), int(os.path.basename(path.rstrip(os.sep)))
    return path, None


def load_from_checkpoint(cfg: RunConfig, checkpoint: str | None = None, step: int | None = None):
    """(model config, params, description) from a run's checkpoint."""
    from rembert_jax import convert

    from .checkpoint import Checkpoints
    from .trainer import CHECKPOINT_DIR

    directory = checkpoint or os.path.join(cfg.output_dir, CHECKPOINT_DIR)
    directory, step_in_path = _checkpoint_root(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no checkpoint directory at {directory}; train first (rembert-jax train CONFIG) "
                                "or pass --checkpoint / --model")
    checkpoints = Checkpoints(directory, cfg.checkpoint, read_only=True)
    try:
        step = step if step is not None else step_in_path
        if step is None:
            step = checkpoints.best_step()
        if step is None:
            raise FileNotFoundError(f"{directory} holds no checkpoint; train first or pass --model")
        if step not in checkpoints.all_steps():
            raise FileNotFoundError(f"no checkpoint for step {step} in {directory}; "
                                    f"available steps: {checkpoints.all_steps()}")
        saved = checkpoints.restore_config(step)
        saved_run = RunConfig.from_dict(saved["run"], source=f"checkpoint {step}")
        if saved_run.task != cfg.task:
            raise ValueError(f"the checkpoint in {directory} was trained for task {saved_run.task!r} but the run "
                             f"config says task {cfg.task!r}: use that run's config (or task={saved_run.task})")
        step_dir = checkpoints.step_dir(step)
    finally:
        checkpoints.close()
    config, params = convert.load(step_dir, format="train-step", task=saved_run.task)
    return config, params, f"checkpoint step {step} in {directory}"


def load_from_weights(cfg: RunConfig, model_dir: str):
    """(model config, params, description) from weights in any format the converters read."""
    from rembert_jax import convert

    from .starting_model import local_weights, weights_format

    model_dir = local_weights(model_dir, "--model")
    fmt = weights_format(model_dir, "--model")
    config, params = convert.load(model_dir, format=fmt, task=cfg.task)
    return config, params, f"{fmt} weights in {os.path.abspath(model_dir)}"


def with_model_labels(cfg: RunConfig, config: RemBertConfig) -> RunConfig:
    """The run config with `data.labels` set to the model's label names (the ids the head was trained on)."""
    if get_task(cfg.task).sized_by_num_labels and config.problem_type != "regression":
        return cfg.replace(**{"data.labels": [config.id2label[i] for i in range(config.num_labels)]})
    return cfg
