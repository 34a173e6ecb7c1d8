"""`gpu_check.py --profile`: where the time of our full-size step goes, to aim the next change.

  profile_train     our train step at (64,128) (bf16 compute, fp32 master, AdamW) traced with
                    `jax.profiler`; device kernels summed by name and by kind (GEMM, fused
                    attention, XLA fusions, copies), and their total against the wall-clock step
                    (under the profiler, whose own overhead widens the gap)
  profile_forward   the same for the bf16 forward at (64,128)
  profile_torch     transformers' eager train step (fused AdamW + autocast) under torch.profiler:
                    its kernels by kind, so the two GEMM totals can be compared directly
  train_remat       tokens/s and memory of our train step with remat "none" / "dots" / "full"
  forward_flags     our forward at (64,128) and (16,512) in fresh subprocesses under XLA_FLAGS
                    variants (a flag only takes effect before the backend starts)

Each trace summary is a dict: `kinds` {kind: ms per step}, `top` [[kernel, ms per step, calls]],
`device_ms_per_step`, `wall_ms_per_step`.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from rembert_jax.benchmarks import _common as C
from rembert_jax.benchmarks._gpu_report import RESULTS, emit, full_config, shapes

KINDS = (  # first match wins: kernel name pattern -> kind
    ("attention", re.compile(r"fmha|flash|cudnn|attention|sdpa|fprop|dgrad|bprop", re.I)),
    ("gemm", re.compile(r"gemm|cutlass|xmma|nvjet|matmul|dot|sm\d\d_|ampere_|hopper_|triton_gemm", re.I)),
    ("copy", re.compile(r"memcpy|memset|copy|transpose", re.I)),
    ("reduce", re.compile(r"reduce|reduction|norm", re.I)),
    ("elementwise", re.compile(r"fusion|loop|elementwise|vectorized|triton|kernel", re.I)),
)


def kind_of(name: str) -> str:
    for kind, pattern in KINDS:
        if pattern.search(name):
            return kind
    return "other"


def summarize(durations: dict[str, float], counts: dict[str, int], steps: int, wall_s: float) -> dict:
    """Kernel totals (microseconds over `steps` steps) -> per-step milliseconds by kind and name."""
    kinds: collections.Counter = collections.Counter()
    for name, us in durations.items():
        kinds[kind_of(name)] += us
    top = sorted(durations.items(), key=lambda kv: -kv[1])[:25]
    return {"device_ms_per_step": round(sum(durations.values()) / 1e3 / steps, 3),
            "wall_ms_per_step": round(wall_s * 1e3 / steps, 3),
            "kinds": {k: round(v / 1e3 / steps, 3) for k, v in kinds.most_common()},
            "top": [[name[:120], round(us / 1e3 / steps, 3), counts[name] // steps] for name, us in top]}


def jax_trace(fn, steps: int = 2) -> dict:
    """Run `fn()` `steps` times under jax.profiler and sum the device kernel events."""
    import jax

    jax.block_until_ready(fn())  # warm
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            start = time.perf_counter()  # the steps only: not the profiler's start-up and export
            for _ in range(steps):
                out = fn()
            jax.block_until_ready(out)
            wall = time.perf_counter() - start
        files = glob.glob(os.path.join(tmp, "**", "perfetto_trace.json.gz"), recursive=True)
        if not files:
            return {"error": "no perfetto trace written", "files": glob.glob(os.path.join(tmp, "**"), recursive=True)}
        with gzip.open(files[0]) as f:
            events = json.load(f)["traceEvents"]
    processes = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e["name"] == "thread_name"}
    durations: dict = collections.Counter()
    counts: dict = collections.Counter()
    lines: dict = collections.Counter()
    for e in events:
        if e.get("ph") != "X":
            continue
        process = processes.get(e["pid"], "")
        thread = threads.get((e["pid"], e.get("tid")), "")
        lines[f"{process} | {thread}"] += e.get("dur", 0)
        # kernels live on the GPU process's stream lines; its "XLA Ops"/"XLA Modules" lines repeat them
        if "GPU" in process and "stream" in thread.lower():
            durations[e["name"]] += e.get("dur", 0)
            counts[e["name"]] += 1
    out = summarize(durations, counts, steps, wall)
    out["trace_lines_ms"] = {k[:100]: round(v / 1e3 / steps, 3) for k, v in lines.most_common(12)}
    return out


def profile_train(args) -> dict:
    import jax

    from rembert_jax.benchmarks import bench_train_step as T
    from rembert_jax.heads import TaskModel

    config = full_config(args)
    batch_size, length = shapes(args, "short")
    batch = jax.device_put(C.random_batch(config, batch_size, length, seed=7, labels=True))
    params = jax.jit(TaskModel(config, "sequence_classification").init)(jax.random.key(0))
    step, tx, _ = T.our_train_step(config, "bf16", "dots")
    state = {"params": params, "opt": jax.jit(tx.init)(params)}

    def call():
        state["params"], state["opt"], loss = step(state["params"], state["opt"], batch)
        return loss

    out = {"shape": [batch_size, length], "remat": "dots", **jax_trace(call)}
    return out


def profile_forward(args) -> dict:
    import jax
    import jax.numpy as jnp

    from rembert_jax import init_params
    from rembert_jax.benchmarks import bench_forward as F

    config = full_config(args)
    batch_size, length = shapes(args, "short")
    batch = jax.device_put(C.random_batch(config, batch_size, length, seed=11))
    params = jax.jit(lambda k: init_params(config, k, dtype=jnp.bfloat16))(jax.random.key(0))
    forward, _ = F.our_forward(config, "bf16", "auto")
    out = {"shape": [batch_size, length], **jax_trace(lambda: forward(params, batch), steps=3)}
    return out


def profile_torch(args) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "needs CUDA"}
    config = full_config(args)
    batch_size, length = shapes(args, "short")
    model = C.hf_model(config, "sequence_classification").float().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, fused=True)
    inputs = C.to_torch(C.random_batch(config, batch_size, length, seed=7, labels=True))

    def call():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    call()
    torch.cuda.synchronize()
    steps = 2
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            call()
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
    durations, counts = collections.Counter(), collections.Counter()
    for e in prof.events():
        if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA:
            durations[e.name] += e.device_time  # microseconds
            counts[e.name] += 1
    out = {"shape": [batch_size, length], **summarize(durations, counts, steps, wall)}
    return out


def train_remat(args) -> dict:
    import jax

    from rembert_jax.benchmarks import bench_train_step as T
    from rembert_jax.heads import TaskModel

    config = full_config(args)
    batch_size, length = shapes(args, "short")
    batch = C.random_batch(config, batch_size, length, seed=7, labels=True)
    out: dict = {"shape": [batch_size, length]}
    for remat in ("none", "full"):  # "dots" is quick_train's measurement
        params = jax.jit(TaskModel(config, "sequence_classification").init)(jax.random.key(0))
        try:
            result = T.measure_ours(config, params, batch, "bf16", iters=3 if args.smoke else 8, warmup=1,
                                    remat=remat)
            out[remat] = {k: result[k] for k in ("tokens_per_s", "compile_s", "program_bytes", "peak_bytes")}
        except Exception as e:
            out[remat] = {"error": f"{type(e).__name__}: {e}"[:600]}
        del params
        emit("train_remat_partial", out)
    RESULTS.pop("train_remat_partial", None)
    return out


FLAG_VARIANTS = {
    "default": "",
    "no_triton_gemm": "--xla_gpu_enable_triton_gemm=false",
    "no_command_buffer": "--xla_gpu_enable_command_buffer=",
    "cublaslt": "--xla_gpu_enable_cublaslt=true",
}

_CHILD = r"""
import json, time
import jax, jax.numpy as jnp
from rembert_jax.benchmarks import _common as C, bench_forward as F
from rembert_jax import RemBertConfig, init_params
config = RemBertConfig.from_preset("rembert").replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                                      num_hidden_layers={layers})
params = jax.jit(lambda k: init_params(config, k, dtype=jnp.bfloat16))(jax.random.key(0))
forward, _ = F.our_forward(config, "bf16", "auto")
out = {{}}
for b, s in {shapes}:
    batch = jax.device_put(C.random_batch(config, b, s, seed=11))
    t = time.perf_counter(); compiled = forward.lower(params, batch).compile(); c = time.perf_counter() - t
    timing = C.time_calls(lambda: compiled(params, batch), C.jax_sync, iters={iters}, warmup=2)
    out[f"{{b}}x{{s}}"] = {{"tokens_per_s": round(b * s / timing["step_s"]), "compile_s": round(c, 2)}}
print("RESULT", json.dumps(out))
"""


def forward_flags(args) -> dict:
    config = full_config(args)
    shape_list = [shapes(args, "short"), shapes(args, "long")]
    code = _CHILD.format(layers=config.num_hidden_layers,
                         shapes=shape_list, iters=3 if args.smoke else 20)
    out: dict = {}
    for name, flags in FLAG_VARIANTS.items():
        env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()}
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
            line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
            out[name] = json.loads(line[-1][7:]) if line else {"error": (done.stderr or done.stdout)[-600:]}
        except subprocess.TimeoutExpired:
            out[name] = {"error": "timed out after 120 s"}
        out[name]["wall_s"] = round(time.perf_counter() - start, 1)
        emit("forward_flags_partial", out)
    RESULTS.pop("forward_flags_partial", None)
    return out


def profile_main(args, section) -> None:
    section("profile_train", profile_train, args, needs_s=30)
    section("profile_forward", profile_forward, args, needs_s=15)
    section("profile_torch", profile_torch, args, needs_s=20)
    section("train_remat", train_remat, args, needs_s=45)
    section("forward_flags", forward_flags, args, needs_s=60)
