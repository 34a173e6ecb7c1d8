"""The run's metric log: one JSON line per record in `metrics.jsonl`, a summary JSON at the end,
and TensorBoard events when `tensorboardX` or `tensorboard` is installed (optional).

Records are keyed by optimizer step. A resumed run first drops every record after the step it
resumes from, so the file of a killed-and-resumed run reads exactly like an uninterrupted one; a
last line torn by the kill (written halfway) is dropped with a note.
Non-finite numbers are written as `null` (JSON has no NaN). In a multi-process run only process 0
writes (every process holds the same metrics); the others' RunLog does nothing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

from rembert_jax.atomic_write import write_text_atomic

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def _clean(value):
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_records(path: str, *, torn_last_line: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` file, in order. With `torn_last_line`, a last line that is not
    JSON (a write cut short) is passed to it and dropped; a bad line anywhere else is an error."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [(number, line) for number, line in enumerate(f, 1) if line.strip()]
    records = []
    for i, (number, line) in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if torn_last_line is not None and i == len(lines) - 1:
                torn_last_line(line)
                break
            raise ValueError(f"{path}: line {number} is not a JSON record ({e.msg})") from None
    return records


class RunLog:
    def __init__(self, directory: str, *, resume_step: int | None = None, tensorboard: bool = True,
                 log: Callable[[str], None] = print):
        import jax

        self.directory = directory
        self._log = log
        self.metrics_path = os.path.join(directory, METRICS_FILE)
        self.summary_path = os.path.join(directory, SUMMARY_FILE)
        self._file = self._tb = None
        self.resumed_records: list[dict[str, Any]] = []  # the records kept from before the resume step
        if jax.process_index() != 0:
            return
        os.makedirs(directory, exist_ok=True)
        if resume_step is None:
            open(self.metrics_path, "w").close()
        else:
            self._truncate_after(resume_step)
        self._file = open(self.metrics_path, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)
        self._tb = _tensorboard_writer(os.path.join(directory, "tensorboard")) if tensorboard else None

    @property
    def tensorboard_dir(self) -> str | None:
        return os.path.join(self.directory, "tensorboard") if self._tb is not None else None

    def _truncate_after(self, step: int) -> None:
        if not os.path.exists(self.metrics_path):
            return
        def torn(line: str) -> None:
            self._log(f"{self.metrics_path}: dropped its last line, written only in part when the run was "
                      f"stopped ({line.strip()[:80]!r})")

        kept = [r for r in read_records(self.metrics_path, torn_last_line=torn) if r.get("step", 0) <= step]
        self.resumed_records = kept
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def last_eval(self) -> dict[str, Any]:
        """The metrics of the last evaluation among the records kept on resume ({} if none)."""
        for record in reversed(self.resumed_records):
            metrics = {k[len("eval/"):]: v for k, v in record.items() if k.startswith("eval/")}
            if metrics:
                return metrics
        return {}

    def write(self, step: int, record: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        record = {"step": int(step), **_clean(record)}
        self._file.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, step)

    def flush(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def write_summary(self, summary: Mapping[str, Any]) -> str:
        if self._file is None:  # not process 0
            return self.summary_path
        return write_text_atomic(self.summary_path, json.dumps(_clean(summary), indent=2, sort_keys=True) + "\n")

    def close(self) -> None:
        if self._file is None:
            return
        self.flush()
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _tensorboard_writer(directory: str):
    """A SummaryWriter from tensorboardX, else torch's (which needs the tensorboard package), else None."""
    if importlib.util.find_spec("tensorboardX") is not None:
        from tensorboardX import SummaryWriter
    elif importlib.util.find_spec("tensorboard") is not None and importlib.util.find_spec("torch") is not None:
        from torch.utils.tensorboard import SummaryWriter
    else:
        return None
    return SummaryWriter(directory)
