"""Mixed-length workload: our length-bucketed batches vs transformers' padded batches, in useful
(non-padding) tokens per second, forward pass, same weights, same process.

    python benchmarks/bench_mixed_length.py                   # CPU: 4 full-width layers, 48 sequences
    python benchmarks/bench_mixed_length.py --examples 4096   # GPU: full model, bf16

The workload is `--examples` sequences with lengths drawn uniformly from [16, 512] (seeded).
transformers runs them in arrival order, `--batch-size` at a time, each batch padded to its
longest sequence (what `DataCollatorWithPadding` does). We sort them into length buckets and run
each bucket with a constant token budget per batch, so padding is at most one bucket step and
every batch is about the same amount of work; each bucket shape compiles once (its compile time
is reported separately and excluded from throughput, as the one-off it is). We also run the same
sequences packed (`rembert_jax.packing`: first-fit decreasing into rows of 512; `segment_ids` keep
the sequences apart and restart their positions), `--token-budget // 512` rows per batch.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with torch

import numpy as np  # noqa: E402

from rembert_jax.benchmarks import _common as C  # noqa: E402
from rembert_jax.benchmarks.bench_forward import our_forward  # noqa: E402

BUCKETS = (32, 64, 96, 128, 192, 256, 320, 384, 448, 512)


def bucket_batches(lengths: np.ndarray, token_budget: int, buckets=BUCKETS) -> list[tuple[int, np.ndarray]]:
    """[(bucket_length, example indices)]: each example goes to the smallest bucket that holds it;
    a bucket's batches have `token_budget // bucket_length` rows (its last batch fewer: one more
    compiled shape per bucket, rather than rows of pure padding)."""
    edges = np.asarray(buckets)
    which = np.searchsorted(edges, lengths)  # index of the smallest bucket >= length
    out = []
    for b, bucket_len in enumerate(edges):
        members = np.flatnonzero(which == b)
        rows = max(1, token_budget // int(bucket_len))
        out += [(int(bucket_len), members[i:i + rows]) for i in range(0, len(members), rows)]
    return out


def padded_batches(lengths: np.ndarray, batch_size: int) -> list[tuple[int, np.ndarray]]:
    """transformers' way: arrival order, each batch padded to its own longest sequence."""
    return [(int(lengths[i:i + batch_size].max()), np.arange(i, min(i + batch_size, len(lengths))))
            for i in range(0, len(lengths), batch_size)]


def _batch(config, ids: np.ndarray, lengths: np.ndarray, members: np.ndarray, pad_to: int) -> dict:
    mask = (np.arange(pad_to)[None, :] < lengths[members][:, None]).astype(np.int32)
    tokens = np.where(mask == 1, ids[members, :pad_to], config.pad_token_id).astype(np.int32)
    return {"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(tokens)}


def packed_batches(config, ids: np.ndarray, lengths: np.ndarray, token_budget: int, row_length: int = 512):
    """(batches of packed rows, fraction of row slots holding real tokens)."""
    from rembert_jax.packing import pack_sequences, plan_rows

    plan = plan_rows(lengths, row_length)
    rows_per_batch = max(1, token_budget // row_length)
    batches = []
    for start in range(0, len(plan), rows_per_batch):
        chunk = plan[start:start + rows_per_batch]
        members = [i for row in chunk for i in row]
        local = {i: k for k, i in enumerate(members)}
        packed = pack_sequences([ids[i, :lengths[i]] for i in members], row_length=row_length,
                                pad_token_id=config.pad_token_id, rows=[[local[i] for i in row] for row in chunk])
        batches.append(packed.inputs)
    fill = float(lengths.sum()) / (len(plan) * row_length)
    return batches, fill


def time_ours(forward, params, batches: list[dict]) -> dict:
    """Compile each distinct shape once (timed apart), then run every batch: seconds and peak memory."""
    import jax

    batches = [jax.device_put(b) for b in batches]
    start = time.perf_counter()
    compiled = {}
    for b in batches:
        key = b["input_ids"].shape
        if key not in compiled:
            compiled[key] = forward.lower(params, b).compile()
    compile_s = time.perf_counter() - start
    with C.RssPeak() as rss:
        start = time.perf_counter()
        outs = [compiled[b["input_ids"].shape](params, b) for b in batches]
        jax.block_until_ready(outs)
        seconds = time.perf_counter() - start
    # per program (XLA's analysis), not the process peak, which earlier work in the process may hold
    program = max((C.jax_compiled_bytes(c) or 0) for c in compiled.values())
    return {"seconds": seconds, "compile_s": compile_s, "distinct_shapes": len(compiled), "batches": len(batches),
            "program_bytes": program, "peak_bytes": None if C.on_gpu() else rss.bytes}


def run(args) -> dict:
    import jax
    import torch

    C.set_torch_threads(args)
    config = C.bench_config(args)
    report = C.Report("mixed_length", args.out)
    report.add("environment", C.environment())
    rng = np.random.default_rng(0)
    lengths = rng.integers(16, 513, args.examples)
    ids = rng.integers(1, config.vocab_size, (args.examples, 512), dtype=np.int32)
    useful = int(lengths.sum())
    ours_plan = bucket_batches(lengths, args.token_budget)
    theirs_plan = padded_batches(lengths, args.batch_size)
    report.add("workload", {"examples": args.examples, "useful_tokens": useful, "dtype": args.dtype,
                            "layers": config.num_hidden_layers,
                            "ours_padded_tokens": sum(len(m) * n for n, m in ours_plan),
                            "torch_padded_tokens": sum(len(m) * n for n, m in theirs_plan)})

    model = C.hf_model(config, "base")
    params = C.params_from_hf(model, config, "base")
    forward, policy = our_forward(config, args.dtype)
    params = jax.tree_util.tree_map(lambda x: x.astype(policy.param_dtype), params)
    ours = time_ours(forward, params, [_batch(config, ids, lengths, m, n) for n, m in ours_plan])
    ours["useful_tokens_per_s"] = useful / ours["seconds"]
    packed, fill = packed_batches(config, ids, lengths, args.token_budget)
    ours_packed = time_ours(forward, params, packed)
    ours_packed.update(useful_tokens_per_s=useful / ours_packed["seconds"], row_fill=fill)

    model = model.to(torch.float32 if args.dtype == "fp32" else torch.bfloat16)
    torch_batches = [C.to_torch(_batch(config, ids, lengths, m, n)) for n, m in theirs_plan]
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        model(**torch_batches[0])  # warm-up (allocator, kernels)
        C.torch_sync(None)
        with C.RssPeak() as rss:
            start = time.perf_counter()
            for b in torch_batches:
                model(**b)
            C.torch_sync(None)
            theirs_s = time.perf_counter() - start
    theirs = {"useful_tokens_per_s": useful / theirs_s, "seconds": theirs_s, "batches": len(torch_batches),
              "peak_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else rss.bytes}
    report.add("result", {"ours_bucketed": ours, "ours_packed": ours_packed, "torch_padded": theirs,
                          "speedup": C.ratio(ours["useful_tokens_per_s"], theirs["useful_tokens_per_s"]),
                          "speedup_packed": C.ratio(ours_packed["useful_tokens_per_s"],
                                                    theirs["useful_tokens_per_s"])})
    return report.data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    C.add_common_arguments(parser)
    parser.add_argument("--examples", type=int, default=None, help="sequences (default 48 CPU / 4096 GPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="transformers' batch size (default 8 / 64)")
    parser.add_argument("--token-budget", type=int, default=None,
                        help="our tokens per bucketed batch (default batch-size x 256, the same mean work)")
    parser.add_argument("--dtype", default=None, choices=("fp32", "bf16"), help="default fp32 CPU / bf16 GPU")
    args = parser.parse_args(argv)
    gpu = C.on_gpu()
    args.examples = args.examples or (4096 if gpu else 48)
    args.batch_size = args.batch_size or (64 if gpu else 8)
    args.token_budget = args.token_budget or args.batch_size * 256
    args.dtype = args.dtype or ("bf16" if gpu else "fp32")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
