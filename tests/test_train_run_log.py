"""RunLog: one JSON line per record, resume truncation, and one writer across processes."""

import jax

from rembert_jax.train import run_log
from rembert_jax.train.run_log import RunLog, read_records


def test_records_after_the_resume_step_are_dropped_and_nan_becomes_null(tmp_path):
    log = RunLog(str(tmp_path), tensorboard=False)
    for step in (1, 2, 3):
        log.write(step, {"loss": float("nan") if step == 3 else 0.5})
    log.close()
    assert read_records(log.metrics_path)[-1] == {"step": 3, "loss": None}
    RunLog(str(tmp_path), resume_step=2, tensorboard=False).close()
    assert [r["step"] for r in read_records(log.metrics_path)] == [1, 2]


def test_only_process_zero_writes_the_metrics_and_summary_files(tmp_path, monkeypatch):
    # Every process of a multi-process run holds the same metrics; several writers would clobber the file.
    monkeypatch.setattr(jax, "process_index", lambda: 1)
    log = RunLog(str(tmp_path / "run"), tensorboard=False)
    log.write(1, {"loss": 0.5})
    log.flush()
    log.write_summary({"step": 1})
    log.close()
    assert not (tmp_path / "run" / run_log.METRICS_FILE).exists()
    assert not (tmp_path / "run" / run_log.SUMMARY_FILE).exists()
