"""`rembert-jax predict CONFIG.yaml --input FILE --output predictions.jsonl`: one JSON line per example."""

from __future__ import annotations

import argparse
import json
import os
import sys

from rembert_jax.atomic_write import write_text_atomic
from rembert_jax.tasks import get_task

from ._common import add_model_arguments, say


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--input", metavar="FILE",
                        help="examples to predict (same columns as training; targets not needed); "
                             "default: the config's data.test")
    parser.add_argument("--output", metavar="FILE", required=True, help="where to write the predictions (JSONL)")


def run(args: argparse.Namespace) -> int:
    from ._common import load_model_and_data, make_runner

    try:
        cfg, config, params, source, data, dataset = load_model_and_data(args, split="test", input_file=args.input)
        _refuse_overwriting_the_input(cfg.data["test"], args.output)
        if get_task(cfg.task).language_model:
            raise ValueError(f"predict writes per-example predictions, which {cfg.task} has none of; "
                             "use rembert-jax eval for its perplexity")
    except (FileNotFoundError, PermissionError, ValueError) as e:  # PermissionError: a gated Hub repo
        print(f"error: {e}", file=sys.stderr)
        return 2
    say(f"predicting {dataset.source} ({len(dataset.examples)} examples) with {source}")
    rows = data.accumulate(make_runner(cfg, config, params), dataset).predictions()
    write_text_atomic(args.output, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(f"wrote {len(rows)} predictions to {args.output}")
    return 0


def _refuse_overwriting_the_input(input_file: str, output: str) -> None:
    """The predictions would replace the examples they were made from: compared by real path, so a
    symlink or a relative spelling of the same file is caught too."""
    from rembert_jax.train.data.files import resolve_path

    source = os.path.realpath(resolve_path(input_file))
    if os.path.realpath(output) == source:
        raise ValueError(f"--output {output} is the input file {source}: the predictions would replace the examples; "
                         "write them to another file")
