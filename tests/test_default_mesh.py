"""The trainer's mesh: every device by default, idle devices said out loud, one device through the
same mesh path, and activation constraints from the rules table under `jax.set_mesh`."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from rembert_jax import sharding as S
from rembert_jax.heads import TaskModel
from rembert_jax.train.placement import make_placement, mesh_shape
from rembert_jax.train.run_config import MeshSection, RunConfig
from rembert_jax.train.state import abstract_train_state
from rembert_jax.train.step import make_train_step

TASK = "sequence_classification"


@pytest.fixture(scope="module")
def setup(tiny_config):
    config = tiny_config.replace(input_embedding_size=16, intermediate_size=48, vocab_size=96, num_labels=3,
                                 hidden_dropout_prob=0.1)
    model = TaskModel(config, TASK)
    tx = optax.adamw(1e-3, weight_decay=0.01)
    rng = jax.random.PRNGKey(1)
    abstract = abstract_train_state(jax.eval_shape(model.init, jax.random.PRNGKey(0)), tx, rng)
    return config, model, tx, rng, abstract


def _placement(setup, mesh, batch_size, log=None):
    config, _, _, _, abstract = setup
    return make_placement(mesh, config=config, task=TASK, abstract_state=abstract,
                          batch_sizes={"train.batch_size": batch_size}, log=log)


def test_the_default_mesh_is_every_device_on_data(setup):
    assert RunConfig().mesh == MeshSection(data=-1, fsdp=1, tensor=1)
    notes = []
    placement = _placement(setup, MeshSection(), 16, notes.append)
    assert dict(placement.mesh.shape) == {"data": 8, "fsdp": 1, "tensor": 1}
    assert placement.mesh.devices.size == jax.device_count() == 8
    assert notes == []  # nothing idle, nothing to say


def test_a_batch_the_devices_do_not_split_trains_on_fewer_and_says_so(setup):
    notes = []
    placement = _placement(setup, MeshSection(), 6, notes.append)
    assert dict(placement.mesh.shape) == {"data": 6, "fsdp": 1, "tensor": 1}  # the largest data axis 6 splits over
    assert notes == ["mesh data=6, fsdp=1, tensor=1: training on 6 of the 8 devices, 2 idle: train.batch_size=6 "
                     "does not split over 8 devices; set it to a multiple of 8 to use them all, or choose the mesh "
                     "yourself (mesh.data=N)"]
    # Every batch size counts: 6 and 4 split together over 2 devices only.
    assert mesh_shape(MeshSection(), {"train.batch_size": 6, "train.eval_batch_size": 4}) == (2, 1, 1)
    assert mesh_shape(MeshSection(data=2, fsdp=-1), {"train.batch_size": 12}) == (2, 3, 1)


def test_an_explicit_mesh_smaller_than_the_host_says_devices_are_idle(setup):
    notes = []
    placement = _placement(setup, MeshSection(data=2), 4, notes.append)
    assert placement.mesh.devices.size == 2
    assert notes == ["mesh data=2, fsdp=1, tensor=1: training on 2 of the 8 devices, 6 idle; set one mesh axis to "
                     "-1 (e.g. mesh.data=-1) to use them all"]
    with pytest.raises(ValueError, match=r"train.batch_size=6 must be a multiple of the 4 devices the batch is "
                                         r"split over \(mesh \{'data': 4, 'fsdp': 1, 'tensor': 1\}\)"):
        _placement(setup, MeshSection(data=4), 6)


def _batches(config):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(2):
        ids = rng.integers(1, config.vocab_size, (8, 12), dtype=np.int32)
        mask = np.ones_like(ids)
        mask[::3, 8:] = 0
        out.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
                    "labels": rng.integers(0, config.num_labels, (8,), dtype=np.int32)})
    return out


class _MeshRecorder:
    """The model, noting the mesh its loss is traced under."""

    def __init__(self, model):
        self.model, self.meshes = model, []

    def loss(self, params, batch, *, rng=None):
        self.meshes.append(dict(jax.sharding.get_abstract_mesh().shape))
        return self.model.loss(params, batch, rng=rng)


def _train(setup, mesh):
    config, model, tx, rng, _ = setup
    placement = _placement(setup, mesh, 8)
    state = placement.create_state(tx, rng, init=model.init, init_rng=jax.random.PRNGKey(0))
    recorder = _MeshRecorder(model)
    step = make_train_step(recorder, tx, optax.constant_schedule(1e-3), state_sharding=placement.state,
                           batch_sharding=placement.batch)
    losses = []
    for batch in _batches(config):
        state, metrics = step(state, placement.put_batch(batch))
        losses.append(float(metrics["loss"]))
    return placement, recorder.meshes, losses, jax.device_get(state.params)


def test_one_device_runs_the_same_mesh_path_and_matches_eight(setup):
    one, one_meshes, one_losses, one_params = _train(setup, MeshSection(data=1))
    eight, eight_meshes, eight_losses, eight_params = _train(setup, MeshSection())
    assert list(one.mesh.devices.flat) == jax.devices()[:1]
    assert one_meshes == [{"data": 1, "fsdp": 1, "tensor": 1}]  # traced once, under jax.set_mesh
    assert eight_meshes == [{"data": 8, "fsdp": 1, "tensor": 1}]
    np.testing.assert_allclose(one_losses, eight_losses, atol=1e-5, rtol=0)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=0), one_params, eight_params)


def test_activation_constraints_follow_the_rules_under_the_mesh_only():
    mesh = S.make_mesh((2, 1, 4))
    x = np.zeros((8, 6, 4, 2), np.float32)  # [B, S, NH, D]
    heads = jax.jit(lambda x: S.with_logical_constraint(x, ("batch", "length", "act_heads", None)))
    with jax.set_mesh(mesh):
        assert heads(x).sharding.spec == P("data", None, "tensor")
    jaxpr = str(jax.make_jaxpr(heads)(x))
    assert "sharding_constraint" not in jaxpr  # without a mesh: nothing to constrain


def test_the_encoder_marks_its_activations_on_a_mesh(setup):
    from rembert_jax.encoder import apply

    config, model, _, _, _ = setup
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0))["encoder"]
    batch = {"input_ids": jax.ShapeDtypeStruct((8, 12), np.int32)}
    forward = lambda p, b: apply(p, b, config=config, validate=False)["last_hidden_state"]
    with jax.set_mesh(S.make_mesh((2, 1, 4))):
        marked = str(jax.make_jaxpr(forward)(params, batch))
    assert marked.count("sharding_constraint") >= 1 + 4 * config.num_hidden_layers  # h0; per layer q, k, v, mlp
    assert "sharding_constraint" not in str(jax.make_jaxpr(forward)(params, batch))
