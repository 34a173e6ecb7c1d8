"""The `rembert-jax` command line: one sub-command per job, each defined in its own module.

Every sub-command module exposes `add_arguments(parser)` and `run(args) -> int`; this file only
dispatches, and imports a sub-command's module (and so jax, torch, ...) only when it is used.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> (module defining add_arguments/run, one-line help)
COMMANDS = {
    "train": ("rembert_jax.train.cmd_train", "fine-tune or pre-train from a run config (YAML)"),
    "eval": ("rembert_jax.train.cmd_eval", "evaluate a checkpoint on a dataset"),
    "predict": ("rembert_jax.train.cmd_predict", "write predictions of a checkpoint as JSONL"),
    "convert": ("rembert_jax.convert.cmd_convert", "convert weights between PyTorch, TF/Keras and JAX"),
    "bench": ("rembert_jax.train.cmd_bench", "run a side-by-side benchmark against transformers"),
    "forward": ("rembert_jax.train.cmd_forward", "encode a sentence with a preset or checkpoint"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rembert-jax", description="RemBERT in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # sub-command not built yet
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
