"""The head parameter table: every head weight's shape, logical axes and reference initialiser.

Like `rembert_jax.params.param_specs` for the encoder, this is the one place a head parameter's
shape and sharding names are written down; the Flax modules create exactly this tree (a test
checks it) and sharding / conversion read it. Logical axes: `embed` (H), `embed_out` (O, the LM
head's `output_embedding_size`), `vocab` (V), `labels` (the classifier outputs).

    masked_lm, causal_lm:          dense/{kernel [H, O], bias [O]}, ln/{scale, bias} [O],
                                   decoder/{kernel [O, V], bias [V]}
    sequence_classification,
    token_classification:          classifier/{kernel [H, NL], bias [NL]}
    multiple_choice:               classifier/{kernel [H, 1], bias [1]}
    question_answering:            qa_outputs/{kernel [H, 2], bias [2]}
"""

from __future__ import annotations

import jax

from rembert_jax import RemBertConfig
from rembert_jax.params import ParamSpec, dense_spec, layer_norm_spec, param_specs

TASKS = (
    "masked_lm",
    "causal_lm",
    "sequence_classification",
    "multiple_choice",
    "token_classification",
    "question_answering",
)

# Whether transformers' class for the task builds its encoder with the pooler (spec §3 table).
TASK_POOLER = {
    "base": True,
    "masked_lm": False,
    "causal_lm": False,
    "sequence_classification": True,
    "multiple_choice": True,
    "token_classification": False,
    "question_answering": False,
}


def check_task(task: str) -> str:
    """`task` if it names one of the six heads, else a ValueError listing them."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r} (the bare encoder is rembert_jax.apply)")
    return task


def head_specs(config: RemBertConfig, task: str) -> dict:
    """The nested table of `ParamSpec` for the head of `task` ({} for "base")."""
    if task == "base":
        return {}
    check_task(task)
    H, V, O_ = config.hidden_size, config.vocab_size, config.output_embedding_size  # O_: spec O
    if task in ("masked_lm", "causal_lm"):
        return {
            "dense": dense_spec(H, O_, "embed", "embed_out"),
            "ln": layer_norm_spec(O_, "embed_out"),
            "decoder": dense_spec(O_, V, "embed_out", "vocab"),
        }
    if task in ("sequence_classification", "token_classification"):
        return {"classifier": dense_spec(H, config.num_labels, "embed", "labels")}
    if task == "multiple_choice":
        return {"classifier": dense_spec(H, 1, "embed", "labels")}
    return {"qa_outputs": dense_spec(H, 2, "embed", "labels")}


def task_specs(config: RemBertConfig, task: str) -> dict:
    """`{"encoder": ..., "head": ...}` of `ParamSpec`: the whole task-model parameter table."""
    head = head_specs(config, task)  # validates `task`
    return {"encoder": param_specs(config, add_pooling_layer=TASK_POOLER[task]), "head": head}


def task_logical_axes(config: RemBertConfig, task: str) -> dict:
    """The tree of `TaskModel.init`, each leaf replaced by its tuple of logical axis names."""
    return jax.tree_util.tree_map(lambda s: s.axes, task_specs(config, task),
                                  is_leaf=lambda x: isinstance(x, ParamSpec))
