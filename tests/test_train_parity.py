"""Training parity: 20 AdamW steps of our optax loop equal 20 steps of a plain PyTorch loop on
transformers' model, from the same weights on the same batches (no dropout), step by step.

Both sides: AdamW (decoupled weight decay multiplied by the lr), no decay on biases and LayerNorm,
global-norm clipping, linear warmup then linear decay (torch via `LambdaLR`).
"""

from __future__ import annotations

import numpy as np
import pytest
from hf_reference import hf_model

STEPS, WARMUP, LR, WD, CLIP = 20, 4, 3e-3, 0.01, 1.0
B, S = 4, 12
DISTINCT = 4


def _batches(task: str, config, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rs = np.random.RandomState(seed)
    out = []
    for _ in range(DISTINCT):
        ids = rs.randint(3, config.vocab_size, size=(B, S)).astype(np.int32)
        lengths = rs.randint(S // 2, S + 1, size=B)
        mask = (np.arange(S)[None, :] < lengths[:, None]).astype(np.int32)
        ids = np.where(mask == 1, ids, config.pad_token_id).astype(np.int32)
        batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        if task == "sequence_classification":
            batch["labels"] = rs.randint(0, config.num_labels, size=B).astype(np.int32)
        else:  # masked_lm: about a quarter of the real tokens are targets, the rest -100
            chosen = (rs.rand(B, S) < 0.25) & (mask == 1)
            chosen[:, 0] = True
            batch["labels"] = np.where(chosen, rs.randint(3, config.vocab_size, size=(B, S)), -100).astype(np.int32)
        out.append(batch)
    return [out[i % DISTINCT] for i in range(STEPS)]  # repeated, so the loss visibly falls


def _torch_losses(model, batches) -> list[float]:
    import torch

    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.999), eps=1e-8)

    def lr_lambda(step):  # transformers.get_linear_schedule_with_warmup
        if step < WARMUP:
            return step / WARMUP
        return max(0.0, (STEPS - step) / (STEPS - WARMUP))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    model.train()
    losses = []
    for batch in batches:
        out = model(**{k: torch.as_tensor(v, dtype=torch.long) for k, v in batch.items()})
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
    return losses


def _our_losses(config, params, task, batches) -> list[float]:
    import jax

    from rembert_jax.heads import TaskModel
    from rembert_jax.train.optim import make_optimizer
    from rembert_jax.train.run_config import OptimSection
    from rembert_jax.train.state import create_train_state
    from rembert_jax.train.step import make_train_step

    optim = OptimSection(learning_rate=LR, weight_decay=WD, warmup_steps=WARMUP, schedule="linear",
                         max_grad_norm=CLIP)
    tx, schedule = make_optimizer(optim, params, total_steps=STEPS, num_layers=config.num_hidden_layers)
    state = create_train_state(params, tx, jax.random.PRNGKey(0))
    step = make_train_step(TaskModel(config, task), tx, schedule, dropout=False)
    losses = []
    for batch in batches:
        state, metrics = step(state, batch)
        losses.append(metrics["loss"])
    return [float(x) for x in jax.device_get(losses)]


@pytest.mark.parametrize("task", ["sequence_classification", "masked_lm"])
def test_twenty_adamw_steps_match_pytorch_loop(task, tiny_config, tmp_path):
    from rembert_jax.convert import load_pytorch

    config = tiny_config.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                 classifier_dropout_prob=0.0, num_labels=3)
    model = hf_model(config, task, seed=1)
    model.save_pretrained(tmp_path)
    loaded_config, params = load_pytorch(tmp_path, task=task)
    batches = _batches(task, loaded_config)

    ours = _our_losses(loaded_config, params, task, batches)
    theirs = _torch_losses(model, batches)

    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=0)
    # The runs really trained (the comparison is not of constants): same batch, lower loss.
    assert theirs[STEPS - DISTINCT] < theirs[0] - 0.05
