"""Convert a full-size random RemBERT, written by transformers, from safetensors to orbax and back.

    python benchmarks/bench_convert.py [--preset rembert] [--workdir /tmp/rembert-bench-convert] [--out r.json]

Stages, each in a fresh process so its peak RSS is its own:
  write     transformers `RemBertModel(config)` (random init) -> `save_pretrained` (safetensors);
            reused when the directory already exists
  hf_load   baseline: transformers `RemBertModel.from_pretrained` of that directory
  to_jax    `rembert-jax convert hf/ orbax/ --to jax`   (ours, streamed)
  to_pt     `rembert-jax convert orbax/ back/ --to pytorch`
  verify    every tensor of back/ equals hf/ bit for bit (tensor by tensor; with --dtype, equals
            the original cast to that dtype)
Prints one JSON object per stage (seconds, peak RSS, RSS / checkpoint size) and a summary.
Target (issue 5): peak RSS <= 1.5x the checkpoint size for the conversions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from rembert_jax.benchmarks.bench_load_memory import current_rss_bytes, peak_rss_bytes


def _dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def _stage(name: str, args) -> dict:
    """Run one stage in this (fresh) process and report it."""
    from rembert_jax import RemBertConfig

    hf_dir, orbax_dir, back_dir = (os.path.join(args.workdir, d) for d in ("hf", "orbax", "back"))
    config = RemBertConfig.from_preset(args.preset)
    if name in ("write", "hf_load"):
        import torch  # noqa: F401
        import transformers  # noqa: F401
    else:
        import jax  # noqa: F401
        import orbax.checkpoint  # noqa: F401

        import rembert_jax.convert.formats  # noqa: F401
    baseline = current_rss_bytes()  # the interpreter and its libraries, before any weights
    start = time.perf_counter()
    extra: dict = {}
    if name == "write":
        import torch
        import transformers

        torch.manual_seed(0)
        data = config.to_dict()
        data.pop("model_type", None)
        model = transformers.RemBertModel(transformers.RemBertConfig(**data))
        model.save_pretrained(hf_dir)
        extra["parameters"] = sum(p.numel() for p in model.parameters())
    elif name == "hf_load":
        import transformers

        model = transformers.RemBertModel.from_pretrained(hf_dir)
        extra["parameters"] = sum(p.numel() for p in model.parameters())
    elif name == "to_jax":
        from rembert_jax.convert import convert_checkpoint

        shutil.rmtree(orbax_dir, ignore_errors=True)
        convert_checkpoint(hf_dir, orbax_dir, to="jax", dtype=args.dtype)
    elif name == "to_pt":
        from rembert_jax.convert import convert_checkpoint

        shutil.rmtree(back_dir, ignore_errors=True)
        convert_checkpoint(orbax_dir, back_dir, to="pytorch")
    elif name == "verify":
        import numpy as np
        from safetensors import safe_open

        source = os.path.join(hf_dir, "model.safetensors")
        with safe_open(source, "numpy") as f:
            keys = list(f.keys())
        mismatched = []
        for key in keys:
            with safe_open(source, "numpy") as a, safe_open(os.path.join(back_dir, "model.safetensors"), "numpy") as b:
                x, y = a.get_tensor(key), b.get_tensor(key)
                if args.dtype is not None:  # cast on the way in: compare with the original cast likewise
                    x = x.astype(y.dtype)
                if x.dtype != y.dtype or not np.array_equal(x, y):
                    mismatched.append(key)
        extra.update(tensors=len(keys), bit_exact=not mismatched, mismatched=mismatched[:5])
    else:
        raise ValueError(f"unknown stage {name}")
    seconds = time.perf_counter() - start
    checkpoint = os.path.getsize(os.path.join(hf_dir, "model.safetensors"))
    return {"stage": name, "seconds": round(seconds, 2), "peak_rss_gb": round(peak_rss_bytes() / 1e9, 3),
            "rss_over_checkpoint": round(peak_rss_bytes() / checkpoint, 3),
            "baseline_rss_gb": round(baseline / 1e9, 3),
            "above_baseline_over_checkpoint": round((peak_rss_bytes() - baseline) / checkpoint, 3),
            "checkpoint_gb": round(checkpoint / 1e9, 3),
            **extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="rembert", help="model preset (default: the full-size rembert)")
    parser.add_argument("--workdir", default="/tmp/rembert-bench-convert", help="where the checkpoints go")
    parser.add_argument("--dtype", default=None, help="cast on conversion to jax (e.g. bfloat16)")
    parser.add_argument("--out", default=None, help="also write the JSON results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the converted checkpoints afterwards")
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)  # internal: run one stage
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(_stage(args.stage, args)), flush=True)
        return 0

    os.makedirs(args.workdir, exist_ok=True)
    stages = ["write"] if not os.path.isfile(os.path.join(args.workdir, "hf", "model.safetensors")) else []
    stages += ["hf_load", "to_jax", "to_pt", "verify"]
    results = []
    for stage in stages:
        command = [sys.executable, __file__, "--stage", stage, "--preset", args.preset, "--workdir", args.workdir]
        if args.dtype:
            command += ["--dtype", args.dtype]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            return done.returncode
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        results.append(result)
    by_stage = {r["stage"]: r for r in results}
    summary = {
        "benchmark": "convert", "preset": args.preset, "dtype": args.dtype or "stored",
        "checkpoint_gb": by_stage["to_jax"]["checkpoint_gb"], "orbax_gb": round(_dir_bytes(os.path.join(args.workdir, "orbax")) / 1e9, 3),
        "to_jax_s": by_stage["to_jax"]["seconds"], "to_pt_s": by_stage["to_pt"]["seconds"],
        "to_jax_rss_x": by_stage["to_jax"]["rss_over_checkpoint"], "to_pt_rss_x": by_stage["to_pt"]["rss_over_checkpoint"],
        "to_jax_rss_above_baseline_x": by_stage["to_jax"]["above_baseline_over_checkpoint"],
        "to_pt_rss_above_baseline_x": by_stage["to_pt"]["above_baseline_over_checkpoint"],
        "hf_load_s": by_stage["hf_load"]["seconds"], "hf_load_rss_x": by_stage["hf_load"]["rss_over_checkpoint"],
        "bit_exact": by_stage["verify"]["bit_exact"], "cpus": os.cpu_count(),
    }
    print(json.dumps(summary), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"stages": results, "summary": summary}, f, indent=2)
    if not args.keep:
        for d in ("orbax", "back"):
            shutil.rmtree(os.path.join(args.workdir, d), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
