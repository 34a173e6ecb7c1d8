"""Run `lint-imports` (import-linter, contracts in pyproject.toml) over the package as it installs.

Why a wrapper: heads/, convert/, train/ and benchmarks/ live at the top of the repository but install
as rembert_jax.heads, rembert_jax.convert, ... ([tool.setuptools.package-dir]). import-linter's graph
builder (grimp) finds `rembert_jax` on sys.path and walks that one folder, so run over the checkout
it would never see those subpackages. This script lays out the installed tree in a temporary folder,
one symlink per module file, as setuptools would install it, and runs `lint-imports` on that tree.
The custom contract types (.ci/import_contracts.py) are found through the same PYTHONPATH.

Usage: python .ci/lint_imports.py [lint-imports options, e.g. --verbose]; exit status is lint-imports'.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def package_folders(pyproject: Path) -> dict[str, Path]:
    """{package name: its folder in the checkout}, from setuptools' `packages` and `package-dir`."""
    setuptools = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    explicit = setuptools.get("package-dir", {})
    folders: dict[str, Path] = {}
    for name in sorted(setuptools["packages"], key=lambda n: n.count(".")):
        if name in explicit:
            folders[name] = pyproject.parent / explicit[name]
        else:  # a subpackage not named in package-dir sits in its parent's folder
            parent, _, child = name.rpartition(".")
            if parent not in folders:
                raise SystemExit(f"pyproject.toml: package {name} has no folder (neither it nor {parent} is mapped)")
            folders[name] = folders[parent] / child
    return folders


def build_installed_tree(destination: Path, folders: dict[str, Path]) -> None:
    """Symlink every package's *.py files under destination/<package path>/, as an install lays them out.

    (A data-only package such as rembert_jax.train.demo has no *.py and becomes an empty folder.)"""
    for name, folder in folders.items():
        target = destination.joinpath(*name.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in folder.glob("*.py"):
            (target / module.name).symlink_to(module.resolve())


def lint_imports(tree: Path, argv: list[str], **subprocess_options) -> subprocess.CompletedProcess:
    """Run lint-imports with the contracts of pyproject.toml over an installed-layout tree."""
    path = [str(tree), str(REPO / ".ci"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    # run from the tree: lint-imports puts its working folder first on sys.path, and -P keeps
    # python from doing so, so the checkout's own rembert_jax/ folder cannot hide the tree
    command = [sys.executable, "-P", "-c", "from importlinter.cli import lint_imports_command as c; c()"]
    return subprocess.run([*command, str(REPO / "pyproject.toml"), "--no-cache", *argv], cwd=tree, env=env,
                          check=False, **subprocess_options)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="rembert-jax-lint-imports-") as tree:
        build_installed_tree(Path(tree), package_folders(REPO / "pyproject.toml"))
        return lint_imports(Path(tree), argv).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
