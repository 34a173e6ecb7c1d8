"""The task registry (`rembert_jax.tasks`): plain data with no jax, every reference in it resolves,
and its facts agree with transformers' classes and with the adapter classes named after them."""

from __future__ import annotations

import ast
import inspect

import flax.linen as nn
import pytest

from rembert_jax import tasks
from rembert_jax.heads.specs import head_module, task_loss


def test_the_registry_imports_nothing_but_the_standard_library():
    tree = ast.parse(inspect.getsource(tasks))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "dataclasses"}, imported


@pytest.mark.parametrize("name", tasks.TASKS)
def test_every_head_and_loss_reference_resolves(name):
    assert issubclass(head_module(name), nn.Module)
    loss = task_loss(name)
    spec = tasks.get_task(name)
    positional = [p for p in inspect.signature(loss).parameters.values()
                  if p.default is inspect.Parameter.empty and p.name != "config"]
    assert len(positional) == len(spec.outputs) + len(spec.label_keys), name  # loss(*outputs, *targets)


def test_architectures_are_transformers_classes_and_name_the_adapters():
    import transformers

    import rembert_jax

    for spec in (tasks.BASE, *tasks.REGISTRY.values()):
        assert hasattr(transformers, spec.architecture), spec.architecture
        assert getattr(rembert_jax, spec.architecture).task == spec.name
        assert getattr(rembert_jax, f"TF{spec.architecture}").task == spec.name
        assert tasks.task_of_architecture(f"TF{spec.architecture}") == spec.name
    assert tasks.task_of_architecture("BertForMaskedLM") is None


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"task must be one of \('masked_lm', 'causal_lm'"):
        tasks.get_task("base")
    with pytest.raises(ValueError, match=r"unknown task 'seq_cls'; choose one of base, masked_lm"):
        tasks.check_task("seq_cls", allow_base=True)
    with pytest.raises(ValueError, match="data.packing needs a per-token task .*; multiple_choice cannot take"):
        tasks.check_packable("multiple_choice", "data.packing")
    tasks.check_packable("token_classification", "data.packing")
