"""Two processes on localhost (jax.distributed + gloo CPU collectives) train like one.

The test spawns this file twice as a worker (`python tests/test_distributed_two_process.py
worker ID PORT OUT`). Each worker has 2 CPU devices, joins the other through
`rembert_jax.distributed.initialize`, builds the trainer's `Placement` for a (data 2, fsdp 2) mesh
over all 4 devices of both processes, initialises the train state straight into its FSDP layout,
transfers ONLY its own rows of each global batch (`put_batch`: `process_batch_rows` +
`global_batch_from_local`), then runs the trainer's `make_train_step`. Losses and the gathered final parameters must match a
single-process run of the same steps.
"""

import os
import socket
import subprocess
import sys

import numpy as np

TASK = "sequence_classification"
GLOBAL_BATCH, LENGTH, STEPS = 8, 12, 2


def _config():
    from rembert_jax import RemBertConfig

    return RemBertConfig.from_preset("tiny").replace(input_embedding_size=16, intermediate_size=48,
                                                     vocab_size=96, num_labels=3)


def _global_batches(config):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(STEPS):
        ids = rng.integers(1, config.vocab_size, (GLOBAL_BATCH, LENGTH), dtype=np.int32)
        mask = np.ones_like(ids)
        mask[1::2, 9:] = 0
        out.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
                    "labels": rng.integers(0, config.num_labels, (GLOBAL_BATCH,), dtype=np.int32)})
    return out


def _training(config):
    import jax
    import optax

    from rembert_jax.heads import TaskModel
    from rembert_jax.train.state import create_train_state

    model = TaskModel(config, TASK)
    tx = optax.adamw(1e-3, weight_decay=0.01)
    rng = jax.random.key_data(jax.random.key(1))
    init_state = lambda r: create_train_state(model.init(jax.random.key(0)), tx, r)
    return model, tx, rng, init_state


def _flat(params) -> dict[str, np.ndarray]:
    import jax

    return {jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


def _worker(process_id: int, port: int, out_path: str) -> None:
    from rembert_jax import distributed

    distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
    import jax
    import optax

    from rembert_jax.train.placement import make_placement
    from rembert_jax.train.run_config import MeshSection
    from rembert_jax.train.state import abstract_train_state
    from rembert_jax.train.step import make_train_step

    assert jax.process_count() == 2 and jax.device_count() == 4 and jax.local_device_count() == 2
    config = _config()
    model, tx, rng, _ = _training(config)
    # The trainer's own placement: state created sharded, each host feeding only its rows.
    abstract = abstract_train_state(jax.eval_shape(model.init, jax.random.key(0)), tx, rng)
    placement = make_placement(MeshSection(data=2, fsdp=2), config=config, task=TASK, abstract_state=abstract)
    state = placement.create_state(tx, rng, init=model.init, init_rng=jax.random.key(0))
    step = make_train_step(model, tx, optax.constant_schedule(1e-3), state_sharding=placement.state,
                           batch_sharding=placement.batch)

    rows = distributed.process_batch_rows(GLOBAL_BATCH, placement.mesh)
    assert len(rows) == GLOBAL_BATCH // 2  # this host transfers half the batch, never the whole
    losses = []
    for batch in _global_batches(config):
        global_batch = placement.put_batch(batch)
        assert not global_batch["input_ids"].is_fully_addressable
        state, metrics = step(state, global_batch)
        losses.append(float(placement.fetch(metrics["loss"])))
    kernel = state.params["encoder"]["layers"]["mlp"]["output"]["kernel"]
    assert kernel.sharding.spec[2] == "fsdp" and not kernel.is_fully_addressable  # really split across hosts
    params = placement.fetch(state.params)
    if process_id == 0:
        np.savez(out_path, losses=np.asarray(losses), **_flat(params))
    jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_localhost_match_the_single_process_run(tmp_path):
    import jax

    from rembert_jax.train.step import make_train_step

    port, out = _free_port(), tmp_path / "result.npz"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONWARNINGS": "error"}
    procs = [subprocess.Popen([sys.executable, __file__, "worker", str(i), str(port), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    logs = []
    for p in procs:
        try:
            logs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    assert all(p.returncode == 0 for p in procs), "\n\n".join(logs)[-6000:]

    # The same steps in this one process, on one device.
    import optax

    config = _config()
    model, tx, rng, init_state = _training(config)
    state = jax.jit(init_state)(rng)
    step = make_train_step(model, tx, optax.constant_schedule(1e-3))
    losses = []
    for batch in _global_batches(config):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))

    result = np.load(out)
    np.testing.assert_allclose(result["losses"], losses, atol=1e-5, rtol=0)
    expected = _flat(jax.device_get(state.params))
    assert set(expected) <= set(result.files)
    for name, value in expected.items():
        np.testing.assert_allclose(result[name], value, atol=1e-5, rtol=0, err_msg=name)


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "worker":
    _worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
