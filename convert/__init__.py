"""Weight I/O for RemBERT: PyTorch (safetensors / .bin), Keras h5, original TF checkpoints, orbax.

Every reader and writer goes through the one name table in `rembert_jax.convert.names`
(our param path <-> PyTorch key <-> Keras variable <-> TF1 name, with the transposes).

    load_pytorch(path, task=None) -> (config, params)     transformers PyTorch checkpoints in
    save_pytorch(dir, config, params, task=None)          ... and out (safetensors, sharded + index)
    LoadingInfo                                           missing / unexpected / unused / new keys
    name_table(config, task)                              the name table itself

torch, transformers and tensorflow are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

from .assemble import LoadingInfo
from .names import ARCHITECTURES, TASK_POOLER, TASKS, Name, name_table
from .pytorch import detect_task, load_pytorch
from .pytorch_save import save_pytorch

__all__ = ["ARCHITECTURES", "TASKS", "TASK_POOLER", "LoadingInfo", "Name", "detect_task", "load_pytorch",
           "name_table", "save_pytorch"]
