"""The `rembert-jax` command line, the top floor of the package: nothing else imports it.

One module per sub-command, each exposing `add_arguments(parser)` and `run(args) -> int`:
    train, eval, predict       a run config's training, evaluation and predictions (`rembert_jax.train`);
                               `_common` holds what eval and predict share (model and data loading)
    convert                    weights between formats (`rembert_jax.convert`)
    forward                    encode a sentence with a preset or checkpoint
    bench                      the side-by-side benchmarks (`rembert_jax.benchmarks`)
    dispatch                   the parser and `main(argv)`, the console script `rembert-jax`
                               (`python -m rembert_jax.cli` runs it too)
"""

from __future__ import annotations

from .dispatch import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
