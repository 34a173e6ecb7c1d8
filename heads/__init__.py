"""RemBERT task heads, their losses and generation, built with Flax **Linen**.

Each head is a small `flax.linen.Module` that owns only its own weights and consumes the output of
the pure encoder (`rembert_jax.apply`); `TaskModel` joins the two into one params pytree
`{"encoder": ..., "head": ...}` with pure `init` / `apply` / `loss`.

    TaskModel(config, task, policy)   init(rng), apply(params, batch, ...), loss(params, batch, rng=...)
    TASKS, TASK_POOLER                the six task names; whether each task's encoder has a pooler
                                      (views of the task registry, `rembert_jax.tasks`)
    init_head                         fresh head weights of a task, as transformers initialises them
    head_specs, task_specs,           shapes and logical axes of the head / whole task-model
    task_logical_axes                 parameters, read off the Flax modules (for sharding and conversion)
    compose                           the one composition of encoder and head (TaskModel, adapters, generate)
    LMHead, SequenceClassificationHead, MultipleChoiceHead, TokenClassificationHead,
    QuestionAnsweringHead             the Flax modules
    losses                            transformers' PyTorch losses (cross_entropy, causal_lm_loss, ...)
    generate                          greedy / sampled decoding for the causal LM, under jit

Head param trees (kernels [in, out]): LM heads `dense` [H, O], `ln` [O], `decoder` [O, V];
classification `classifier` [H, NL] (multiple choice [H, 1]); QA `qa_outputs` [H, 2].
"""

from . import compose, losses
from .classification import MultipleChoiceHead, SequenceClassificationHead, TokenClassificationHead
from .generate import generate
from .lm_head import LMHead
from .losses import resolve_problem_type
from .qa import QuestionAnsweringHead
from .specs import TASK_POOLER, TASKS, head_specs, init_head, task_logical_axes, task_specs
from .task_model import TaskModel

__all__ = [
    "TaskModel",
    "TASKS",
    "TASK_POOLER",
    "head_specs",
    "init_head",
    "task_specs",
    "task_logical_axes",
    "LMHead",
    "SequenceClassificationHead",
    "MultipleChoiceHead",
    "TokenClassificationHead",
    "QuestionAnsweringHead",
    "losses",
    "compose",
    "resolve_problem_type",
    "generate",
]
