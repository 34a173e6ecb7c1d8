"""Lazy public names for a package's `__init__`: import the defining module on first access.

Keeps `import rembert_jax` (and `.convert`, `.train`) cheap: jax, torch and TensorFlow load only
when a name that needs them is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, namespace: dict, table: Mapping[str, str]) -> tuple[Callable, Callable]:
    """`(__getattr__, __dir__)` for `package`, resolving `table` (name -> module, absolute or
    relative to `package`) and caching each value in the package's `namespace`."""

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name], package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
