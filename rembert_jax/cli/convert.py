"""`rembert-jax convert SRC DST --to {pytorch,tf-h5,tf-checkpoint,jax}`: convert weights.

The source format is detected (override with --from; a training run's step or output_dir reads as
train-step); --task picks or adds a head, --dtype casts. Format names are the one table's
(`rembert_jax.convert.formats`, aliases included). Heavy imports (jax, torch, tensorflow) happen
inside `run`, never at import time.
"""

from __future__ import annotations

import argparse

from rembert_jax.convert.formats import FORMATS, WRITABLE, format_named
from rembert_jax.tasks import BASE, TASKS

_TASKS = ("auto", BASE.name, *TASKS)
_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp16": "float16", "float16": "float16"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="source checkpoint: a directory, a weights file or a Hub id (google/rembert)")
    parser.add_argument("--revision", default=None, help="Hub id sources: the branch, tag or commit (default: main)")
    parser.add_argument("dst", help="destination directory")
    parser.add_argument("--to", required=True, type=_writable_format, metavar="{" + ",".join(WRITABLE) + "}",
                        help="format to write (jax = orbax; tf is accepted for tf-h5)")
    parser.add_argument("--from", dest="source_format", type=_format, default=None,
                        metavar="{" + ",".join(FORMATS) + "}",
                        help="source format (default: detected from the files; train-step = a training run's "
                             "checkpoint step, or its output_dir for the newest step)")
    parser.add_argument("--task", choices=_TASKS, default="auto",
                        help="model to convert: 'auto' keeps the source's head, 'base' the bare encoder, a task "
                             "name loads (or freshly initialises) that head")
    parser.add_argument("--dtype", choices=sorted(_DTYPES), default=None,
                        help="cast every tensor (default: keep the stored dtype)")
    parser.add_argument("--config", default=None,
                        help="config.json or preset name, for sources without one (e.g. original TF checkpoints)")
    parser.add_argument("--max-shard-size", default=None, help="PyTorch output: shard above this size (e.g. 5GB)")
    parser.add_argument("--non-strict", action="store_true",
                        help="initialise missing weights and ignore unexpected ones instead of failing")
    parser.add_argument("--force", action="store_true",
                        help="write into an existing non-empty destination, replacing only the files this format "
                             "writes (others are kept); never allowed when the destination holds the source")


def _format(name: str) -> str:
    """The table's name for `name` (an alias included); argparse reports the ValueError's message."""
    try:
        return format_named(name).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _writable_format(name: str) -> str:
    fmt = _format(name)
    if fmt not in WRITABLE:
        raise argparse.ArgumentTypeError(f"{fmt} is read only; write one of {', '.join(WRITABLE)}")
    return fmt


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from rembert_jax.config import RemBertConfig
    from rembert_jax.convert.destination import DestinationExistsError
    from rembert_jax.convert.dispatch import convert_checkpoint

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = RemBertConfig.from_pretrained(args.config) if args.config else None
        source_format, task = convert_checkpoint(
            args.src, args.dst, to=args.to, source_format=args.source_format,
            task=None if args.task == BASE.name else args.task, dtype=_DTYPES.get(args.dtype),
            config=config, strict=not args.non_strict, force=args.force, max_shard_size=args.max_shard_size,
            **({"revision": args.revision} if args.revision else {}))
    except DestinationExistsError as e:
        print(f"rembert-jax convert: error: {e.advice('--force')}", file=sys.stderr)
        return 2
    except (ValueError, OSError, ImportError) as e:  # OSError: a destination (or source) that can't be used
        print(f"rembert-jax convert: error: {e}", file=sys.stderr)
        return 2
    print(f"converted {args.src} ({source_format}, {task}) -> {args.dst} ({args.to})")
    return 0
