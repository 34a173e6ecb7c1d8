"""Numbers on the shape of the library, for issue 14's before/after note (not shipped in the package).

    python .ci/house_metrics.py [--repo DIR] [--trace]      # prints one JSON object

Run it with the Python of the checkout it measures (--repo, default: this checkout) so that --trace
imports that checkout's rembert_jax. It works on the layout before issue 14 and after: a file's room
is decided by its path, with the old places of each room listed next to the new ones.

- rooms: .py files and lines (all lines, and code lines: neither blank nor only a comment) per room.
- task_name_literals: per task name, the string literals equal to it in library code, and the files.
- format_dispatches: the places that choose code by a checkpoint format's name: module-level tables
  of readers/writers keyed by format name (see _table_kinds), and functions. A function counts when
  it compares something (`==`/`!=`/`in`, `match` cases) with a module-level constant bound to a format
  name (`fmt == PYTORCH`), or with two or more format names written as literals, or builds a dict keyed
  by two or more format names whose values are not all strings (a table of readers or writers, not of
  display names); the tokenizers' return_tensors="jax"/"tf" are not formats. "write" when the
  function's name says save, write or export, else "read". Each counted function is listed, with the
  names it compares, to be checked.
- trace (--trace): `rembert-jax train configs/demo.yaml` with train.steps=5 optim.warmup_steps=2 (so it
  runs in a minute; the code path is the full one: data, init, steps, eval, test, checkpoint, export),
  with a profiler on every thread: the library modules imported, and those in which a function was
  called (the file hops of the run).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import tomllib
from collections import Counter
from pathlib import Path

# (room, path prefixes relative to the repository), most specific first: the new place, then the old ones.
ROOMS = (
    ("tokenization", ("rembert_jax/tokenization/", "rembert_jax/_tokenization_", "rembert_jax/tokenization_rembert")),
    ("adapters", ("rembert_jax/adapters/", "convert/adapters.py", "convert/_adapter")),
    ("cli", ("rembert_jax/cli/", "train/cli.py", "train/cmd_", "train/_cmd_common.py", "convert/cmd_convert.py")),
    ("train.data", ("train/data/", "train/data", "train/batching.py", "train/packed_batching.py",
                    "train/masking.py")),
    ("heads", ("heads/",)),
    ("convert", ("convert/",)),
    ("train", ("train/",)),
    ("benchmarks", ("benchmarks/",)),
    ("core", ("rembert_jax/", "configs/")),
)
TASKS = ("base", "masked_lm", "causal_lm", "sequence_classification", "multiple_choice",
         "token_classification", "question_answering")
# every spelling of a checkpoint format the library has used (issue 14 counts four vocabularies)
FORMAT_NAMES = {"pytorch", "safetensors", "keras", "keras_h5", "tf-h5", "tf_h5", "tf1", "tf-checkpoint",
                "tf_checkpoint", "tf", "jax", "orbax", "flax", "trainer", "train-step", "train_step"}
# ...of which these are as often a framework's name (`JAX = "jax"`, loss style "tf") as a format's
FRAMEWORK_NAMES = {"jax", "tf", "keras", "flax"}
WRITE_WORDS = re.compile(r"save|write|export", re.IGNORECASE)


def library_files(repo: Path) -> list[Path]:
    """The .py files that install as rembert_jax ([tool.setuptools] packages / package-dir), sorted."""
    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {repo / folder for folder in setuptools.get("package-dir", {}).values()}
    files = {f for root in roots for f in root.rglob("*.py") if "results" not in f.relative_to(repo).parts}
    return sorted(files)


def room_of(relative: str) -> str:
    for room, prefixes in ROOMS:
        if relative.startswith(prefixes):
            return room
    return "other"


def _code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def rooms(repo: Path, files: list[Path]) -> dict:
    out = {room: {"files": 0, "lines": 0, "code_lines": 0} for room, _ in ROOMS}
    for f in files:
        text = f.read_text()
        entry = out.setdefault(room_of(f.relative_to(repo).as_posix()), {"files": 0, "lines": 0, "code_lines": 0})
        entry["files"] += 1
        entry["lines"] += len(text.splitlines())
        entry["code_lines"] += _code_lines(text)
    return out


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def task_name_literals(repo: Path, files: list[Path]) -> dict:
    places, in_files = Counter(), {task: set() for task in TASKS}
    for f in files:
        for value in _strings(ast.parse(f.read_text())):
            if value in in_files:
                places[value] += 1
                in_files[value].add(f.relative_to(repo).as_posix())
    return {task: {"literals": places[task], "files": len(in_files[task])} for task in TASKS}


def format_constants(files: list[Path]) -> dict[str, str]:
    """Module-level names bound to a format name (`PYTORCH, KERAS_H5 = "pytorch", "keras_h5"`), any file."""
    constants = {}
    for f in files:
        for node in ast.parse(f.read_text()).body:
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts, strict=False)
                         if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                         else [(target, node.value)])
                for name, value in pairs:
                    if (isinstance(name, ast.Name) and isinstance(value, ast.Constant)
                            and value.value in FORMAT_NAMES - FRAMEWORK_NAMES):
                        constants[name.id] = value.value
    return constants


def _format_names_compared(function: ast.AST, constants: dict[str, str]) -> set[str]:
    """The format names `function` chooses code by: any named format constant it compares with, and
    literal names when there are two or more ("tf", "jax" alone are as often a framework as a format)."""
    literal: set[str] = set()
    named: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Name | ast.Attribute):
                    value = constants.get(side.id if isinstance(side, ast.Name) else side.attr)
                    named |= {value} if value else set()
                elif isinstance(side, ast.Constant | ast.Tuple | ast.List | ast.Set):
                    literal |= FORMAT_NAMES.intersection(_strings(side))
        elif isinstance(node, ast.match_case):
            literal |= FORMAT_NAMES.intersection(_strings(node.pattern))
        elif isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in FORMAT_NAMES]
            if len(keys) >= 2 and not all(isinstance(v, ast.Constant) for v in node.values):
                literal |= set(keys)
    return named | (literal if len(literal) >= 2 else set())


def _table_kinds(value: ast.AST) -> set[str]:
    """For a module-level table of readers/writers keyed by format name, "read" and/or "write".

    A table: a dict with two or more format-name keys and values that are not all strings, or a
    tuple/list of two or more calls (`Format("pytorch", ..., "pytorch:read_pytorch", ...)`) each taking
    a format name; its kind comes from the words in it (read/load, save/write/export)."""
    if isinstance(value, ast.Dict):
        keys = [k.value for k in value.keys if isinstance(k, ast.Constant) and k.value in FORMAT_NAMES]
        is_table = len(keys) >= 2 and not all(isinstance(v, ast.Constant) for v in value.values)
    elif isinstance(value, ast.Tuple | ast.List):
        rows = [e for e in value.elts if isinstance(e, ast.Call) and FORMAT_NAMES.intersection(_strings(e))]
        is_table = len(rows) >= 2
    else:
        return set()
    if not is_table:
        return set()
    words = " ".join(_strings(value) + [n.id for n in ast.walk(value) if isinstance(n, ast.Name)]
                     + [n.attr for n in ast.walk(value) if isinstance(n, ast.Attribute)])
    kinds = {"read"} if re.search(r"read|load", words, re.IGNORECASE) else set()
    return kinds | ({"write"} if WRITE_WORDS.search(words) else set())


def format_dispatches(repo: Path, files: list[Path]) -> dict:
    constants = format_constants(files)
    found = {"read": [], "write": []}
    for f in files:
        relative = f.relative_to(repo).as_posix()
        if room_of(relative) == "tokenization":
            continue  # its "jax"/"tf" are return_tensors= values, not checkpoint formats
        module = ast.parse(f.read_text())
        for node in module.body:  # tables of readers / writers
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                for kind in sorted(_table_kinds(node.value)):
                    found[kind].append(f"{relative}:{ast.unparse(target)} (table)")
        functions = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        inner = {id(m) for n in functions for m in ast.walk(n) if m is not n and m in functions}
        for function in functions:
            if id(function) in inner:
                continue  # counted with the function it is written in
            names = _format_names_compared(function, constants)
            if names:
                kind = "write" if WRITE_WORDS.search(function.name) else "read"
                found[kind].append(f"{relative}:{function.name} {sorted(names)}")
    return {kind: {"count": len(where), "files": len({w.partition(":")[0] for w in where}), "where": where}
            for kind, where in found.items()}


def trace_demo_run(repo: Path, files: list[Path]) -> dict:
    """Run the README's main job (5 steps) in this process with a profiler; the library modules touched."""
    library = {str(f.resolve()): f.relative_to(repo).as_posix() for f in files}
    imported_before = set(sys.modules)
    called: set[str] = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name != "<module>":
            where = library.get(frame.f_code.co_filename)
            if where is not None:
                called.add(where)

    script = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["scripts"]["rembert-jax"]
    module_name, _, function = script.partition(":")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["REMBERT_JAX_COMPILATION_CACHE"] = "off"  # the same work in every run
    with tempfile.TemporaryDirectory(prefix="house-metrics-") as out:
        argv = ["train", str(repo / "configs" / "demo.yaml"), "train.steps=5", "optim.warmup_steps=2",
                f"output_dir={out}/run"]
        threading.setprofile(profile)
        sys.setprofile(profile)
        try:
            main = getattr(__import__(module_name, fromlist=[function]), function)
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON
                status = main(argv)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    if status != 0:
        raise SystemExit(f"the traced run failed (exit status {status}); its output is above")
    imported = {m.__file__ for name, m in list(sys.modules.items())
                if name not in imported_before and name.startswith("rembert_jax") and getattr(m, "__file__", None)}
    imported_library = sorted(library[str(Path(p).resolve())] for p in imported if str(Path(p).resolve()) in library)
    return {
        "command": "rembert-jax train configs/demo.yaml train.steps=5 optim.warmup_steps=2 output_dir=<temporary>",
        "modules_imported": len(imported_library),
        "rooms_imported": dict(Counter(room_of(p) for p in imported_library)),
        "modules_with_a_function_called": len(called),
        "rooms_with_a_function_called": dict(Counter(room_of(p) for p in called)),
        "modules_called": sorted(called),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--trace", action="store_true", help="also run the demo job (5 steps) under a profiler")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    files = library_files(repo)
    report = {
        "repo": str(repo),
        "library_files": len(files),
        "rooms": rooms(repo, files),
        "task_name_literals": task_name_literals(repo, files),
        "format_dispatches": format_dispatches(repo, files),
    }
    if args.trace:
        report["trace"] = trace_demo_run(repo, files)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
