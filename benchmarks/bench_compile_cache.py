"""Start-up of `rembert-jax train configs/demo.yaml` with JAX's persistent compilation cache cold vs warm.

    python benchmarks/bench_compile_cache.py --repeats 2

Each trial runs the real command in a fresh process with a fresh output directory and measures the
wall time from launch to its first logged step (`train.log_every=1`: metrics.jsonl gets its first
line once step 1 has run) and to the end of the run. Trials, in order per repeat:
  off    --no-compile-cache
  cold   an empty cache directory (the run fills it)
  warm   the directory the cold trial filled: the second start
Extra `key=value` overrides go to the run config (e.g. `train.steps=100` for a shorter run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def trial(work: Path, name: str, cache_args: list[str], overrides: list[str]) -> dict:
    out = work / f"run-{name}"
    command = [sys.executable, "-m", "rembert_jax.cli", "train", str(ROOT / "configs/demo.yaml"),
               f"output_dir={out}", "train.log_every=1", "export.formats=[]", *overrides, *cache_args]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics, first_step = out / "metrics.jsonl", None
    while process.poll() is None:
        if first_step is None and metrics.is_file() and metrics.stat().st_size > 0:
            first_step = time.perf_counter() - start
        time.sleep(0.05)
    total = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{name}: exit {process.returncode}\n{process.stderr.read()[-3000:]}")
    return {"trial": name, "first_step_s": round(first_step, 2), "total_s": round(total, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="rembert-cache-bench-") as tmp:
        work = Path(tmp)
        for r in range(args.repeats):
            cache = work / f"cache-{r}"
            for name, cache_args in (("off", ["--no-compile-cache"]), ("cold", ["--compile-cache", str(cache)]),
                                     ("warm", ["--compile-cache", str(cache)])):
                result = {"repeat": r, **trial(work, f"{name}-{r}", cache_args, args.overrides)}
                if name == "warm":
                    result["cache_mb"] = round(sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**20, 1)
                print(json.dumps(result), flush=True)
                results.append(result)
    import jax

    report = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "jax": jax.__version__, "overrides": args.overrides, "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
