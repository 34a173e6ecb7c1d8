"""The `rembert-jax` command line: one sub-command per job, each defined in its own module.

Every sub-command module exposes `add_arguments(parser)` and `run(args) -> int`; this file only
dispatches, and imports a sub-command's module (and so jax, torch, ...) only when it is used.
Every sub-command runs with JAX's persistent compilation cache on (`rembert_jax.compilation_cache`:
a per-user directory, `--compile-cache DIR` or $REMBERT_JAX_COMPILATION_CACHE to move it,
`--no-compile-cache` to keep it off), so a second start skips most compilation.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> (module defining add_arguments/run, one-line help)
COMMANDS = {
    "train": ("rembert_jax.cli.train", "fine-tune or pre-train from a run config (YAML)"),
    "eval": ("rembert_jax.cli.eval", "evaluate a checkpoint on a dataset"),
    "predict": ("rembert_jax.cli.predict", "write predictions of a checkpoint as JSONL"),
    "convert": ("rembert_jax.cli.convert", "convert weights between PyTorch, TF/Keras and JAX"),
    "bench": ("rembert_jax.cli.bench", "run a side-by-side benchmark against transformers"),
    "forward": ("rembert_jax.cli.forward", "encode a sentence with a preset or checkpoint"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rembert-jax", description="RemBERT in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        _add_compile_cache_arguments(command)
    return parser


def _add_compile_cache_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("compilation cache").add_mutually_exclusive_group()
    group.add_argument("--compile-cache", metavar="DIR",
                       help="JAX's persistent compilation cache directory (default: $REMBERT_JAX_COMPILATION_CACHE, "
                            "else ~/.cache/rembert-jax/jax or under $XDG_CACHE_HOME)")
    group.add_argument("--no-compile-cache", action="store_true", help="compile everything afresh, write no cache")


def _use_compile_cache(args: argparse.Namespace) -> bool:
    """Turn the cache on (or keep it off) as the arguments say; False after an error was printed."""
    from rembert_jax.compilation_cache import disable_compilation_cache, enable_compilation_cache

    if args.no_compile_cache:
        disable_compilation_cache()
        return True
    try:
        enable_compilation_cache(args.compile_cache)
    except OSError as e:
        if args.compile_cache is not None:  # asked for by name: an error
            print(f"error: {e} (--compile-cache)", file=sys.stderr)
            return False
        print(f"warning: {e}; running without the compilation cache", file=sys.stderr)  # an optimisation only
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not _use_compile_cache(args):
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
