"""Framework in, framework out: the adapters take numpy, JAX, lists, torch or TF tensors and
answer in the caller's framework.

The framework is read from the argument's type's module name (`torch.Tensor` lives in `torch`,
an eager TF tensor in `tensorflow...`), so neither torch nor TensorFlow is imported unless the
caller already passed one of their tensors. Inputs become host numpy arrays (JAX arrays stay on
device); integers become int32 (JAX's default width) after a range check, since a silent wrap of a
64-bit id would index the wrong row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

TORCH, TENSORFLOW, JAX, NUMPY = "torch", "tensorflow", "jax", "numpy"
_INT32 = np.iinfo(np.int32)


def framework_of(value: Any) -> str | None:
    """`"torch"`, `"tensorflow"`, `"jax"` or `"numpy"` for an array-like, None for anything else."""
    root = type(value).__module__.split(".", 1)[0]
    if root == "torch":
        return TORCH
    if root in ("tensorflow", "tf_keras", "keras"):
        return TENSORFLOW
    if isinstance(value, jax.Array):
        return JAX
    if isinstance(value, np.ndarray | np.generic | list | tuple):
        return NUMPY
    return None


def caller_framework(values: Mapping[str, Any]) -> str:
    """The framework outputs go back in: torch or TF if any input is one, else JAX if any input is
    a JAX array, else numpy (numpy arrays and Python lists)."""
    found = {framework_of(v) for v in values.values() if v is not None}
    for framework in (TORCH, TENSORFLOW, JAX):
        if framework in found:
            return framework
    return NUMPY


def to_array(value: Any, name: str):
    """`value` as a numpy array (or a JAX array, left where it is); ValueError naming `name`."""
    framework = framework_of(value)
    if framework == JAX:
        array = value
    elif framework == TORCH:
        tensor = value.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16; ml_dtypes does
            import ml_dtypes

            array = tensor.float().numpy().astype(ml_dtypes.bfloat16)
        else:
            array = tensor.numpy()
    elif framework == TENSORFLOW:
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    elif framework == NUMPY or isinstance(value, int | float | bool):
        try:
            array = np.asarray(value)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"{name} must be rectangular (all rows the same length): {e}") from None
        if array.dtype == object:
            raise ValueError(f"{name} must be rectangular (all rows the same length) and numeric")
    else:
        raise TypeError(f"{name} must be an array (numpy, JAX, torch, TensorFlow or a nested list), "
                        f"got {type(value).__name__}")
    return _narrow(array, name)


def _narrow(array, name: str):
    """int64 -> int32 (range-checked), float64 -> float32, bool kept; other dtypes rejected."""
    dtype = np.dtype(array.dtype)
    if dtype == np.bool_ or dtype == np.int32 or dtype in (np.float32, np.float16) or dtype.name == "bfloat16":
        return array
    if np.issubdtype(dtype, np.integer):
        host = np.asarray(array)
        if host.size and (host.min() < _INT32.min or host.max() > _INT32.max):
            raise ValueError(f"{name} holds values outside the int32 range "
                             f"[{_INT32.min}, {_INT32.max}] (min {host.min()}, max {host.max()})")
        return host.astype(np.int32)
    if np.issubdtype(dtype, np.floating):
        return np.asarray(array, np.float32)
    raise ValueError(f"{name} must hold numbers, got dtype {dtype}")


def from_jax(tree: Any, framework: str) -> Any:
    """Every array leaf of `tree` (tuples, None kept) in `framework`."""
    if framework == JAX:
        return tree
    convert = {NUMPY: _to_numpy, TORCH: _to_torch, TENSORFLOW: _to_tensorflow}[framework]
    return jax.tree_util.tree_map(convert, tree)


def _to_numpy(x) -> np.ndarray:
    return np.array(x)  # a writable host copy


def _to_torch(x):
    import torch

    host = np.array(x)
    if host.dtype.name == "bfloat16":
        return torch.from_numpy(host.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(host)


def _to_tensorflow(x):
    import tensorflow as tf

    host = np.array(x)
    if host.dtype.name == "bfloat16":
        return tf.cast(tf.convert_to_tensor(host.astype(np.float32)), tf.bfloat16)
    return tf.convert_to_tensor(host)
