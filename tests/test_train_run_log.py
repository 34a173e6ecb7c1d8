"""RunLog: one JSON line per record, resume truncation, and one writer across processes."""

import jax
import pytest

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


def test_a_torn_last_line_is_dropped_with_a_note_and_the_last_eval_is_kept(tmp_path):
    # A run killed while writing leaves half a line; resuming used to fail on it with a JSONDecodeError.
    log = RunLog(str(tmp_path), tensorboard=False)
    log.write(1, {"loss": 0.5})
    log.write(2, {"eval/accuracy": 0.25})
    log.write(3, {"loss": 0.25})
    log.close()
    with open(log.metrics_path, "a") as f:
        f.write('{"step": 4, "lo')
    notes = []
    resumed = RunLog(str(tmp_path), resume_step=3, tensorboard=False, log=notes.append)
    resumed.close()
    assert [r["step"] for r in read_records(log.metrics_path)] == [1, 2, 3]
    assert notes == [f"{log.metrics_path}: dropped its last line, written only in part when the run was stopped "
                     "('{\"step\": 4, \"lo')"]
    assert resumed.last_eval() == {"accuracy": 0.25}  # what a run resumed past its last step reports


def test_a_bad_line_before_the_last_is_an_error_naming_it(tmp_path):
    path = tmp_path / run_log.METRICS_FILE
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl: line 2 is not a JSON record"):
        RunLog(str(tmp_path), resume_step=3, tensorboard=False, log=print)
