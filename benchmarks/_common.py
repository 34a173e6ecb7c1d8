"""What every side-by-side benchmark shares: the configs, one set of weights for both frameworks,
timers that wait for the device, peak-memory probes, and JSON output.

Each benchmark builds a transformers PyTorch model with random weights, copies the very same
weights into our parameter tree through the converters' name table, times both in this one
process and prints one JSON object per measurement (flushed, so a killed run keeps its lines).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rembert_jax import RemBertConfig


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layers", type=int, default=None,
                        help="encoder layers (default: 4 on CPU, the full 32 on GPU); width is always full")
    parser.add_argument("--preset", default="rembert", help="model preset whose width is used (default rembert)")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations (default 3 CPU / 20 GPU)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations after the first call")
    parser.add_argument("--out", default=None, help="also write the JSON results to this file")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all cores)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternate ours/theirs this many times and keep the median (default 3 CPU / 1 GPU): "
                             "on a shared machine the load drifts, and alternating exposes both sides to it")


GPU_SHAPES = "64x128,16x512"  # the (batch, length) pairs the GPU targets are stated for


def shapes_parser(description: str, *, cpu_shapes: str) -> argparse.ArgumentParser:
    """A side-by-side benchmark's parser: the common arguments and --shapes, whose default
    (`GPU_SHAPES` on a GPU, `cpu_shapes` on a CPU) `default_shapes` fills in after parsing."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--shapes", default=None,
                        help=f"comma list of BATCHxLENGTH (default {GPU_SHAPES} on GPU; {cpu_shapes} on CPU)")
    parser.set_defaults(cpu_shapes=cpu_shapes)
    return parser


def default_shapes(args) -> str:
    return args.shapes or (GPU_SHAPES if on_gpu() else args.cpu_shapes)


def on_gpu() -> bool:
    import jax

    return jax.default_backend() == "gpu"


def bench_config(args) -> RemBertConfig:
    """Full width, `--layers` deep (4 on CPU: width-faithful but shallow), no dropout."""
    config = RemBertConfig.from_preset(args.preset)
    layers = args.layers if args.layers is not None else (config.num_hidden_layers if on_gpu() else 4)
    return config.replace(num_hidden_layers=layers, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                          classifier_dropout_prob=0.0)


def iterations(args) -> int:
    return args.iters if args.iters is not None else (20 if on_gpu() else 3)


def rounds(args) -> int:
    return args.rounds if args.rounds is not None else (1 if on_gpu() else 3)


def alternate(n: int, ours: Callable[[], dict], theirs: Callable[[], dict]) -> tuple[dict, dict, float]:
    """Run `ours()` and `theirs()` alternately `n` times; return each side's median run (with every
    round's tokens/s attached) and the median of the per-round speedups (neighbours in time)."""
    ours_runs, theirs_runs = [], []
    for _ in range(n):
        ours_runs.append(ours())
        theirs_runs.append(theirs())
    speedups = sorted(o["tokens_per_s"] / t["tokens_per_s"] for o, t in zip(ours_runs, theirs_runs, strict=True))

    def median(runs):
        run = sorted(runs, key=lambda r: r["tokens_per_s"])[len(runs) // 2]
        if n == 1:
            return run
        # a train step's first loss is only comparable in round one (torch trains its weights in place)
        first = {"first_loss": runs[0]["first_loss"]} if "first_loss" in runs[0] else {}
        return {**run, **first, "rounds_tokens_per_s": [round(r["tokens_per_s"], 1) for r in runs]}

    return median(ours_runs), median(theirs_runs), round(speedups[len(speedups) // 2], 3)


def torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def hf_model(config: RemBertConfig, task: str = "base", *, seed: int = 0):
    """transformers' PyTorch model for `task` (its class from the task registry), random init,
    eval mode, fp32, on the GPU when there is one."""
    import torch
    import transformers

    from rembert_jax.tasks import get_task

    data = config.to_dict()
    data.pop("model_type", None)
    torch.manual_seed(seed)
    with torch.device(torch_device()):  # initialise on the device: 2.3 GB on the CPU is slow
        model = getattr(transformers, get_task(task, allow_base=True).architecture)(transformers.RemBertConfig(**data))
    return model.eval()


def params_from_hf(model, config: RemBertConfig, task: str = "base", dtype=np.float32):
    """Our parameter tree holding exactly `model`'s weights, read through the converters' name
    table (`rembert_jax.convert.names.name_table`), so no checkpoint key is spelled here."""
    import jax.numpy as jnp
    import torch

    from rembert_jax.convert.names import name_table

    state = model.state_dict()
    slices: dict[tuple[str, ...], dict[int | None, np.ndarray]] = {}
    for name in name_table(config, task):
        tensor = state[name.pytorch].detach().to(torch.float32).cpu().numpy()
        slices.setdefault(name.path, {})[name.layer] = tensor.T if name.pytorch_transposed else tensor
    params: dict[str, Any] = {}
    for path, parts in slices.items():
        value = parts[None] if None in parts else np.stack([parts[i] for i in sorted(parts)])
        node = params
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = jnp.asarray(value.astype(dtype))
    return params


def random_batch(config: RemBertConfig, batch: int, length: int, *, seed: int = 0, labels: bool = False,
                 lengths: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Token ids in [1, V), right padding after `lengths` (default: no padding), numpy int32."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, config.vocab_size, (batch, length), dtype=np.int32)
    mask = np.ones((batch, length), np.int32)
    if lengths is not None:
        mask = (np.arange(length)[None, :] < np.asarray(lengths)[:, None]).astype(np.int32)
        ids = np.where(mask == 1, ids, config.pad_token_id).astype(np.int32)
    out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    if labels:
        out["labels"] = rng.integers(0, config.num_labels, (batch,), dtype=np.int32)
    return out


def to_torch(batch: dict[str, np.ndarray]) -> dict:
    import torch

    return {k: torch.from_numpy(np.asarray(v, dtype=np.int64)).to(torch_device()) for k, v in batch.items()}


# ----------------------------------------------------------------------------------- timing


def time_calls(fn: Callable[[], Any], sync: Callable[[Any], Any], *, iters: int, warmup: int) -> dict:
    """Seconds of the first call (compile / trace included) and the mean of `iters` later calls."""
    start = time.perf_counter()
    sync(fn())
    first = time.perf_counter() - start
    for _ in range(warmup):
        sync(fn())
    start, cpu_start = time.perf_counter(), time.process_time()
    out = None
    for _ in range(iters):
        out = fn()
    sync(out)
    # process CPU seconds (all threads) per call: on a shared CPU, less skewed by others' load than wall time
    return {"first_call_s": first, "step_s": (time.perf_counter() - start) / iters,
            "step_cpu_s": (time.process_time() - cpu_start) / iters}


def jax_sync(x):
    import jax

    return jax.block_until_ready(x)


def torch_sync(x):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return x


# ----------------------------------------------------------------------------------- memory


class RssPeak:
    """Peak resident memory of this process above its level at entry, sampled every 2 ms.

    On the CPU both frameworks allocate from the same process heap, so sampling around one
    side's run is the fair probe; on a GPU use `gpu_peak_*` instead."""

    def __enter__(self):
        self.base = self._rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def bytes(self) -> int:
        return int(self.peak - self.base)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.002)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def jax_compiled_bytes(compiled) -> int | None:
    """Device bytes one execution of a compiled jax program needs (arguments + outputs + temps,
    minus donated/aliased), from XLA's own memory analysis."""
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
                   - m.alias_size_in_bytes)
    except Exception:  # some backends return None or lack fields
        return None


def jax_gpu_peak_bytes() -> int | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


# ----------------------------------------------------------------------------------- output


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; `platform.processor()` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def environment() -> dict:
    import jax
    import torch
    import transformers

    device = jax.devices()[0]
    return {
        "jax_device": f"{device.platform}:{getattr(device, 'device_kind', '')}",
        "torch_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu",
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews both sides
        "jax": jax.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
        "python": sys.version.split()[0],
    }


class Report:
    """Collects results, prints each as one JSON line as it arrives, writes all to `--out`."""

    def __init__(self, name: str, out: str | None):
        self.data: dict[str, Any] = {"benchmark": name}
        self.out = out

    def add(self, key: str, value) -> None:
        self.data[key] = value
        print(json.dumps({key: value}, default=jsonable), flush=True)
        self.write()

    def write(self) -> None:
        if self.out:
            with open(self.out, "w") as f:
                json.dump(self.data, f, indent=2, default=jsonable)


def jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs else None


def set_torch_threads(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
