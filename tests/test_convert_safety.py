"""`convert` and the `save_*` writers never destroy what they did not write (issue 15, items 1 and 6).

Sources and destination are compared by real path; a non-empty destination needs --force /
force=True, which replaces only the writer's own files; unwritable, full and failing destinations
are named errors (exit code 2, no traceback) that leave no staging folder behind.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest
from convert_testing import assert_trees_equal, random_params
from hf_reference import hf_model

from rembert_jax.cli import main
from rembert_jax.convert import load_pytorch, save_keras, save_orbax, save_pytorch, save_tf_checkpoint

try:
    import tensorflow  # noqa: F401

    TARGETS = ("jax", "pytorch", "tf-h5", "tf-checkpoint")
except ImportError:  # the tensorflow extra is optional
    TARGETS = ("jax", "pytorch", "tf-h5")


def _snapshot(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _leftovers(folder) -> list[str]:
    return [name for name in os.listdir(folder) if ".tmp-" in name or "probe" in name]


@pytest.fixture
def torch_bin_checkpoint(tiny_config, tmp_path):
    """The issue's reproduction: a folder with config.json and a masked-LM `pytorch_model.bin`."""
    import torch

    model = hf_model(tiny_config, "masked_lm")
    folder = tmp_path / "X"
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.mark.parametrize("extra", [[], ["--force"], ["--dtype", "bf16"]])
def test_source_file_inside_the_destination_is_refused_and_kept(torch_bin_checkpoint, capsys, extra):
    before = _snapshot(torch_bin_checkpoint)
    src = torch_bin_checkpoint / "pytorch_model.bin"
    rc = main(["convert", str(src), str(torch_bin_checkpoint), "--to", "pytorch", "--task", "base", *extra])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"the destination {torch_bin_checkpoint} holds the source {src}" in err
    assert "Traceback" not in err
    assert _snapshot(torch_bin_checkpoint) == before


def test_a_symlink_to_the_source_folder_is_the_source(torch_bin_checkpoint, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(torch_bin_checkpoint, target_is_directory=True)
    before = _snapshot(torch_bin_checkpoint)
    for src, dst in ((link, torch_bin_checkpoint), (torch_bin_checkpoint, link)):
        assert main(["convert", str(src), str(dst), "--to", "tf-h5", "--force"]) == 2
        assert f"the destination {torch_bin_checkpoint} is the source {src}" in capsys.readouterr().err
    assert _snapshot(torch_bin_checkpoint) == before


def test_a_source_file_symlinked_from_the_destination_is_caught(torch_bin_checkpoint, tmp_path, capsys):
    """A hub-cache-like source folder whose weights are symlinks into the destination folder."""
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        (snapshot / name).symlink_to(torch_bin_checkpoint / name)
    assert main(["convert", str(snapshot), str(torch_bin_checkpoint), "--to", "pytorch", "--force"]) == 2
    assert f"(its file {torch_bin_checkpoint}{os.sep}" in capsys.readouterr().err


@pytest.fixture
def other_folder(tiny_config, tmp_path):
    """A destination that already holds another model's weights and a file of the user's."""
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "pytorch_model.bin").write_bytes(b"another model's weights")
    (folder / "tf_model.h5.index.json").write_text("{}")
    return folder


@pytest.mark.parametrize("target", TARGETS)
def test_every_format_refuses_a_non_empty_destination_without_force(tiny_config, tmp_path, other_folder, capsys,
                                                                      target):
    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))
    before = _snapshot(other_folder)
    assert main(["convert", str(tmp_path / "src"), str(other_folder), "--to", target]) == 2
    err = capsys.readouterr().err
    assert f"{other_folder} already exists and is not empty" in err and "pass --force" in err
    assert "force=True" not in err
    assert _snapshot(other_folder) == before and not _leftovers(tmp_path)


@pytest.mark.parametrize("target", TARGETS)
def test_force_replaces_only_the_files_the_writer_produces(tiny_config, tmp_path, other_folder, target):
    params = random_params(tiny_config, "base")
    save_pytorch(tmp_path / "src", tiny_config, params)
    (other_folder / "config.json").write_text("{}")  # the writer's own name: replaced
    keep = {k: v for k, v in _snapshot(other_folder).items() if k != "config.json"}
    assert main(["convert", str(tmp_path / "src"), str(other_folder), "--to", target, "--force"]) == 0
    after = _snapshot(other_folder)
    assert {k: after[k] for k in keep} == keep  # another model's weights and the user's file survive
    assert main(["convert", str(other_folder), str(tmp_path / "back"), "--from", target, "--to", "pytorch"]) == 0
    assert_trees_equal(params, load_pytorch(tmp_path / "back")[1])
    assert not _leftovers(tmp_path) and not _leftovers(other_folder)


def test_python_writers_refuse_a_non_empty_folder_naming_force_true(tiny_config, tmp_path):
    params = random_params(tiny_config, "base")
    writers = [save_pytorch, save_keras, save_orbax]
    if "tf-checkpoint" in TARGETS:
        writers.append(save_tf_checkpoint)
    (tmp_path / "notes.txt").write_text("mine")
    for save in writers:
        with pytest.raises(FileExistsError, match=r"already exists and is not empty .*pass force=True"):
            save(tmp_path, tiny_config, params)
    assert os.listdir(tmp_path) == ["notes.txt"]


# ------------------------------------------------------------------ unwritable, full, failing


def test_an_unwritable_destination_is_refused_before_the_source_is_read(tiny_config, tmp_path, capsys,
                                                                        monkeypatch):
    """A regular file in the destination's path stops root too (chmod does not)."""
    from rembert_jax.convert import dispatch

    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(dispatch, "read_checkpoint", lambda *a, **k: pytest.fail("the source was read"))
    for dst in (tmp_path / "a-file" / "out", tmp_path / "a-file"):
        assert main(["convert", str(tmp_path / "src"), str(dst), "--to", "pytorch"]) == 2
        err = capsys.readouterr().err
        assert f"cannot write {dst}: " in err and "is a file, not a directory" in err


@pytest.mark.parametrize("target", TARGETS)
def test_a_read_only_filesystem_is_named_before_the_source_is_read(tiny_config, tmp_path, capsys, monkeypatch,
                                                                  target):
    """Root ignores permission bits, so a read-only mount (EROFS) is simulated where files are created."""
    from rembert_jax.convert import destination, dispatch

    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(destination.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(dispatch, "read_checkpoint", lambda *a, **k: pytest.fail("the source was read"))
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "out"), "--to", target]) == 2
    assert f"cannot write {tmp_path / 'out'}: Read-only file system" in capsys.readouterr().err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through chmod 0o555")
def test_a_read_only_folder_is_named(tiny_config, tmp_path, capsys):
    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert main(["convert", str(tmp_path / "src"), str(locked / "out"), "--to", "pytorch"]) == 2
    assert f"cannot write {locked / 'out'}: Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("target", TARGETS)
def test_a_disk_without_room_is_refused_before_writing(tiny_config, tmp_path, capsys, monkeypatch, target):
    import shutil

    from rembert_jax.convert import destination

    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))
    real = shutil.disk_usage
    monkeypatch.setattr(destination.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "out"), "--to", target]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'out'}: it needs about " in err and "but only 1.0 KB are free on that disk" in err
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_a_full_disk_during_the_write_is_named_and_cleaned_up(tiny_config, tmp_path, capsys, monkeypatch):
    from rembert_jax.convert import files

    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))

    def full(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "write_safetensors", full)
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "out"), "--to", "pytorch"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 'out'}: No space left on device (the disk is full" in err
    assert sorted(os.listdir(tmp_path)) == ["src"]


_FAILING_DISK = textwrap.dedent("""
    import os, resource, signal, sys
    from rembert_jax.cli import main
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # below every weights file
    src, root, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
    for target in targets:
        print("---", target, file=sys.stderr, flush=True)
        rc = main(["convert", src, os.path.join(root, "out-" + target), "--to", target])
        print(target, rc, sorted(os.listdir(root)), flush=True)
""")


def test_every_writer_survives_a_failing_disk_and_removes_its_staging(tiny_config, tmp_path):
    """Real OS write failures in a subprocess (a file-size limit: EFBIG, no root or mount needed).
    tf-h5 used to crash with SIGSEGV inside HDF5 and leave its staging folder."""
    save_pytorch(tmp_path / "src", tiny_config, random_params(tiny_config, "base"))
    root = tmp_path / "dst"
    root.mkdir()
    targets = [t for t in TARGETS if t != "jax"] + ["jax"]  # orbax's worker threads may print late: last
    out = subprocess.run([sys.executable, "-c", _FAILING_DISK, str(tmp_path / "src"), str(root), *targets],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:-1] == [f"{target} 2 []" for target in targets]
    errors = dict(part.split("\n", 1) for part in out.stderr.split("--- ")[1:])
    for target in TARGETS:
        assert f"error: cannot write {root / ('out-' + target)}: " in errors[target]
        assert "File too large" in errors[target]
        if target != "jax":  # tensorstore's callbacks may still print "Event loop is closed" after orbax gave up
            assert "Traceback" not in errors[target]
