"""Per-host batch feeding, on one process: which rows a host loads, and assembling them globally."""

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from rembert_jax import distributed
from rembert_jax import sharding as S


def test_a_single_process_loads_every_row_in_order():
    mesh = S.make_mesh((2, 2, 2))
    np.testing.assert_array_equal(distributed.process_batch_rows(8, mesh), np.arange(8))


def test_batch_size_not_divisible_by_data_devices_is_refused():
    mesh = S.make_mesh((2, 2, 2))  # the batch is split 4 ways (data x fsdp)
    with pytest.raises(ValueError, match="global batch size 6 must be a positive multiple of the 4"):
        distributed.process_batch_rows(6, mesh)


def test_local_rows_become_one_batch_sharded_array_with_the_same_values():
    mesh = S.make_mesh((4, 2, 1))
    rows = distributed.process_batch_rows(16, mesh)
    batch = {"input_ids": np.arange(16 * 5, dtype=np.int32).reshape(16, 5), "labels": np.arange(16)}
    local = {k: v[rows] for k, v in batch.items()}
    placed = distributed.global_batch_from_local(local, mesh, 16)
    assert placed["input_ids"].shape == (16, 5)
    assert placed["input_ids"].sharding.spec == P(("data", "fsdp"), None)
    assert placed["input_ids"].addressable_shards[0].data.shape == (2, 5)
    np.testing.assert_array_equal(np.asarray(placed["input_ids"]), batch["input_ids"])
    np.testing.assert_array_equal(np.asarray(placed["labels"]), batch["labels"])


def test_initialize_rejects_a_process_id_outside_the_process_count():
    with pytest.raises(ValueError, match=r"process_id must be in \[0, num_processes=2\), got 2"):
        distributed.initialize("127.0.0.1:1", num_processes=2, process_id=2)
