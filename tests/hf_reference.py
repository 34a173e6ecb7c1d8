"""Builders for the executable oracle: transformers' PyTorch RemBERT on our tiny configs.

Everything is built locally with random weights (no downloads). Import torch/transformers only
from tests that need them.
"""

from __future__ import annotations

import numpy as np

from rembert_jax import RemBertConfig

TASK_CLASSES = {
    "base": "RemBertModel",
    "masked_lm": "RemBertForMaskedLM",
    "causal_lm": "RemBertForCausalLM",
    "sequence_classification": "RemBertForSequenceClassification",
    "multiple_choice": "RemBertForMultipleChoice",
    "token_classification": "RemBertForTokenClassification",
    "question_answering": "RemBertForQuestionAnswering",
}


def task_config(config: RemBertConfig, task: str) -> RemBertConfig:
    """`config` as transformers' tests build it for `task`: a decoder for the causal LM and three
    labels for sequence and token classification (so num_labels isn't the default 2)."""
    if task == "causal_lm":
        return config.replace(is_decoder=True)
    if task in ("sequence_classification", "token_classification"):
        return config.replace(num_labels=3)
    return config


def hf_config(config: RemBertConfig):
    import transformers

    data = config.to_dict()
    data.pop("model_type", None)
    return transformers.RemBertConfig(**data)


def hf_model(config: RemBertConfig, task: str = "base", seed: int = 0, **kwargs):
    """A transformers PyTorch model for `task` with random (seeded) weights, in eval mode, fp32.

    Biases and LayerNorm parameters are randomised too, so that parity tests can't pass by
    accident on zeros and ones.
    """
    import torch
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, TASK_CLASSES[task])(hf_config(config), **kwargs)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy()
