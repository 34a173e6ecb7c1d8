"""`rembert-jax predict CONFIG.yaml --input FILE --output predictions.jsonl`: one JSON line per example."""

from __future__ import annotations

import argparse
import json
import sys

from rembert_jax.atomic_write import write_text_atomic

from ._cmd_common import add_model_arguments, say


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--input", metavar="FILE",
                        help="examples to predict (same columns as training; targets not needed); "
                             "default: the config's data.test")
    parser.add_argument("--output", metavar="FILE", required=True, help="where to write the predictions (JSONL)")


def run(args: argparse.Namespace) -> int:
    from ._cmd_common import load_model_and_data, make_runner

    try:
        cfg, config, params, source, data, dataset = load_model_and_data(args, split="test", input_file=args.input)
        if cfg.task in ("masked_lm", "causal_lm"):
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
