"""write_text_atomic: the target is the old file or the whole new one, never half of it."""

import os

import pytest

from rembert_jax.atomic_write import write_text_atomic


def test_writes_the_text_and_creates_the_directory(tmp_path):
    path = tmp_path / "new" / "out.json"
    assert write_text_atomic(path, "{}\n") == str(path)
    assert path.read_text() == "{}\n"
    assert os.listdir(path.parent) == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_text_atomic(path, None)  # fails while writing, after the temporary file was opened
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]
