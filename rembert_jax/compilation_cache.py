"""JAX's persistent compilation cache, turned on with one call (the `rembert-jax` command does it).

    import rembert_jax
    rembert_jax.enable_compilation_cache()        # in a notebook, before the first jit

Compiled XLA programs are written to a per-user directory and read back by the next process that
compiles the same program (same function, shapes, shardings, options and jax version), so a second
start of a run or a notebook skips most compilation. This is JAX's own cache (`jax_compilation_cache_dir`
and its thresholds), nothing hand-written. The directory, first that applies:

    1. the `path` argument (the command line's `--compile-cache DIR`)
    2. $REMBERT_JAX_COMPILATION_CACHE (a directory, or `off` to keep the cache off)
    3. a directory already given to JAX (`JAX_COMPILATION_CACHE_DIR` or `jax.config.update`)
    4. $XDG_CACHE_HOME/rembert-jax/jax, else ~/.cache/rembert-jax/jax

The cache holds executable code: JAX trusts what it reads there, so the directory is created
readable by its owner only, and should never be one others can write to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import jax

ENV_VAR = "REMBERT_JAX_COMPILATION_CACHE"
_OFF = ("off", "0", "false", "no", "none")
# Programs that compile faster than this are not written: reading a tiny entry back costs about
# what compiling it does. In the demo's start-up 3 of its 7 XLA compiles are below it, 0.2 s of 55 s
# in all (2-core CPU under load), so a lower threshold would gain nothing there.
MIN_COMPILE_TIME_SECS = 0.2


def cache_dir_from_environment(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The directory rules 2-4 above give; None when $REMBERT_JAX_COMPILATION_CACHE says `off`."""
    value = environ.get(ENV_VAR, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser()
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rembert-jax" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None, *,
                             min_compile_time_secs: float = MIN_COMPILE_TIME_SECS) -> Path | None:
    """Turn on JAX's persistent compilation cache in `path` (default: see the module docstring).

    Call it before the first compile whose result should be cached; calling it again with another
    directory switches to that one. Returns the directory in use, or None when `path` is None and
    $REMBERT_JAX_COMPILATION_CACHE is `off`. Raises OSError naming the directory when it cannot be
    created or written.
    """
    directory = Path(path).expanduser() if path is not None else cache_dir_from_environment()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise OSError(f"compilation cache directory {directory} cannot be created: {e.strerror or e}") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise OSError(f"compilation cache directory {directory} is not a writable directory")
    directory = directory.resolve()
    if jax.config.jax_compilation_cache_dir not in (None, str(directory)):
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()  # JAX opens its cache once; let it open the new directory
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # any size (no filesystem override)
    return directory


def disable_compilation_cache() -> None:
    """Keep JAX's persistent cache off in this process (also a directory set by JAX_COMPILATION_CACHE_DIR)."""
    jax.config.update("jax_enable_compilation_cache", False)
