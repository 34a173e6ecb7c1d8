"""Ctrl-C and SIGTERM stop a training process cleanly: exit code 130 (143 for SIGTERM) every time,
never a hang (each wait is bounded), the save in flight finished, no unfinished temporary left.

Before, SIGINT raised KeyboardInterrupt wherever the main thread was: inside an XLA compilation the
process later segfaulted at exit (rc -11/139 in about half the trials), inside a checkpoint save
shutdown hung on orbax's commit thread."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from train_run_testing import config_text, process_env, write_data

REPEATS = 10
STEPS = 1000  # never reached: each run is stopped by its signal
SAVES = (3, 6, 9, 12, 15)  # checkpoint.every=3


@pytest.fixture(scope="module")
def run_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    write_data(root)
    sections = {"train": {"steps": STEPS, "eval_every": 5}, "export": {"formats": []},
                "checkpoint": {"every": 3, "keep": 2, "best_metric": None}}
    return root, lambda out: config_text(root, out, **sections)


def _start(root, text: str, out, **env) -> subprocess.Popen:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(text)
    script = f"import sys\nfrom rembert_jax.cli import main\nsys.exit(main(['train', {str(config)!r}]))"
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=process_env(**env))


def _wait_for_step(process: subprocess.Popen, out, step: int, timeout: float = 240) -> None:
    """Until metrics.jsonl (log_every=1) records `step`: the run is inside its training loop."""
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        if metrics.exists() and any(json.loads(line).get("step", 0) >= step
                                    for line in metrics.read_text().splitlines() if line.endswith("}")):
            return
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"the run did not reach step {step} in {timeout} s")


def _finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    """(exit code, stderr); a process still running after `timeout` seconds is a hang: killed, failed."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"hang: still running {timeout} s after the signal\n{stderr[-3000:]}")
    return process.returncode, stderr


def _checkpoints(out) -> tuple[list[int], list[str]]:
    from rembert_jax.train.checkpoint import finished_steps, unfinished_saves

    return finished_steps(out / "checkpoints"), unfinished_saves(out / "checkpoints")


def _pairs(n: int):
    """0..n-1 two at a time: two runs side by side use both cores of a small CI machine."""
    return [list(range(i, min(i + 2, n))) for i in range(0, n, 2)]


@pytest.mark.slow
def test_ctrl_c_at_a_random_step_exits_130_with_the_checkpoints_intact(run_config, tmp_path):
    root, text = run_config
    rng = random.Random(0)
    for pair in _pairs(REPEATS):
        runs = {repeat: (tmp_path / f"run{repeat}", rng.randint(1, 16)) for repeat in pair}
        processes = {repeat: _start(root, text(out), out) for repeat, (out, _) in runs.items()}
        for repeat, (out, step) in runs.items():
            _wait_for_step(processes[repeat], out, step)
            processes[repeat].send_signal(signal.SIGINT)
        for repeat, (out, step) in runs.items():
            code, stderr = _finish(processes[repeat])
            assert code == 130, f"repeat {repeat} (SIGINT after step {step}): exit code {code}\n{stderr[-3000:]}"
            assert "SIGINT received: stopping after the current step" in stderr
            steps, unfinished = _checkpoints(out)
            assert not unfinished, (repeat, unfinished)
            if steps:
                assert f"(latest step {steps[-1]}): continue with rembert-jax train" in stderr and "--resume" in stderr
            else:
                assert "no checkpoint was written yet: start again with rembert-jax train" in stderr


@pytest.mark.slow
def test_ctrl_c_during_a_save_finishes_that_save_and_exits_130(run_config, tmp_path):
    root, text = run_config
    rng = random.Random(1)
    for pair in _pairs(REPEATS):
        # As the save starts (main thread, before orbax), or while orbax commits it (its thread).
        runs = {repeat: (tmp_path / f"run{repeat}", ("save", "commit")[repeat % 2], rng.choice(SAVES))
                for repeat in pair}
        processes = {repeat: _start(root, text(out), out, REMBERT_JAX_FAULT=f"{phase}@{step}:sigint")
                     for repeat, (out, phase, step) in runs.items()}
        for repeat, (out, phase, step) in runs.items():
            code, stderr = _finish(processes[repeat], timeout=300)
            assert code == 130, f"repeat {repeat} (SIGINT during {phase} of step {step}): exit code {code}\n{stderr[-3000:]}"
            steps, unfinished = _checkpoints(out)
            # That save finished (and any later one orbax's commit lagged behind: the run stops after the
            # step in which the signal arrived), nothing left half-written.
            assert step in steps and not unfinished, (repeat, phase, step, steps, unfinished)
            assert f"the latest checkpoint is step {steps[-1]}" in stderr


def test_sigterm_saves_the_current_step_and_exits_143(run_config, tmp_path):
    root, text = run_config
    out = tmp_path / "preempted"
    process = _start(root, text(out), out, REMBERT_JAX_FAULT="step@7:sigterm")
    code, stderr = _finish(process, timeout=300)
    assert code == 143, stderr[-3000:]
    assert "SIGTERM received" in stderr
    steps, unfinished = _checkpoints(out)
    assert steps[-1] == 7 and not unfinished, steps  # no periodic save: saved for the preemption
    assert "the latest checkpoint is step 7" in stderr


def test_the_first_signal_only_sets_a_flag_and_a_second_ctrl_c_interrupts_at_once():
    from rembert_jax.train.interrupts import RunInterrupted, StopSignals

    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signum == signal.SIGTERM and stop.requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs at the next bytecode boundary
    assert signal.getsignal(signal.SIGINT) is before
    assert RunInterrupted(signal.SIGTERM).exit_code == 143 and RunInterrupted(signal.SIGINT).exit_code == 130
