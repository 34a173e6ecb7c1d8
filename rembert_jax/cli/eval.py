"""`rembert-jax eval CONFIG.yaml`: the task's metrics of a trained model on the eval (or test) split."""

from __future__ import annotations

import argparse
import json
import sys

from rembert_jax.atomic_write import write_text_atomic

from ._common import add_model_arguments, say


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--split", choices=("eval", "test"), default="eval", help="which data split to score")
    parser.add_argument("--input", metavar="FILE", help="score this data file instead of the config's split")
    parser.add_argument("--output", metavar="FILE", help="also write the metrics as JSON here")


def run(args: argparse.Namespace) -> int:
    from ._common import load_model_and_data, make_runner

    try:
        cfg, config, params, source, data, dataset = load_model_and_data(args, split=args.split,
                                                                         input_file=args.input)
    except (FileNotFoundError, PermissionError, ValueError) as e:  # PermissionError: a gated Hub repo
        print(f"error: {e}", file=sys.stderr)
        return 2
    say(f"evaluating {source} on {dataset.source} ({len(dataset)} features)")
    try:
        metrics = data.evaluate(make_runner(cfg, config, params), dataset)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps({"source": source, "data": dataset.source, **metrics}, indent=2, sort_keys=True)
    print(text)
    if args.output:
        write_text_atomic(args.output, text + "\n")
        say(f"metrics written to {args.output}")
    return 0
