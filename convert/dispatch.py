"""The one read and the one write dispatch: `load`, `save` and `convert_checkpoint`, by format name.

Everything that reads or writes a checkpoint by format comes through here: `load_pytorch`,
`load_keras`, `load_tf_checkpoint`, `load_orbax`, the adapters' `from_pretrained` /
`save_pretrained`, the trainer's `model.init_from`, `eval/predict --model` and export, and
`rembert-jax convert`. The format names and their readers / writers are the table in `formats.py`.

Conversion streams: the source is read tensor by tensor into the params tree (cast on the way in
when a dtype is requested; straight onto the device when writing "jax", which orbax writes from;
an orbax or training-run source stays lazy, read leaf by leaf as the writer reaches it), and
writers emit one tensor at a time, so the peak is about one copy of the model plus one tensor.
"""

from __future__ import annotations

import os

from rembert_jax.tasks import BASE

from .formats import TABLE, detect_format, format_named


def _local(location, fmt: str | None, prefer: str | None, hub: dict) -> str:
    """A local path for `location`, by `rembert_jax.hub`'s one rule, fetching the files `fmt` needs
    (a format not yet known: any transformers weights, Keras first when `prefer` is tf-h5)."""
    from rembert_jax import hub as hub_files

    if fmt is not None:
        wanted = getattr(hub_files, format_named(fmt).hub_files)
    else:
        wanted = hub_files.MODEL_KERAS_FIRST if prefer == "tf-h5" else hub_files.MODEL
    return hub_files.resolve_path(location, wanted, hub_files.HubOptions(**hub))


def pin_source(path: str, fmt: str) -> str:
    """The one checkpoint local `path` means, so that reading its config and then its weights reads
    the same one: for "train-step" the step folder (a run directory or checkpoint folder resolved
    to its newest step that reads, once, so a skipped step is warned about once); else `path`."""
    return format_named(fmt).pinned(path)


def read_checkpoint(path, fmt: str, *, task=None, config=None, dtype=None, strict=True, device=False, rng=0,
                    **placement):
    """(config, params, loading info or None, task) from the checkpoint at local `path` in format
    `fmt`: host (numpy) params, or with `device` jax arrays placed tensor by tensor (an orbax or
    training-run source is lazy without `device`). `placement`: `mesh=` / `shardings=` (orbax formats)."""
    source = format_named(fmt)
    if placement and not source.places:
        placed = ", ".join(f.name for f in TABLE if f.places)
        raise ValueError(f"mesh= / shardings= place {placed} checkpoints; a {source.name} checkpoint loads onto "
                         "the default device")
    return source.read()(path, task=task, config=config, dtype=dtype, strict=strict, rng=rng, device=device,
                         **placement)


def load(path_or_id: str | os.PathLike, *, format: str | None = None, task: str | None = None,  # noqa: A002
         config=None, overrides: dict | None = None, dtype=None, strict: bool = True, rng=0, prefer: str | None = None,
         output_loading_info: bool = False, mesh=None, shardings=None, **hub):
    """`(config, params)` of the checkpoint at `path_or_id`, in any format of `formats.TABLE`.

    Args:
      path_or_id: a directory, a weights file / TF prefix, a run's checkpoint step, a run directory
        (its newest step that reads), or a Hub id (`"google/rembert"`, by `rembert_jax.hub`'s rule).
      format: one of `formats.FORMATS` (or an alias); None detects it from the files (`prefer`: the
        format to take when a directory holds several, e.g. "tf-h5" for the TF adapter classes).
      task: None or "base" for the bare encoder, a task name for `{"encoder", "head"}` (a head the
        checkpoint lacks is freshly initialised from `rng`, logged), "auto" for the checkpoint's own.
      config: the model config (default: the checkpoint's); `overrides`: fields changed on it.
      dtype: cast every tensor; strict: missing / unexpected encoder keys raise.
      mesh / shardings: restore an orbax checkpoint ("jax", "train-step") laid out on them.
      **hub: transformers' loading keywords for a Hub id (`revision`, `cache_dir`, ...).

    Returns `(config, params)` with jax arrays, or `(config, params, info)` with `output_loading_info`
    (info is None for orbax formats, which store exactly our tree)."""
    local = _local(path_or_id, format, prefer, hub)
    fmt = format_named(format).name if format is not None else detect_format(local, prefer)
    placement = {k: v for k, v in (("mesh", mesh), ("shardings", shardings)) if v is not None}
    if overrides:
        local = pin_source(local, fmt)
        config = (config or checkpoint_config(local, fmt)).replace(**overrides)
    config, params, info, _ = read_checkpoint(local, fmt, task=task, config=config, dtype=dtype, strict=strict,
                                              device=True, rng=rng, **placement)
    return (config, params, info) if output_loading_info else (config, params)


def checkpoint_config(path: str, fmt: str):
    """The model config stored with the checkpoint at local `path` (nothing else is read)."""
    source = format_named(fmt)
    if source.self_describing:
        return read_checkpoint(path, source.name, task="auto")[0]  # lazy: only the metadata is read
    from rembert_jax.config import CONFIG_NAME

    from .loader import config_beside

    return config_beside(os.path.join(path, CONFIG_NAME) if os.path.isdir(path) else path, None)


def save(directory: str | os.PathLike, config, params: dict, *, format: str = "pytorch",  # noqa: A002
         task: str | None = None, force: bool = False, dtype=None, max_shard_size=None):
    """Write `params` (a bare encoder, or `{"encoder", "head"}` of `task`) in `format` to `directory`.

    Every writer refuses a non-empty `directory` unless `force` (which replaces only the files that
    format writes), checks the destination before writing and stages the output beside it
    (`destination.py`, `files.atomic_directory`). `dtype` casts on the way out (not "jax", which keeps
    the params' dtypes); `max_shard_size` shards PyTorch output. Returns what the writer returns."""
    target = format_named(format)
    options = {k: v for k, v in (("dtype", dtype), ("max_shard_size", max_shard_size)) if v is not None}
    unknown = sorted(set(options) - set(target.options))
    if unknown:
        raise ValueError(f"format {target.name} takes no {', '.join(unknown)}")
    return target.write()(directory, config, params, task=task, force=force, **options)


def convert_checkpoint(src, dst, *, to: str, source_format: str | None = None, task: str | None = "auto",
                       dtype=None, config=None, strict: bool = True, force: bool = False, max_shard_size=None,
                       **hub):
    """Convert the checkpoint at `src` (a local path or a Hub id, fetched with transformers' loading
    keywords `**hub`: `revision`, `cache_dir`, ...) to format `to` at `dst`; returns `(source format, task)`.

    `task="auto"` keeps the source's head (detected from its config / keys); a task name loads that
    head (freshly initialised if the source has none, logged), except from a source that names its
    own task ("jax", "train-step"), which converts only to that task or, with "base" / None, to its
    bare encoder (another task is refused). `dtype` casts every tensor.

    Before anything is read, `dst` is checked (`destination.check_destination`): it must not be or
    hold the source (compared by real path), must be empty unless `force` (which replaces only the
    files format `to` writes) and must accept files."""
    from .destination import check_destination

    target = format_named(to)
    target.write()  # a read-only target fails here, before anything is read
    src = _local(src, source_format, None, hub)
    source = format_named(source_format or detect_format(src))
    check_destination(dst, force=force, sources=[src])
    asked = "auto" if source.self_describing and task not in (None, BASE.name) else task
    config, params, _, found = read_checkpoint(src, source.name, task=asked, config=config, dtype=dtype,
                                               strict=strict, device=target.name == "jax" and not source.self_describing)
    if task not in (None, BASE.name, "auto", found):
        raise ValueError(f"{src} holds a {found} model, not {task}; convert it with --task auto or base")
    shard = {"max_shard_size": max_shard_size} if "max_shard_size" in target.options else {}  # else no shards
    save(dst, config, params, format=target.name, task=found, force=force, **shard)
    return source.name, found
