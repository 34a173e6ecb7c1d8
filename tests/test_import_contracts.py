"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they bite.

`.ci/lint_imports.py` runs lint-imports over the package laid out as it installs (heads/, convert/, train/
live at the top of the checkout); .ci/run runs it too. Here it runs over the real tree (must pass) and
over copies with one planted violation each (must fail, naming it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the `test` extra")

CI = Path(__file__).resolve().parent.parent / ".ci"
sys.path.insert(0, str(CI))
from import_contracts import private_name_imports  # noqa: E402
from lint_imports import REPO, build_installed_tree, lint_imports, package_folders  # noqa: E402

sys.path.remove(str(CI))


def _lint(tree: Path) -> tuple[int, str]:
    result = lint_imports(tree, [], capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def installed_tree(tmp_path) -> Path:
    build_installed_tree(tmp_path, package_folders(REPO / "pyproject.toml"))
    return tmp_path


def test_the_library_keeps_every_import_contract(installed_tree):
    code, text = _lint(installed_tree)
    assert code == 0, text
    assert "0 broken" in text


def test_an_upward_import_breaks_the_floors(installed_tree):
    # heads sit below train: a head reaching up into the trainer is refused
    (installed_tree / "rembert_jax" / "heads" / "upward.py").write_text("from rembert_jax.train import state\n")
    code, text = _lint(installed_tree)
    assert code != 0
    text = " ".join(text.split())
    assert "rembert_jax.heads is not allowed to import rembert_jax.train" in text
    assert "rembert_jax.heads.upward -> rembert_jax.train.state (l.1)" in text


def test_a_new_core_module_must_be_given_a_floor(installed_tree):
    (installed_tree / "rembert_jax" / "brand_new.py").write_text("import math\n")
    code, text = _lint(installed_tree)
    assert code != 0
    assert "rembert_jax.brand_new" in text and "not listed as layers" in text


def test_a_private_name_taken_across_modules_breaks_the_contract(installed_tree):
    (installed_tree / "rembert_jax" / "heads" / "leaky.py").write_text(
        "def f():\n    from ..sharding import (\n        RULES,\n        _secret,\n    )\n")
    code, text = _lint(installed_tree)
    assert code != 0
    assert "rembert_jax.heads.leaky -> rembert_jax.sharding._secret (l.2)" in " ".join(text.split())


def test_private_names_are_told_from_private_submodules_and_external_internals():
    modules = {"pkg", "pkg.sub", "pkg.sub._io", "pkg.sub.reader", "pkg.other"}
    code = (
        "from . import _io\n"  # a private submodule of its own package: private_modules' business
        "from ._io import Reader\n"  # a public name of it
        "from .reader import _helper\n"  # a private name of a sibling module
        "from pkg.other import __version__, _CONSTANT\n"
        "from jax._src.core import trace_state_clean\n"  # another distribution's private module
        "from jax import numpy\n"
        "from . import reader as r\n"
        "import pkg.other\n"
        "r._helper(), r.public(), pkg.other._STATE, numpy._private\n"  # private attributes of other modules
    )
    found = private_name_imports("pkg.sub", code, is_package=True, internal_modules=modules,
                                 root_packages={"pkg"})
    assert found == [
        (3, "pkg.sub -> pkg.sub.reader._helper"),
        (4, "pkg.sub -> pkg.other._CONSTANT"),
        (5, "pkg.sub -> jax._src.core"),
        (9, "pkg.sub -> pkg.other._STATE"),
        (9, "pkg.sub -> pkg.sub.reader._helper"),
    ]
