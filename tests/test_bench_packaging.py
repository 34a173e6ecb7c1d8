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


def _build_options() -> tuple[list[str], dict[str, str]]:
    """pip's build options and environment. The backend needs setuptools>=77 (pyproject's build-system):
    an installed copy that new is used without build isolation (a venv's bundled, older copy could shadow
    it, so the build is pointed at the newest); without one (Python 3.12 venvs bundle none), pip builds
    in isolation, fetching it from the package index as `pip install -e .` did."""
    def version(dist):
        return tuple(int(p) for p in dist.version.split(".")[:2] if p.isdigit())

    copies = [d for d in importlib.metadata.distributions(name="setuptools") if version(d) >= (77,)]
    if not copies:
        return [], dict(os.environ)
    newest = max(copies, key=version)
    return ["--no-build-isolation"], {**os.environ, "PYTHONPATH": str(newest.locate_file(""))}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    options, env = _build_options()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *options,
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
        from rembert_jax.cli import main
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
