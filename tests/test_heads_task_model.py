"""`TaskModel` behaviour that transformers parity doesn't cover: jit without re-tracing, dropout
and rng handling, multiple-choice reshaping, input/label validation, and that the caller's config
and batch are never changed."""

from __future__ import annotations

import chex
import jax
import numpy as np
import pytest

from rembert_jax.heads import TaskModel

B, S = 2, 5


@pytest.fixture(scope="module")
def seq_cls(tiny_config):
    config = tiny_config.replace(num_labels=3, classifier_dropout_prob=0.5, hidden_dropout_prob=0.1)
    model = TaskModel(config, "sequence_classification")
    return model, model.init(jax.random.key(0))


def _batch(seed: int, vocab: int = 99, labels=None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch = {"input_ids": rng.integers(1, vocab, (B, S)).astype(np.int32), "attention_mask": np.ones((B, S), np.int32)}
    batch["labels"] = rng.integers(0, 3, (B,)).astype(np.int32) if labels is None else labels
    return batch


def test_jitted_loss_is_traced_once_for_batches_of_one_shape(seq_cls):
    model, params = seq_cls

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(params, batch, rng):
        return jax.value_and_grad(model.loss, has_aux=True)(params, batch, rng=rng)[0][0]

    values = [float(step(params, _batch(seed), jax.random.key(seed))) for seed in range(3)]
    assert len(set(values)) == 3  # really different batches


def test_apply_compiles_once_per_shape_even_for_a_recreated_model(seq_cls):
    from rembert_jax.heads.task_model import _forward

    model, params = seq_cls
    model.apply(params, _batch(0))
    before = _forward._cache_size()
    TaskModel(model.config, model.task).apply(params, _batch(1))  # equal model, new values: same executable
    model.apply(params, _batch(2))
    assert _forward._cache_size() == before


def test_dropout_runs_only_in_training_with_an_rng(seq_cls):
    model, params = seq_cls
    batch = _batch(0)
    evaluation = model.apply(params, batch)["logits"]
    np.testing.assert_array_equal(model.apply(params, batch, train=True)["logits"], evaluation)  # no rng
    np.testing.assert_array_equal(model.apply(params, batch, rng=jax.random.key(1))["logits"], evaluation)
    first = model.apply(params, batch, train=True, rng=jax.random.key(1))["logits"]
    again = model.apply(params, batch, train=True, rng=jax.random.key(1))["logits"]
    other = model.apply(params, batch, train=True, rng=jax.random.key(2))["logits"]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, evaluation) and not np.allclose(first, other)
    # loss(): training mode exactly when an rng is given
    np.testing.assert_allclose(model.loss(params, batch)[0], model.apply(params, batch)["loss"])
    np.testing.assert_allclose(model.loss(params, batch, rng=jax.random.key(1))[0],
                               model.apply(params, batch, train=True, rng=jax.random.key(1))["loss"])


def test_loss_leaves_the_callers_config_and_batch_unchanged(seq_cls):
    model, params = seq_cls
    config = model.config
    batch = _batch(3, labels=np.array([1.0, 0.0], np.float32)[:, None] * np.ones((1, 3), np.float32))
    copy = {k: v.copy() for k, v in batch.items()}
    model.loss(params, batch)  # float labels: multi-label, resolved but not written back
    assert model.config is config and config.problem_type is None
    assert batch.keys() == copy.keys() and all(np.array_equal(batch[k], copy[k]) for k in batch)


def test_encoder_extras_are_returned_on_request(seq_cls):
    model, params = seq_cls
    L = model.config.num_hidden_layers
    out = model.apply(params, _batch(0), output_hidden_states=True, output_attentions=True)
    assert len(out["hidden_states"]) == L + 1 and len(out["attentions"]) == L
    assert "hidden_states" not in model.apply(params, _batch(0))


def test_multiple_choice_flattens_choices_and_reshapes_scores(tiny_config):
    model = TaskModel(tiny_config, "multiple_choice")
    params = model.init(jax.random.key(0))
    ids = np.random.default_rng(0).integers(1, 99, (B, 3, S))
    logits = model.apply(params, {"input_ids": ids})["logits"]
    assert logits.shape == (B, 3)
    # a choice's score depends only on that choice: reordering the choices reorders the scores
    reordered = model.apply(params, {"input_ids": ids[:, ::-1]})["logits"]
    np.testing.assert_allclose(reordered, logits[:, ::-1], atol=1e-6)
    assert not np.allclose(logits[:, 0], logits[:, 1])


def test_init_gives_the_encoder_a_pooler_exactly_when_transformers_does(tiny_config):
    for task, pooled in (("masked_lm", False), ("sequence_classification", True), ("question_answering", False)):
        params = jax.eval_shape(TaskModel(tiny_config, task).init, jax.random.key(0))
        assert ("pooler" in params["encoder"]) == pooled, task


@pytest.mark.parametrize(
    ("task", "batch", "message"),
    [
        ("sequence_classification", {"input_ids": np.ones((B, S), np.int32), "labels": np.array([0, 2])},
         r"labels must be in \[0, 2\) \(num_labels=2\) or -100"),
        ("sequence_classification", {"input_ids": np.ones((B, S), np.int32), "labels": np.array([0, 1, 1])},
         r"single_label_classification must have shape \[2\]"),
        ("sequence_classification", {"input_ids": np.ones((B, S), np.int32), "label": np.array([0, 1])},
         r"the sequence_classification batch has unknown key\(s\) 'label' \(did you mean 'labels'\?\)"),
        ("masked_lm", {"input_ids": np.ones((B, S), np.int32), "labels": np.full((B, S), 99)},
         r"labels must be in \[0, 99\) \(vocab_size=99\)"),
        ("masked_lm", {"input_ids": np.ones((B, S), np.int32), "labels": np.ones((B, S + 1), np.int32)},
         r"labels must have shape \[2, 5\]"),
        ("token_classification", {"input_ids": np.ones((B, S), np.int32), "labels": np.ones((B, S), np.float32)},
         r"labels must be integer class indices"),
        ("question_answering", {"input_ids": np.ones((B, S), np.int32), "start_positions": np.array([1, 2])},
         r"needs both start_positions and end_positions"),
        ("question_answering", {"input_ids": np.ones((B, S), np.int32), "start_positions": np.ones((B, 2), np.int32),
                                "end_positions": np.ones((B,), np.int32)}, r"start_positions must have shape \[2\]"),
        ("multiple_choice", {"input_ids": np.ones((B, S), np.int32)}, r"num_choices, length\], got \[2, 5\]"),
        ("multiple_choice", {"input_ids": np.ones((B, 3, S), np.int32), "labels": np.array([3, 0])},
         r"labels must be in \[0, 3\) \(num_choices=3\)"),
        ("sequence_classification", {"labels": np.array([0, 1])}, r"input_ids or inputs_embeds"),
    ],
    ids=["class_out_of_range", "label_shape", "unknown_key", "token_id_out_of_range", "lm_label_shape",
         "float_token_labels", "one_qa_position", "qa_position_shape", "choices_rank", "choice_out_of_range",
         "no_inputs"],
)
def test_bad_batches_raise_before_tracing(tiny_config, task, batch, message):
    model = TaskModel(tiny_config, task)
    params = jax.eval_shape(model.init, jax.random.key(0))  # never reached: validation comes first
    with pytest.raises(ValueError, match=message):
        model.apply(params, batch)


def test_bad_models_and_calls_are_explained(tiny_config):
    with pytest.raises(ValueError, match=r"task must be one of .*'masked_lm'"):
        TaskModel(tiny_config, "mlm")
    with pytest.raises(ValueError, match=r"question_answering needs config.num_labels == 2"):
        TaskModel(tiny_config.replace(num_labels=3), "question_answering")
    model = TaskModel(tiny_config, "token_classification")
    with pytest.raises(ValueError, match=r"batch has no targets for token_classification: add labels"):
        model.loss(jax.eval_shape(model.init, jax.random.key(0)), {"input_ids": np.ones((B, S), np.int32)})
    seq = TaskModel(tiny_config, "sequence_classification")
    params = jax.eval_shape(seq.init, jax.random.key(0))
    del params["encoder"]["pooler"]
    with pytest.raises(ValueError, match=r"needs the pooler: params\['encoder'\] has no 'pooler'"):
        seq.apply(params, {"input_ids": np.ones((B, S), np.int32)})


def test_policy_can_be_named(tiny_config):
    model = TaskModel(tiny_config, "masked_lm", "bf16")
    assert model.policy.compute_dtype == jax.numpy.bfloat16
    params = jax.eval_shape(model.init, jax.random.key(0))  # shapes and dtypes only: no compile
    out = jax.eval_shape(model.apply, params, {"input_ids": np.ones((B, S), np.int32)})
    assert out["logits"].dtype == np.float32 and params["head"]["decoder"]["kernel"].dtype == np.float32


def test_remat_and_attention_impl_reach_the_encoder(tiny_config):
    batch = _batch(0, labels=np.zeros(B, np.int32))
    model = TaskModel(tiny_config, "sequence_classification", remat="dots")
    assert hash(model) == hash(TaskModel(tiny_config, "sequence_classification", remat="dots"))
    params = jax.eval_shape(model.init, jax.random.key(0))

    def gradient_jaxpr(m: TaskModel) -> str:
        return str(jax.make_jaxpr(jax.grad(lambda p: m.loss(p, batch)[0]))(params))

    assert "remat" in gradient_jaxpr(model)  # each layer is rematerialised (the checkpoint primitive)
    assert "remat" not in gradient_jaxpr(TaskModel(tiny_config, "sequence_classification"))
    cudnn = TaskModel(tiny_config, "sequence_classification", "bf16", attention_impl="cudnn")
    with pytest.raises(ValueError, match="attention_impl='cudnn' is not possible here"):  # CPU: refused in the encoder
        jax.eval_shape(cudnn.apply, params, {"input_ids": np.ones((B, S), np.int32)})


def test_bad_remat_and_attention_impl_are_refused(tiny_config):
    with pytest.raises(ValueError, match=r"remat must be one of \('none', 'full', 'dots'\), got 'all'"):
        TaskModel(tiny_config, "masked_lm", remat="all")
    with pytest.raises(ValueError, match=r"attention_impl must be one of \('auto', 'xla', 'cudnn', 'splash'\), got 'flash'"):
        TaskModel(tiny_config, "masked_lm", attention_impl="flash")
