"""RunLog's TensorBoard events: the numeric metrics of each record, at its step (tensorboardX)."""

from __future__ import annotations

import glob
import os
import struct

from tensorboardX.proto import event_pb2

from rembert_jax.train.run_log import RunLog


def _scalars(directory: str) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} from the TFRecord event files under `directory`."""
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        while offset < len(data):  # record: u64 length, u32 crc, payload, u32 crc
            (length,) = struct.unpack_from("<Q", data, offset)
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_numeric_metrics_become_scalars_at_their_step(tmp_path):
    log = RunLog(str(tmp_path), tensorboard=True)
    log.write(1, {"loss": 0.5, "grad_norm": 2.0, "note": "text is skipped", "improved": True})
    log.write(2, {"loss": 0.25, "eval/accuracy": 0.75})
    log.close()
    assert log.tensorboard_dir == os.path.join(str(tmp_path), "tensorboard")
    assert _scalars(log.tensorboard_dir) == {"loss": [(1, 0.5), (2, 0.25)], "grad_norm": [(1, 2.0)],
                                             "eval/accuracy": [(2, 0.75)]}


def test_no_events_when_tensorboard_is_off(tmp_path):
    log = RunLog(str(tmp_path), tensorboard=False)
    log.write(1, {"loss": 0.5})
    log.close()
    assert log.tensorboard_dir is None and not os.path.exists(tmp_path / "tensorboard")
