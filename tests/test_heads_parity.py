"""Every task head against transformers' PyTorch class built from the same tiny config and weights:
logits and loss (<= 1e-5, fp32) for every problem_type, with ignored labels, padding masks and
out-of-range QA positions, and the gradients of each loss (<= 1e-4 relative)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from rembert_jax.heads import TaskModel
from tests.hf_reference import hf_model, to_numpy

B, S, C = 3, 7, 2
ATOL = 1e-5
GRAD_RTOL = 1e-4


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    task: str
    config_changes: tuple = ()

    def config(self, tiny_config):
        return tiny_config.replace(**dict(self.config_changes))


CASES = [
    Case("masked_lm", "masked_lm"),
    Case("causal_lm", "causal_lm", (("is_decoder", True),)),
    Case("seq_cls_regression", "sequence_classification", (("num_labels", 1),)),
    Case("seq_cls_single_label", "sequence_classification", (("num_labels", 3),)),
    Case("seq_cls_multi_label", "sequence_classification", (("num_labels", 3),)),
    Case("seq_cls_regression_3_outputs", "sequence_classification",
         (("num_labels", 3), ("problem_type", "regression"))),
    Case("multiple_choice", "multiple_choice"),
    Case("token_classification", "token_classification", (("num_labels", 3),)),
    Case("question_answering", "question_answering"),
]


def make_batch(case: Case, config, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs with padding (ids avoid the pad id 0, whose embedding row PyTorch never updates),
    random token types, and targets with ignored entries."""
    rng = np.random.default_rng(seed)
    lead = (B, C) if case.task == "multiple_choice" else (B,)
    ids = rng.integers(1, config.vocab_size, lead + (S,))
    mask = np.ones(lead + (S,), np.int64)
    mask[..., 0, :2] = 0  # left padding in the first example (every choice)
    mask[..., 1, -3:] = 0  # right padding in the second
    batch = {"input_ids": ids, "attention_mask": mask,
             "token_type_ids": rng.integers(0, 2, lead + (S,))}
    NL, V = config.num_labels, config.vocab_size
    if case.task in ("masked_lm", "causal_lm", "token_classification"):
        labels = rng.integers(0, V if case.task != "token_classification" else NL, (B, S))
        batch["labels"] = np.where(mask == 0, -100, labels)
        batch["labels"][2, 3] = -100
    elif case.name == "seq_cls_regression":
        batch["labels"] = rng.normal(size=(B,)).astype(np.float32)
    elif case.name == "seq_cls_single_label":
        batch["labels"] = np.array([2, -100, 0])
    elif case.name == "seq_cls_multi_label":
        batch["labels"] = rng.integers(0, 2, (B, NL)).astype(np.float32)
    elif case.name == "seq_cls_regression_3_outputs":
        batch["labels"] = rng.normal(size=(B, NL)).astype(np.float32)
    elif case.task == "multiple_choice":
        batch["labels"] = np.array([1, 0, -100])
    elif case.task == "question_answering":
        batch["start_positions"] = np.array([2, S + 3, -1])  # in range, past the end (ignored), negative (clamped to 0)
        batch["end_positions"] = np.array([[4], [S], [6]])  # [B, 1] is squeezed; S is ignored
    return batch


def to_torch(batch):
    import torch

    return {k: torch.tensor(v, dtype=torch.float32 if v.dtype.kind == "f" else torch.long) for k, v in batch.items()}


def _torch_run(torch_model, batch):
    """transformers' outputs and the gradient of its loss for every parameter."""
    torch_model.zero_grad()
    outputs = torch_model(**to_torch(batch))
    outputs.loss.backward()
    grads = {name: to_numpy(p.grad) for name, p in torch_model.named_parameters() if p.grad is not None}
    import torch

    arrays = {k: to_numpy(v) for k, v in outputs.items() if isinstance(v, torch.Tensor)}  # not the cache
    return arrays, grads, len(list(torch_model.parameters()))


_RESULTS: dict[str, tuple] = {}


@pytest.fixture
def compare(tiny_config, tmp_path_factory):
    """Per case (computed once): (model, transformers' outputs, its gradients, its parameter count,
    our outputs, our gradients), ours from one jitted value_and_grad of `TaskModel.loss` on the
    params `load_pytorch` read from the saved transformers checkpoint."""
    from rembert_jax.convert import load_pytorch

    def run(case: Case):
        if case.name not in _RESULTS:
            config = case.config(tiny_config)
            torch_model = hf_model(config, case.task)
            directory = tmp_path_factory.mktemp(case.name)
            torch_model.save_pretrained(directory)
            _, params = load_pytorch(directory, task=case.task)
            model = TaskModel(config, case.task)
            batch = make_batch(case, config)
            expected, expected_grads, count = _torch_run(torch_model, batch)
            (_, ours), grads = jax.jit(jax.value_and_grad(model.loss, has_aux=True))(params, batch)
            _RESULTS[case.name] = (model, expected, expected_grads, count, ours, grads)
        return _RESULTS[case.name]

    return run


def logit_keys(task):
    return ("start_logits", "end_logits") if task == "question_answering" else ("logits",)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_logits_match_transformers(case, compare):
    _, expected, _, _, ours, _ = compare(case)
    for key in logit_keys(case.task):
        assert ours[key].dtype == np.float32
        np.testing.assert_allclose(np.asarray(ours[key]), expected[key], rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_loss_matches_transformers(case, compare):
    _, expected, _, _, ours, _ = compare(case)
    assert ours["loss"].dtype == np.float32 and ours["loss"].shape == ()
    np.testing.assert_allclose(float(ours["loss"]), float(expected["loss"]), rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_loss_gradients_match_pytorch_autograd(case, compare):
    from rembert_jax.convert import name_table

    model, _, expected, count, _, grads = compare(case)
    names = name_table(model.config, case.task)
    assert len(names) == count  # every transformers parameter is compared
    for name in names:
        leaf = grads
        for key in name.path:
            leaf = leaf[key]
        ours = np.asarray(leaf if name.layer is None else leaf[name.layer])
        ours = ours.T if name.pytorch_transposed else ours
        theirs = expected.get(name.pytorch, np.zeros_like(ours))  # no .grad: the loss doesn't reach it
        # The floor covers gradients that vanish analytically (the multiple-choice bias shifts every
        # choice equally, so its true gradient is 0 and both sides hold only rounding noise).
        scale = max(float(np.abs(theirs).max()), 1e-3)
        err = float(np.abs(ours - theirs).max()) / scale
        assert err <= GRAD_RTOL, f"{name.pytorch}: relative gradient error {err:.2e}"
