"""Weight I/O for RemBERT: PyTorch (safetensors / .bin), Keras h5, original TF checkpoints, orbax.

Every reader and writer goes through the one name table in `rembert_jax.convert.names`
(our param path <-> PyTorch key <-> Keras variable <-> TF1 name, with the transposes).

    load_pytorch(path, task=None) -> (config, params)     transformers PyTorch checkpoints in
    save_pytorch(dir, config, params, task=None)          ... and out (safetensors, sharded + index)
    load_keras / save_keras                               HF TF/Keras `tf_model.h5` (h5py, no TensorFlow)
    load_tf_checkpoint / save_tf_checkpoint               original Google TF1 checkpoints (needs tensorflow)
    save_orbax / load_orbax(dir, mesh=...)                orbax, restored straight onto a device mesh
    LoadingInfo                                           missing / unexpected / unused / new keys
    name_table(config, task)                              the name table itself

torch, transformers and tensorflow are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

from .assemble import LoadingInfo
from .keras_h5 import load_keras, save_keras
from .loader import detect_task
from .names import ARCHITECTURES, TASK_POOLER, TASKS, Name, name_table
from .orbax_io import load_orbax, save_orbax
from .pytorch import load_pytorch
from .pytorch_save import save_pytorch
from .tf_checkpoint import load_tf_checkpoint, save_tf_checkpoint

__all__ = ["ARCHITECTURES", "TASKS", "TASK_POOLER", "LoadingInfo", "Name", "detect_task", "load_keras", "load_orbax", "load_pytorch",
           "load_tf_checkpoint", "name_table", "save_keras", "save_orbax", "save_pytorch", "save_tf_checkpoint"]
