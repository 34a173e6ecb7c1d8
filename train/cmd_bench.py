"""`rembert-jax bench WHICH [ARGS...]`: run one side-by-side benchmark against transformers.

The benchmarks live in the repository's `benchmarks/` folder (they are not part of the installed
package: they need torch and transformers, and they are measurements, not library code). From a
source checkout (editable install) they are found next to the package; otherwise pass
`--benchmarks-dir`. Everything after WHICH goes to the script, e.g.

    rembert-jax bench forward --layers 4 --shapes 8x128 --dtypes fp32
    rembert-jax bench train --shapes 64x128 --dtype bf16
    rembert-jax bench mixed-length --examples 64
    rembert-jax bench gpu-check --smoke
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = {
    "forward": "bench_forward.py",
    "train": "bench_train_step.py",
    "mixed-length": "bench_mixed_length.py",
    "gpu-check": "gpu_check.py",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmarks-dir", default=None,
                        help="folder holding the benchmark scripts (default: benchmarks/ of the source checkout)")
    parser.add_argument("which", choices=sorted(BENCHMARKS), help="which comparison to run")
    parser.add_argument("script_args", nargs=argparse.REMAINDER,
                        help="arguments for the benchmark script (see `rembert-jax bench WHICH --help`)")


def _benchmarks_dir(explicit: str | None) -> Path:
    # default: train/cmd_bench.py -> the checkout root -> benchmarks/
    folder = Path(explicit) if explicit is not None else Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / "_common.py").is_file():
        raise FileNotFoundError(
            f"no benchmark scripts in {folder}: the benchmarks ship with the source repository, not the wheel. "
            "Run from a clone (pip install -e .) or pass --benchmarks-dir path/to/benchmarks")
    return folder


def run(args) -> int:
    try:
        folder = _benchmarks_dir(args.benchmarks_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    script = folder / BENCHMARKS[args.which]
    sys.path.insert(0, str(folder))  # the scripts import their shared `_common` helpers
    spec = importlib.util.spec_from_file_location(f"rembert_bench_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.main(args.script_args) or 0)
