"""`rembert-jax bench` from an installed wheel: the benchmark scripts ship as `rembert_jax.benchmarks`."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _newest_setuptools_dir() -> str:
    # the build backend needs setuptools>=77 (pyproject's build-system); a venv's bundled copy may be older
    # and shadow the shared one, so the build is pointed at the newest installed copy.
    newest = max(importlib.metadata.distributions(name="setuptools"),
                 key=lambda d: tuple(int(p) for p in d.version.split(".")[:2]))
    return str(newest.locate_file(""))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PYTHONPATH": _newest_setuptools_dir()}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, env=env, capture_output=True, timeout=300)
    (found,) = out.glob("rembert_jax-*.whl")
    return found


def test_the_wheel_ships_the_benchmark_scripts_without_their_results(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for script in ("_common", "bench_forward", "bench_train_step", "bench_mixed_length", "gpu_check"):
        assert f"rembert_jax/benchmarks/{script}.py" in names
    assert not [n for n in names if n.startswith("rembert_jax/benchmarks/results")]


def test_bench_command_runs_the_scripts_of_the_installed_wheel_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    child = textwrap.dedent("""
        import sys
        from rembert_jax.train.cli import main
        try:
            main(["bench", "train", "--help"])
        except SystemExit:
            pass
        import rembert_jax.benchmarks.bench_train_step as T
        print("FILE", T.__file__)
        print("TORCH", "torch" in sys.modules)
    """)
    # the wheel's copy comes first on the path; the cwd is far from the checkout
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", child], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "--shapes" in done.stdout  # the train benchmark's own --help
    assert f"FILE {site}/rembert_jax/benchmarks/bench_train_step.py" in done.stdout
    assert "TORCH False" in done.stdout  # torch stays lazy until a benchmark runs
