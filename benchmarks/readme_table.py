"""Regenerate the README's table of issue 16's targets from the JSON files in benchmarks/results/.

    python benchmarks/readme_table.py            # rewrite the block in README.md
    python benchmarks/readme_table.py --check    # exit 1 if README.md is not up to date

One script writes each row's file (run them on the machine the row names):

    CPU fp32 train step   python benchmarks/bench_train_step.py --out benchmarks/results/cpu-train-step.json
    CPU fp32 forward      python benchmarks/bench_forward.py --shapes 8x128 --dtypes fp32 \\
                              --out benchmarks/results/cpu-forward.json
    CPU mixed lengths     python benchmarks/bench_mixed_length.py --out benchmarks/results/cpu-mixed-length.json
    every GPU row         python benchmarks/gpu_check.py --final --budget-s 540 \\
                              --sections fp32_parity,issue16_forward,issue16_train --json-name issue16.json
                          (then copy $OUT/issue16.json to benchmarks/results/gpu-issue16.json)

A row whose file is missing says so ("not measured yet"). The block sits between the two marker
comments of README.md's Performance section; nothing else of the README is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- BEGIN benchmarks/readme_table.py -->", "<!-- END benchmarks/readme_table.py -->"
OWED = "not measured yet"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _x(value) -> str:
    return f"{value:.2f}×" if isinstance(value, int | float) else "—"


def _cpu_machine(data: dict) -> str:
    env = data.get("environment", {})
    return f"{env.get('cpu_model', '?')}, {env.get('cpu_count', '?')} cores, load {env.get('load_average_1m', '?')}"


def _rounds(ours: dict, theirs: dict) -> str:
    """The spread of the per-round ratios (neighbours in time), e.g. " (rounds 0.83–1.46×)"."""
    pairs = zip(ours.get("rounds_tokens_per_s", []), theirs.get("rounds_tokens_per_s", []), strict=False)
    ratios = [o / t for o, t in pairs if t]
    return f" (rounds {min(ratios):.2f}–{max(ratios):.2f}×)" if len(ratios) > 1 else ""


def cpu_rows() -> list[tuple[str, str, str, str, str]]:
    rows = []
    train = _load("cpu-train-step.json")
    for shape in ("4x128", "1x512"):
        row = (train or {}).get(f"fp32_{shape}")
        measured = (f"{_x(row['speedup'])} wall{_rounds(row['ours'], row['torch_fused_adamw'])}, "
                    f"{_x(row.get('cpu_time_ratio'))} CPU time" if row else OWED)
        rows.append((f"CPU fp32 train step vs PyTorch AdamW, ({shape.replace('x', ', ')}), 4 full-width layers",
                     _cpu_machine(train) if train else "—", measured, "≥ 1.1×", "cpu-train-step.json"))
    forward = _load("cpu-forward.json")
    row = (forward or {}).get("fp32_8x128")
    rows.append(("CPU fp32 forward vs PyTorch eager, (8, 128)", _cpu_machine(forward) if forward else "—",
                 _x(row["speedup_vs_eager"]) + _rounds(row["ours"], row["torch_eager"]) if row else OWED,
                 "≥ 1.0× Intel, ≥ 1.15× AMD", "cpu-forward.json"))
    mixed = _load("cpu-mixed-length.json")
    row = (mixed or {}).get("result")
    rows.append(("CPU mixed lengths 16–512 vs PyTorch padded", _cpu_machine(mixed) if mixed else "—",
                 f"{_x(row['speedup'])} bucketed, {_x(row.get('speedup_packed'))} packed" if row else OWED,
                 "≥ 2.1× (AMD)", "cpu-mixed-length.json"))
    return rows


def gpu_rows() -> list[tuple[str, str, str, str, str]]:
    data = _load("gpu-issue16.json") or {}
    env = data.get("env", {})
    machine = env.get("torch_device", "—") if data else "—"
    forward, train = data.get("issue16_forward", {}), data.get("issue16_train", {})

    def speedup(shape, variant):
        return forward.get(shape, {}).get(f"ours_{variant}", {}).get("speedup_vs_torch_compile_bf16")

    def pair(variant):
        values = [speedup(s, variant) for s in ("64x128", "16x512")]
        return " / ".join(_x(v) for v in values) if any(values) else OWED

    bf16 = train.get("ours_bf16", {})
    trained = (f"{_x(bf16['speedup'])}, MFU {bf16.get('mfu', 0):.0%}" if "speedup" in bf16 else OWED)
    return [("GPU bf16 forward vs `torch.compile`, (64, 128) / (16, 512)", machine, pair("bf16"), "≥ 1.2× both",
             "gpu-issue16.json"),
            ("GPU FP8 forward vs `torch.compile` **bf16**, (64, 128) / (16, 512)", machine, pair("fp8"), "≥ 1.6×",
             "gpu-issue16.json"),
            ("GPU bf16 train step vs fused-AdamW PyTorch, (64, 128)", machine, trained, "≥ 1.75× (≥ 45% MFU)",
             "gpu-issue16.json")]


def table() -> str:
    lines = [BEGIN, "| workload | machine | measured | target | raw JSON |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | `{e}` |" for a, b, c, d, e in cpu_rows() + gpu_rows()]
    return "\n".join(lines + [END])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that README.md is up to date")
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"error: {readme} has no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    new = head + table() + rest.split(END, 1)[1]
    if args.check:
        return 0 if new == text else 1
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
