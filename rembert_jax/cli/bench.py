"""`rembert-jax bench WHICH [ARGS...]`: run one side-by-side benchmark against transformers.

The benchmarks live in the repository's `benchmarks/` folder, installed as `rembert_jax.benchmarks`
(in the wheel too; they import torch and transformers only when they run, so those stay optional
until then). `--benchmarks-dir` runs another copy of the scripts instead. Everything after WHICH
goes to the script, e.g.

    rembert-jax bench forward --layers 4 --shapes 8x128 --dtypes fp32
    rembert-jax bench train --shapes 64x128 --dtype bf16
    rembert-jax bench mixed-length --examples 64
    rembert-jax bench gpu-check --smoke
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = {
    "forward": "bench_forward.py",
    "train": "bench_train_step.py",
    "mixed-length": "bench_mixed_length.py",
    "gpu-check": "gpu_check.py",
    "cpu-ceiling": "cpu_ceiling.py",  # how far past PyTorch an fp32 implementation could get on this CPU
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmarks-dir", default=None,
                        help="folder holding other copies of the benchmark scripts (default: the installed ones)")
    parser.add_argument("which", choices=sorted(BENCHMARKS), help="which comparison to run")
    parser.add_argument("script_args", nargs=argparse.REMAINDER,
                        help="arguments for the benchmark script (see `rembert-jax bench WHICH --help`)")


def _benchmarks_dir(explicit: str) -> Path:
    folder = Path(explicit)
    if not (folder / "_common.py").is_file():
        raise FileNotFoundError(f"no benchmark scripts in {folder} (--benchmarks-dir must hold _common.py and the scripts)")
    return folder


def _load_benchmark(which: str, benchmarks_dir: str | None):
    """The benchmark module: the installed `rembert_jax.benchmarks.<script>`, or the file in `benchmarks_dir`."""
    stem = Path(BENCHMARKS[which]).stem
    if benchmarks_dir is None:
        return importlib.import_module(f"rembert_jax.benchmarks.{stem}")
    script = _benchmarks_dir(benchmarks_dir) / BENCHMARKS[which]
    spec = importlib.util.spec_from_file_location(f"rembert_bench_{stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args) -> int:
    try:
        module = _load_benchmark(args.which, args.benchmarks_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return int(module.main(args.script_args) or 0)
