"""The research notebooks of examples/ run end to end on their tiny path, so a broken one fails CI.

Each notebook asserts its own result (padding-independent embeddings; the training loss falls and
the exported model's logits equal transformers'; the sharded forward equals the unsharded one).
The kernel is a subprocess: it inherits this process's environment, hence conftest's XLA_FLAGS
(8 simulated CPU devices), the offline Hub settings, and the variables set below.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_the_three_notebooks_are_there_and_committed_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_sentence_embeddings.ipynb", "02_finetune_classifier.ipynb",
                                           "03_orbax_sharded.ipynb"]
    for path in NOTEBOOKS:
        for cell in _code_cells(nbformat.read(path, as_version=4)):
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has stored outputs"


def _execute(path: Path, workdir: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("REMBERT_JAX_EXAMPLES_TINY", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")           # plots render to nowhere, no display needed
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own migration warning otherwise
    monkeypatch.setenv("TMPDIR", str(workdir))        # whatever the kernel leaves in temp goes with the test
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def _printed(notebook) -> str:
    return "".join(out.get("text", "") for cell in _code_cells(notebook) for out in cell.outputs)


# A line each notebook prints in the cell of its own check (a failed check already stops the run with
# CellExecutionError): proof the checking cell ran, and for the mesh that the kernel really saw 8
# devices (on one device the sharded-equals-unsharded check would be vacuous).
EVIDENCE = {
    "01_sentence_embeddings": "alone vs padded in the batch: max |difference| = ",
    "02_finetune_classifier": "same predictions: True",
    "03_orbax_sharded": "8 cpu devices -> mesh {'data': 2, 'fsdp': 2, 'tensor': 2}",
}


# Notebooks whose tiny path needs the torch/transformers oracle (an export check, a transformers checkpoint).
NEEDS_TRANSFORMERS = ("02_finetune_classifier", "03_orbax_sharded")


@pytest.mark.slow  # a kernel each, and one training run: 10-25 s of CPU per notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs_on_the_tiny_path(path, tmp_path, monkeypatch):
    if path.stem in NEEDS_TRANSFORMERS:
        pytest.importorskip("transformers", reason=f"{path.name} checks against transformers (torch)")
    printed = _printed(_execute(path, tmp_path, monkeypatch))
    assert printed.startswith("tiny random model")
    assert EVIDENCE[path.stem] in printed
