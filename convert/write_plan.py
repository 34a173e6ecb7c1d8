"""What every writer does before it writes: the task of the params tree, and its tensors in the
format's layout (checked against the config, nothing loaded yet).

Shared by `save_pytorch`, `save_keras`, `save_tf_checkpoint` and `save_orbax`.
"""

from __future__ import annotations

from rembert_jax.config import RemBertConfig

from .assemble import StoredTensor, check_no_extra_leaves, stored_tensors
from .names import ARCHITECTURES, BASE, TASKS, check_task, name_table


def is_task_params(params: dict) -> bool:
    return set(params) == {"encoder", "head"}


def resolve_task(params: dict, task: str | None, config: RemBertConfig) -> str:
    """The task a params tree is for: `task` if given (checked against the tree), else "base" for a
    bare encoder tree, else the task named by `config.architectures`."""
    if task is not None:
        check_task(task, allow_base=True)
        if (task == BASE) == is_task_params(params):
            kind = "a task model {'encoder', 'head'}" if is_task_params(params) else "a bare encoder"
            raise ValueError(f"params are {kind}, which doesn't fit task={task!r}")
        return task
    if not is_task_params(params):
        return BASE
    for arch in config.architectures or ():
        for candidate, name in ARCHITECTURES.items():
            if name == arch and candidate != BASE:
                return candidate
    raise ValueError(f"params hold a head: pass task= one of {', '.join(TASKS)}")


def tensors_to_write(config: RemBertConfig, params: dict, task: str | None, fmt: str, *, dtype=None
                     ) -> tuple[str, list[StoredTensor]]:
    """(task, one `StoredTensor` per checkpoint tensor, laid out as format `fmt` stores it).

    Refuses a tree that does not match the config, or holds a leaf the format has no name for."""
    task = resolve_task(params, task, config)
    encoder = params["encoder"] if task != BASE else params
    names = name_table(config, task, add_pooling_layer="pooler" in encoder)
    tensors = stored_tensors(params, names, fmt, dtype=dtype, what="params")
    check_no_extra_leaves(params, names, "params")
    return task, tensors
