"""The head parameter table, read off the Flax modules: they declare each weight once.

Each head module creates its weights with `nn.with_logical_partitioning` (shape, logical axes and
transformers' initialiser in one call); everything else derives from it: `head_specs` from
`jax.eval_shape(head.init)`, `init_head` from `head.init`. Which module and loss a task uses is
written in the task registry (`rembert_jax.tasks`) as "module:attr" strings, resolved here.
Logical axes: `embed` (H), `embed_out` (O, the LM head's `output_embedding_size`), `vocab` (V),
`labels` (the classifier outputs).

    masked_lm, causal_lm:          dense/{kernel [H, O], bias [O]}, ln/{scale, bias} [O],
                                   decoder/{kernel [O, V], bias [V]}
    sequence_classification,
    token_classification:          classifier/{kernel [H, NL], bias [NL]}
    multiple_choice:               classifier/{kernel [H, 1], bias [1]}
    question_answering:            qa_outputs/{kernel [H, 2], bias [2]}
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import flax.linen as nn
import jax

from rembert_jax import DTypePolicy, RemBertConfig
from rembert_jax.config import FrozenRemBertConfig, freeze
from rembert_jax.params import ParamSpec, param_specs
from rembert_jax.precision import FP32
from rembert_jax.tasks import BASE, TASK_POOLER, TASKS, check_task, get_task

__all__ = ["TASKS", "TASK_POOLER", "check_task", "head_module", "task_loss", "init_head", "head_specs",
           "task_specs", "task_logical_axes"]


def _resolve(reference: str):
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


def head_module(task: str) -> type[nn.Module]:
    """The Flax Linen class of `task`'s head (the registry's `head`)."""
    return _resolve(get_task(task).head)


def task_loss(task: str) -> Callable[..., jax.Array]:
    """transformers' PyTorch loss of `task` (the registry's `loss`), called as
    `loss(*outputs, *targets)` in the registry's `outputs` / `label_keys` order (+ `config=`
    for the losses that read it)."""
    return _resolve(get_task(task).loss)


def _example(config: RemBertConfig, task: str, dtype) -> jax.Array:
    """What the head reads: pooled [1, H] or per token [1, 1, H]."""
    H = config.hidden_size
    return jax.numpy.zeros((1, H) if get_task(task).pooled else (1, 1, H), dtype)


def init_head(config: RemBertConfig, task: str, rng: jax.Array, policy: DTypePolicy = FP32) -> dict:
    """Fresh head params of `task` as transformers initialises them (N(0, initializer_range)
    kernels, zero biases, unit LayerNorm), as plain arrays."""
    head = head_module(task)(config, policy)
    boxed = head.init(rng, _example(config, task, policy.compute_dtype))["params"]
    # Plain values without a sharding constraint: the caller's jit places them. (nn.meta.unbox would, under
    # a global mesh without Flax axis rules, constrain e.g. the [O, V] decoder to be replicated first.)
    return jax.tree_util.tree_map(lambda box: box.unbox(apply_constraint=False), boxed,
                                  is_leaf=lambda x: isinstance(x, nn.Partitioned))


@functools.lru_cache(maxsize=64)
def _abstract_head(config: FrozenRemBertConfig, task: str) -> dict:
    """The head's params as `nn.Partitioned` boxes of `ShapeDtypeStruct` (nothing allocated)."""
    head = head_module(task)(config, FP32)
    return jax.eval_shape(head.init, jax.random.key(0), _example(config, task, FP32.compute_dtype))["params"]


def head_specs(config: RemBertConfig, task: str) -> dict:
    """The nested table of `ParamSpec` for the head of `task` ({} for "base"), read off the module."""
    if task == BASE.name:
        return {}
    check_task(task)
    return jax.tree_util.tree_map(lambda box: ParamSpec(tuple(box.value.shape), tuple(box.names), "head"),
                                  _abstract_head(freeze(config), task),
                                  is_leaf=lambda x: isinstance(x, nn.Partitioned))


def task_specs(config: RemBertConfig, task: str) -> dict:
    """`{"encoder": ..., "head": ...}` of `ParamSpec`: the whole task-model parameter table."""
    head = head_specs(config, task)  # validates `task`
    return {"encoder": param_specs(config, add_pooling_layer=TASK_POOLER[task]), "head": head}


def task_logical_axes(config: RemBertConfig, task: str) -> dict:
    """The tree of `TaskModel.init`, each leaf replaced by its tuple of logical axis names."""
    return jax.tree_util.tree_map(lambda s: s.axes, task_specs(config, task),
                                  is_leaf=lambda x: isinstance(x, ParamSpec))
