"""Arguments and set-up shared by `rembert-jax eval` and `rembert-jax predict`."""

from __future__ import annotations

import argparse
import sys


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="the run config (YAML) the model was trained with, e.g. configs/demo.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides of the run config")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", metavar="DIR",
                        help="a run's checkpoint directory or one step's folder (default: <output_dir>/checkpoints; "
                             "the best checkpoint when checkpoint.best_metric is set, else the latest)")
    source.add_argument("--model", metavar="DIR", help="weights in any format the converters read, e.g. an export/ dir, "
                                                       "or a Hub id (google/rembert)")
    parser.add_argument("--step", type=int, help="the checkpoint step to use")
    parser.add_argument("--batch-size", type=int, help="examples per batch (default: train.eval_batch_size)")


def say(message: str) -> None:
    print(message, file=sys.stderr)


def load_model_and_data(args: argparse.Namespace, *, split: str, input_file: str | None = None):
    """(run config, model config, params, description, RunData with the `split` set) from the arguments."""
    from rembert_jax.train.run_config import load_run_config
    from rembert_jax.train.run_data import open_run_data
    from rembert_jax.train.trained_model import load_from_checkpoint, load_from_weights, with_model_labels

    overrides = list(args.overrides)
    if args.batch_size:
        overrides.append(f"train.eval_batch_size={args.batch_size}")
    cfg = load_run_config(args.config, overrides)
    if args.model:
        config, params, source = load_from_weights(cfg, args.model)
        if not cfg.data.get("tokenizer"):
            cfg = cfg.replace(**{"data.tokenizer": args.model})
    else:
        config, params, source = load_from_checkpoint(cfg, args.checkpoint, args.step)
    cfg = with_model_labels(cfg, config)
    if input_file is not None:
        cfg = cfg.replace(**{f"data.{split}": input_file})
    data = open_run_data(cfg, splits=(split,))
    dataset = data.test if split == "test" else data.eval
    if dataset is None:
        raise ValueError(f"data.{split} is not set in {args.config}: name the file to use "
                         f"(e.g. data.{split}=path/to/file.jsonl)")
    return cfg, config, params, source, data, dataset


def make_runner(cfg, config, params):
    """`run(model_inputs) -> numpy outputs` with the eval step jitted once per bucket length."""
    import jax

    from rembert_jax.heads import TaskModel
    from rembert_jax.train.step import make_eval_step, replicated

    model = TaskModel(config, cfg.task, cfg.model.dtype)
    step = make_eval_step(model)
    params = jax.device_put(params, replicated())  # once, where the step runs (not again every batch)
    return lambda inputs: jax.device_get(step(params, inputs))
