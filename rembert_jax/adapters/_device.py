"""`model.to(...)` for the adapter classes: torch's argument forms, answered with JAX devices and
the dtype policy.

    model.to("cuda")             -> the first JAX GPU ("cuda:1" -> the second); "cpu" -> the first CPU device
    model.to(torch.device(...))  -> the same, by the device's type and index
    model.to(torch.bfloat16)     -> weights and compute in bfloat16 (numpy / JAX dtypes and "bf16" too)
    model.to("cuda", torch.float16), model.to(device=..., dtype=...), model.to(tensor)

A device JAX does not have raises, as torch raises for CUDA on a machine without it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rembert_jax.precision import DTypePolicy

# torch's device types -> JAX platforms ("gpu" and "tpu" also accepted as JAX spells them)
_PLATFORMS = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "tpu": "tpu"}
_DTYPE_NAMES = ("fp32", "float32", "bf16", "bfloat16", "fp16", "float16")


def parse_to_arguments(args: tuple, kwargs: dict) -> tuple[jax.Device | None, Any]:
    """(device, dtype) named by the arguments of `torch.nn.Module.to` (either may be None)."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword argument(s) {sorted(unknown)}")
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if _is_tensor(arg):  # model.to(tensor): that tensor's device and dtype
            device, dtype = arg.device, arg.dtype
        elif _is_dtype(arg):
            dtype = arg
        else:
            device = arg
    return (None if device is None else jax_device(device)), (None if dtype is None else _jax_dtype(dtype))


def jax_device(spec) -> jax.Device:
    """The JAX device a torch-style spec names: "cpu", "cuda", "cuda:1", torch.device, an int (a
    GPU index, as torch reads it) or a JAX device."""
    if isinstance(spec, jax.Device):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        kind, index = "cuda", spec
    elif hasattr(spec, "type") and hasattr(spec, "index"):  # torch.device
        kind, index = spec.type, spec.index or 0
    elif isinstance(spec, str):
        kind, _, number = spec.partition(":")
        if number and not number.isdigit():
            raise ValueError(f"device {spec!r}: the index after ':' must be a number")
        index = int(number or 0)
    else:
        raise TypeError(f"to() expects a device (\"cpu\", \"cuda:0\", torch.device, jax.Device) or a dtype, "
                        f"got {type(spec).__name__}")
    if kind not in _PLATFORMS:
        raise ValueError(f"device {spec!r}: JAX runs on {sorted(_PLATFORMS)}; {kind!r} has no JAX backend")
    try:
        devices = jax.devices(_PLATFORMS[kind])
    except RuntimeError:
        devices = []
    if index >= len(devices):
        have = ", ".join(sorted({d.platform for d in jax.devices()}))
        raise RuntimeError(f"device {spec!r}: JAX has {len(devices)} {_PLATFORMS[kind]} device(s) here "
                           f"(platforms: {have}); torch likewise refuses a device the machine does not have")
    return devices[index]


def policy_for(dtype) -> DTypePolicy:
    """Weights and compute in `dtype`, as `torch_module.to(dtype)` leaves a model."""
    return DTypePolicy(param_dtype=dtype, compute_dtype=dtype)


def cast_params(params, dtype):
    """Floating leaves of `params` in `dtype` (integers untouched), on the devices they are on."""
    return jax.tree_util.tree_map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)


def device_of(params) -> jax.Device:
    """The device holding `params` (the first of them, for weights spread over several)."""
    leaf = jax.tree_util.tree_leaves(params)[0]
    devices = getattr(leaf, "devices", None)
    return sorted(devices(), key=lambda d: d.id)[0] if devices else jax.devices("cpu")[0]


def as_torch_device(device: jax.Device):
    """torch's name for a JAX device (cpu, cuda:N) when torch is installed, else the JAX device."""
    import importlib.util

    if device.platform not in ("cpu", "gpu") or importlib.util.find_spec("torch") is None:
        return device
    import torch

    if device.platform == "cpu":
        return torch.device("cpu")
    return torch.device("cuda", jax.devices("gpu").index(device))


def as_torch_dtype(dtype):
    """torch's dtype of the same name when torch is installed, else the numpy/JAX dtype."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return jnp.dtype(dtype)
    import torch

    return getattr(torch, jnp.dtype(dtype).name)


def _is_tensor(x) -> bool:
    return type(x).__module__.split(".", 1)[0] == "torch" and hasattr(x, "dtype") and hasattr(x, "device")


def _is_dtype(x) -> bool:
    if isinstance(x, str):
        return x in _DTYPE_NAMES
    if type(x).__module__.split(".", 1)[0] == "torch":
        return type(x).__name__ == "dtype"
    try:
        return jnp.issubdtype(jnp.dtype(x), jnp.floating)
    except TypeError:
        return False


def dtype_name(x) -> str:
    """'bfloat16' from "bfloat16", "bf16", torch.bfloat16, np.float32, jnp.bfloat16, ...: the one
    reading of a dtype argument (`.to(...)`, `from_pretrained(dtype=...)`) into a name."""
    if isinstance(x, str):
        return x
    if type(x).__module__.split(".", 1)[0] == "torch":  # torch.bfloat16 prints as "torch.bfloat16"
        return str(x).rsplit(".", 1)[-1]
    try:
        return jnp.dtype(x).name
    except TypeError:
        raise ValueError(f"dtype {x!r} is not a dtype; give 'float32', 'bfloat16', 'float16' or 'auto'") from None


def _jax_dtype(x):
    try:
        name = dtype_name(x)
    except ValueError:  # not a dtype at all: .to()'s own message, which names what it takes
        name = None
    if name not in _DTYPE_NAMES:
        raise ValueError(f"to({x}): the weights can be float32, bfloat16 or float16")
    return DTypePolicy(param_dtype=name, compute_dtype=name).compute_dtype
