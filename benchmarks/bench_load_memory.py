"""Peak host memory (RSS) of loading a full-size RemBERT: our adapter, `convert --to jax`, transformers.

    python benchmarks/bench_load_memory.py [--layers 32] [--compare before=/path/to/old/python] [--out FILE]

Builds a `RemBertModel` checkpoint (config.json + model.safetensors, random weights) once in a
temporary folder, tensor by tensor so building it costs no memory, then measures each stage in a
fresh process (its own peak RSS, `ru_maxrss`), and deletes the folder:

  adapter       `rembert_jax.RemBertModel.from_pretrained(dir)`
  convert_jax   what `rembert-jax convert dir out --to jax` runs: `convert_checkpoint(dir, out, to="jax")`
  transformers  `transformers.RemBertModel.from_pretrained(dir)` (the reference)

`--compare NAME=PYTHON` also runs our two stages with another interpreter (e.g. a virtualenv with
an older checkout installed), so before/after numbers come from one checkpoint and one machine.
Prints one JSON object per stage and writes all of them (and the environment) to --out
(default benchmarks/results/load-memory-<date>.json). Target (issue 15): peak <= 1.3x the
checkpoint's size.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

STAGES = ("adapter", "convert_jax", "transformers")


# stdlib only, here rather than in _common: a stage runs this file under an older checkout's interpreter
def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def current_rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def build_checkpoint(folder: str, layers: int, preset: str) -> int:
    """config.json + model.safetensors of a bare `RemBertModel` with random weights; returns its size.
    Each tensor is drawn when the writer reaches it, so the peak is one tensor."""
    import numpy as np

    from rembert_jax import RemBertConfig
    from rembert_jax.convert.assemble import StoredTensor
    from rembert_jax.convert.files import write_safetensors
    from rembert_jax.convert.names import name_table

    config = RemBertConfig.from_preset(preset).replace(num_hidden_layers=layers, architectures=["RemBertModel"])
    os.makedirs(folder, exist_ok=True)
    tensors = []
    for k, name in enumerate(name_table(config, "base")):
        shape = name.stored_shape("pytorch")

        def draw(shape=shape, seed=k):
            return np.random.default_rng(seed).standard_normal(shape, np.float32) * np.float32(0.02)

        tensors.append((name.pytorch, StoredTensor(name, shape, np.dtype(np.float32), draw)))
    path = os.path.join(folder, "model.safetensors")
    write_safetensors(path, tensors, metadata={"format": "pt"})
    config.save_pretrained(folder)
    return os.path.getsize(path)


def run_stage(stage: str, checkpoint: str) -> dict:
    """Load in this (fresh) process; peak and baseline RSS, seconds."""
    if stage == "transformers":
        import torch  # noqa: F401
        import transformers
    else:
        import jax  # noqa: F401
        import orbax.checkpoint  # noqa: F401

        from rembert_jax import RemBertModel
        from rembert_jax.convert.dispatch import convert_checkpoint
    baseline = current_rss_bytes()  # interpreter and libraries, before any weights
    start = time.perf_counter()
    if stage == "adapter":
        model = RemBertModel.from_pretrained(checkpoint)
        parameters = sum(int(x.size) for x in jax.tree_util.tree_leaves(model.params))
    elif stage == "convert_jax":
        out = tempfile.mkdtemp(prefix="orbax-", dir=os.path.dirname(checkpoint))
        try:
            convert_checkpoint(checkpoint, os.path.join(out, "ckpt"), to="jax")  # benchmarks sit below the cli
        finally:
            shutil.rmtree(out, ignore_errors=True)
        parameters = None
    elif stage == "transformers":
        model = transformers.RemBertModel.from_pretrained(checkpoint)
        parameters = sum(p.numel() for p in model.parameters())
    else:
        raise ValueError(f"unknown stage {stage}")
    return {"stage": stage, "seconds": round(time.perf_counter() - start, 2), "peak_rss": peak_rss_bytes(),
            "baseline_rss": baseline, "parameters": parameters}


def _environment() -> dict:
    import jax
    import torch
    import transformers

    with open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                   platform.processor())
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "date": datetime.date.today().isoformat()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="rembert", help="model preset whose sizes are used (default rembert)")
    parser.add_argument("--layers", type=int, default=None, help="encoder layers (default: the preset's, 32)")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=PYTHON",
                        help="also measure our stages with this interpreter (e.g. an older checkout's venv)")
    parser.add_argument("--workdir", default=None, help="where the temporary checkpoint goes (default: $TMPDIR)")
    parser.add_argument("--out", default=None, help="JSON results file (default benchmarks/results/...)")
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)  # internal: one stage, this process
    parser.add_argument("--checkpoint", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.checkpoint)), flush=True)
        return 0

    from rembert_jax import RemBertConfig

    layers = args.layers or RemBertConfig.from_preset(args.preset).num_hidden_layers
    interpreters = [("now", sys.executable)] + [tuple(c.split("=", 1)) for c in args.compare]
    workdir = tempfile.mkdtemp(prefix="rembert-load-memory-", dir=args.workdir)
    results = []
    try:
        checkpoint = os.path.join(workdir, "model")
        size = build_checkpoint(checkpoint, layers, args.preset)
        print(json.dumps({"checkpoint_bytes": size, "layers": layers}), flush=True)
        runs = [(name, python, stage) for name, python in interpreters for stage in STAGES
                if stage != "transformers" or name == "now"]
        for code, python, stage in runs:
            command = [python, os.path.abspath(__file__), "--stage", stage, "--checkpoint", checkpoint]
            env = {**os.environ, "TQDM_DISABLE": "1", "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
            if done.returncode != 0:
                print(done.stderr[-4000:], file=sys.stderr)
                return done.returncode
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result.update(code=code, peak_rss_gb=round(result["peak_rss"] / 1e9, 3),
                          peak_over_checkpoint=round(result["peak_rss"] / size, 3),
                          above_baseline_over_checkpoint=round((result["peak_rss"] - result["baseline_rss"]) / size, 3))
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = {"benchmark": "load_memory", "preset": args.preset, "layers": layers, "checkpoint_bytes": size,
              "target_peak_over_checkpoint": 1.3, "environment": _environment(), "results": results}
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"load-memory-{report['environment']['date']}.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
