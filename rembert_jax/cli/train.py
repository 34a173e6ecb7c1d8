"""`rembert-jax train CONFIG.yaml [key=value ...]`: fine-tune or pre-train from a run config."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from rembert_jax.convert.formats import WRITABLE_SPELLINGS, format_named

EPILOG = """examples:
  rembert-jax train configs/demo.yaml
  rembert-jax train configs/demo.yaml train.steps=100 optim.learning_rate=1e-3 output_dir=runs/quick
  rembert-jax train my_run.yaml --model path/to/hf_model --export pytorch tf
  rembert-jax train my_run.yaml --resume          # continue a stopped run exactly where it left off
  # two hosts, each running (with its own process_id) and the mesh over all their devices:
  rembert-jax train my_run.yaml distributed.coordinator_address=host0:1234 distributed.num_processes=2 \
      distributed.process_id=0 mesh.fsdp=-1
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("config", help="run config (YAML), e.g. configs/demo.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted overrides of the run config, e.g. optim.learning_rate=3e-4 train.steps=200")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest checkpoint in output_dir (same data position and rng)")
    parser.add_argument("--model", metavar="DIR",
                        help="starting weights in any format the converters read, or a Hub id such as "
                             "google/rembert (sets model.init_from)")
    parser.add_argument("--export", nargs="+", choices=WRITABLE_SPELLINGS, metavar="FORMAT",
                        help="export the final model: pytorch and/or tf (= tf-h5) for transformers, or tf-checkpoint, "
                             "jax (sets export.formats)")
    parser.add_argument("--output-dir", metavar="DIR", help="where the run writes everything (sets output_dir)")


def _say(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from rembert_jax.train.interrupts import RunInterrupted
    from rembert_jax.train.run_config import distributed_settings, load_run_config
    from rembert_jax.train.run_lock import RunLockedError
    from rembert_jax.train.trainer import NonFiniteLossError, train

    overrides = list(args.overrides)
    if args.model:
        overrides.append(f"model.init_from={args.model}")
    if args.export:
        overrides.append(f"export.formats=[{', '.join(args.export)}]")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    try:
        cfg = load_run_config(args.config, overrides)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        settings = distributed_settings(cfg.distributed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if settings is not None:  # before any other JAX call
        import jax

        from rembert_jax.distributed import initialize

        initialize(**settings)
        _say(f"joined the distributed run as process {jax.process_index()} of {jax.process_count()} "
             f"(coordinator {settings['coordinator_address']}, {jax.device_count()} devices in all)")
    _say(f"run config {args.config}: task {cfg.task}, {cfg.train.steps} steps of batch {cfg.train.batch_size}"
         f"{f' x {cfg.optim.grad_accum_steps} accumulated' if cfg.optim.grad_accum_steps > 1 else ''}, "
         f"writing to {cfg.output_dir}")
    try:
        result = train(cfg, resume=args.resume, log=_say)
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except RunInterrupted as e:
        print(_how_to_continue(cfg, args.config, overrides), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # a second Ctrl-C: it interrupted whatever was running (see interrupts.py)
        print(f"\nstopped at once. {_how_to_continue(cfg, args.config, overrides)}", file=sys.stderr)
        return 130
    except (OSError, ValueError, RunLockedError) as e:  # bad input, an unusable path, a gated Hub repo, a busy run
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(_report(result, args.config))
    return 0


def _how_to_continue(cfg, config_path: str, overrides: list[str]) -> str:
    """The one command that continues the run, by what is on disk: --resume only if a checkpoint is."""
    from rembert_jax.train.checkpoint import finished_steps
    from rembert_jax.train.trainer import CHECKPOINT_DIR

    checkpoints = os.path.join(cfg.output_dir, CHECKPOINT_DIR)
    # The effective overrides: --output-dir / --model / --export included, so the resume finds the run.
    command = ["rembert-jax", "train", config_path, *overrides]
    steps = finished_steps(checkpoints)
    if steps:
        return (f"the checkpoints written are in {checkpoints} (latest step {steps[-1]}): continue with "
                f"{shlex.join([*command, '--resume'])}")
    return f"no checkpoint was written yet: start again with {shlex.join(command)}"


def _report(result, config_path: str) -> str:
    from rembert_jax.tasks import get_task

    lines = [f"trained {result.step} steps in {result.seconds:.0f} s"]
    for name, metrics in (("eval split", result.eval_metrics), ("test split", result.test_metrics)):
        if metrics:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()) if isinstance(v, float))
            lines.append(f"{name}: {shown}")
    lines.append(f"checkpoints:  {result.checkpoint_dir} (latest step {result.last_checkpoint}"
                 + (f", best step {result.best_checkpoint})" if result.best_checkpoint != result.last_checkpoint
                    else ")"))
    lines.append(f"metrics:      {result.metrics_file} (one JSON line per step), summary {result.summary_file}")
    if result.tensorboard_dir:
        lines.append(f"tensorboard:  tensorboard --logdir {result.tensorboard_dir}")
    for fmt, directory in result.export_dirs.items():
        lines.append(f"export ({fmt}): {directory}")
    lines.append("next:")
    exported = {format_named(fmt).name for fmt in result.export_dirs}
    if exported & {"pytorch", "tf-h5"}:  # what transformers loads
        directory = next(iter(result.export_dirs.values()))
        cls = get_task(result.task).architecture
        prefix = "" if "pytorch" in exported else "TF"
        lines.append(f"  load it in transformers:  transformers.{prefix}{cls}.from_pretrained({directory!r})")
    lines.append(f"  evaluate:  rembert-jax eval {config_path} --checkpoint {result.checkpoint_dir}")
    if not get_task(result.task).language_model:
        lines.append(f"  predict:   rembert-jax predict {config_path} --input FILE.jsonl --output predictions.jsonl")
    return "\n".join(lines)
