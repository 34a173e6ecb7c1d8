"""Weight I/O for RemBERT: PyTorch (safetensors / .bin), Keras h5, original TF checkpoints, orbax,
and a training run's checkpoint steps.

One table of format names (`formats.TABLE`: pytorch, tf-h5, tf-checkpoint, jax, train-step) and one
dispatch over it (`dispatch.load` / `dispatch.save`); every reader and writer goes through the one
name table in `rembert_jax.convert.names` (our param path <-> PyTorch key <-> Keras variable <-> TF1
name, with the transposes).

    load(path_or_id, format=None, task=None, ...)         any format, detected (also a run's step / output_dir)
    save(dir, config, params, format="pytorch", ...)      any writable format
    load_pytorch(path, task=None) -> (config, params)     transformers PyTorch checkpoints in
    save_pytorch(dir, config, params, task=None)          ... and out (safetensors, sharded + index)
    load_keras / save_keras                               HF TF/Keras `tf_model.h5` (h5py, no TensorFlow)
    load_tf_checkpoint / save_tf_checkpoint               original Google TF1 checkpoints (needs tensorflow)
    save_orbax / load_orbax(dir, mesh=...)                orbax, restored straight onto a device mesh
    convert_checkpoint(src, dst, to=...), detect_format   any format to any other, streamed
    LoadingInfo                                           missing / unexpected / unused / new keys
    DestinationExistsError, DestinationError              a writer refused a non-empty / unusable folder
    name_table(config, task), detect_task                 the name table itself; a checkpoint's task

Loaders take `task=None` (bare encoder), a task name (`{"encoder", "head"}`) or "auto"; `load_pytorch`,
`load_keras` and `convert_checkpoint` also take a Hub id ("google/rembert") with transformers' loading
keywords (`revision=`, `cache_dir=`, ...), resolved by `rembert_jax.hub`. Writers refuse a non-empty
folder unless `force=True`, which replaces only the files they write.
Everything is imported lazily, so `import rembert_jax.convert` (e.g. by the command line) is cheap;
torch, transformers and tensorflow are imported only inside the functions that need them.
"""

from __future__ import annotations

from rembert_jax._lazy import lazy_exports

# public name -> defining module (relative to this package)
_LAZY = {
    "ARCHITECTURES": ".names",
    "TASKS": ".names",
    "TASK_POOLER": ".names",
    "Name": ".names",
    "name_table": ".names",
    "LoadingInfo": ".assemble",
    "detect_task": ".loader",
    "load_pytorch": ".pytorch",
    "save_pytorch": ".pytorch_save",
    "load_keras": ".keras_h5",
    "save_keras": ".keras_h5",
    "load_tf_checkpoint": ".tf_checkpoint",
    "save_tf_checkpoint": ".tf_checkpoint",
    "load_orbax": ".orbax_io",
    "save_orbax": ".orbax_io",
    "load": ".dispatch",
    "save": ".dispatch",
    "convert_checkpoint": ".dispatch",
    "detect_format": ".formats",
    "format_named": ".formats",
    "FORMATS": ".formats",
    "DestinationError": ".destination",
    "DestinationExistsError": ".destination",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
