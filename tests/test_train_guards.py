"""What a training run checks before it trains: one writer per output_dir (an OS lock naming its
holder, released by the kernel when the holder dies), and writable output and export directories."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from train_run_testing import config_text, write_data

from rembert_jax.cli import main
from rembert_jax.train.run_lock import RunLock, RunLockedError


@pytest.fixture
def config(tmp_path):
    write_data(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text(config_text(tmp_path, tmp_path / "out"))
    return path


def test_a_second_run_on_the_same_output_dir_is_refused_naming_the_holder(config, tmp_path, capsys):
    os.makedirs(tmp_path / "out")
    with RunLock(tmp_path / "out"):
        assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'out'} is in use by another training run (pid {os.getpid()} on host " in err
    assert not (tmp_path / "out" / "checkpoints").exists()  # refused before anything was written


def test_a_lock_left_by_a_killed_process_is_free_again(tmp_path):
    with subprocess.Popen(
            [sys.executable, "-c", "import sys, time\nfrom rembert_jax.train.run_lock import RunLock\n"
                                   f"RunLock({str(tmp_path)!r}).acquire()\nprint('locked', flush=True)\ntime.sleep(60)"],
            stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline() == "locked\n"
            with pytest.raises(RunLockedError, match=rf"\(pid {holder.pid} on host "):
                RunLock(tmp_path).acquire()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=30)
    with RunLock(tmp_path) as lock:  # no stale lock: the kernel released the dead holder's flock
        assert Path(lock.path).read_text().startswith(f"pid {os.getpid()} on host ")


@pytest.mark.parametrize("key", ["output_dir", "export.dir"])
def test_an_output_or_export_dir_that_cant_be_written_is_named_before_training(config, tmp_path, capsys, key):
    # (A read-only directory can't be made in a test running as root, for whom every mode bit is
    # writable; a path through a file fails the same check the same way.)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["train", str(config), f"{key}={blocker / 'sub'}"]) == 2
    assert f"error: {key} {blocker / 'sub'} can't be created: {blocker} is a file, not a directory" in \
        capsys.readouterr().err
    assert not (tmp_path / "out" / "checkpoints").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_export_dir_is_named_before_training(config, tmp_path, capsys):
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    assert main(["train", str(config), f"export.dir={read_only / 'export'}"]) == 2
    assert f"error: export.dir {read_only / 'export'} is not writable (it would be created in {read_only})" in \
        capsys.readouterr().err
