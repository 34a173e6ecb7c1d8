"""RemBERT task heads, their losses and generation, built with Flax **Linen**.

Each head is a small `flax.linen.Module` that owns only its own weights and consumes the output of
the pure encoder (`rembert_jax.apply`); `TaskModel` joins the two into one params pytree
`{"encoder": ..., "head": ...}` with pure `init` / `apply` / `loss`.

    TaskModel(config, task, policy)   init(rng), apply(params, batch, ...), loss(params, batch, rng=...)
    TASKS, TASK_POOLER                the six task names; whether each task's encoder has a pooler
    head_specs, task_specs,           shapes, logical axes and reference initialisers of the head /
    task_logical_axes                 whole task-model parameters (for sharding and conversion)
    LMHead, SequenceClassificationHead, MultipleChoiceHead, TokenClassificationHead,
    QuestionAnsweringHead             the Flax modules
    losses                            transformers' PyTorch losses (cross_entropy, causal_lm_loss, ...)
    generate                          greedy / sampled decoding for the causal LM, under jit

Head param trees (kernels [in, out]): LM heads `dense` [H, O], `ln` [O], `decoder` [O, V];
classification `classifier` [H, NL] (multiple choice [H, 1]); QA `qa_outputs` [H, 2].
"""

from . import losses
from .classification import MultipleChoiceHead, SequenceClassificationHead, TokenClassificationHead
from .generate import generate
from .lm_head import LMHead
from .losses import resolve_problem_type
from .qa import QuestionAnsweringHead
from .specs import TASK_POOLER, TASKS, head_specs, task_logical_axes, task_specs
from .task_model import TaskModel

__all__ = [
    "TaskModel",
    "TASKS",
    "TASK_POOLER",
    "head_specs",
    "task_specs",
    "task_logical_axes",
    "LMHead",
    "SequenceClassificationHead",
    "MultipleChoiceHead",
    "TokenClassificationHead",
    "QuestionAnsweringHead",
    "losses",
    "resolve_problem_type",
    "generate",
]
