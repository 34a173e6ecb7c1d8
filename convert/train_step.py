"""A training run's checkpoint as a source of weights: the format "train-step".

`rembert-jax train` saves each checkpoint as one step of an orbax `CheckpointManager`
(`rembert_jax.train.checkpoint`):

    output_dir/checkpoints/<step>/state    the train state: params, optimizer state, step, rng (an orbax pytree)
                                 /config   {"run": the run config, "model": the RemBertConfig} (JSON)
                                 /data     the data iterator's position

Only `config` and `state/params` are read, never the optimizer state, so a step reads like a
`save_orbax` checkpoint: restored onto a mesh or one device, or lazily leaf by leaf for `convert`.

Which step a path means:

    a step folder            output_dir/checkpoints/<step>   that step
    a checkpoint folder      output_dir/checkpoints          its newest step that reads
    a run directory          output_dir (holds checkpoints/) the newest step of its checkpoints/ that reads

A step reads when its save finished (orbax renames a finished save into place: the folders of
unfinished saves, `<step>.orbax-checkpoint-tmp-*`, are no steps) and its config and array
metadata open; newer steps that do not (a run killed mid-save, truncated files) are skipped, each
named in a warning. The run's `export/` folder is not consulted: it exists only when
`export.formats` is set, may live elsewhere (`export.dir`), and is read by naming it.
"""

from __future__ import annotations

import logging
import os

from rembert_jax.config import RemBertConfig

from .assemble import check_weight_dtype, get_leaf, leaf_paths
from .formats import CHECKPOINTS_DIR, CONFIG_ITEM, STATE_ITEM, train_steps
from .loader import for_task
from .orbax_io import SavedLeaf, lazy_leaves, restore_leaves, tree_metadata

logger = logging.getLogger("rembert_jax.convert")

_PARAMS = "params"  # the params' field of the train state


def step_metadata(step: str) -> tuple[RemBertConfig, str, dict[tuple[str, ...], SavedLeaf]]:
    """(model config, task, {our leaf path: where saved}) of one step; ValueError naming it if unreadable."""
    import orbax.checkpoint as ocp

    try:
        saved = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(os.path.join(step, CONFIG_ITEM))
        config, task = RemBertConfig.from_dict(saved["model"]), saved["run"]["task"]
        state = os.path.join(step, STATE_ITEM)
        params = tree_metadata(state)[_PARAMS]
        leaves = {path: SavedLeaf(state, (_PARAMS, *path), get_leaf(params, path)) for path in leaf_paths(params)}
    except Exception as e:  # noqa: BLE001 - orbax / tensorstore raise bare Exception, KeyError, TypeError...
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ValueError(f"{step}: not a readable training checkpoint step ({type(e).__name__}: {first}); the save "
                         "did not finish or its files are truncated") from None
    for path, leaf in leaves.items():
        check_weight_dtype(leaf.meta.dtype, f"{step}: leaf {'/'.join(path)}")
    return config, task, leaves


def newest_readable_step(path: str | os.PathLike) -> tuple[str, tuple]:
    """(step folder, its `step_metadata`) for `path` (see the module docstring)."""
    path = os.path.abspath(os.fspath(path))
    candidates = train_steps(path)
    if not candidates:
        raise FileNotFoundError(f"{path} is no training checkpoint: expected a step folder (<output_dir>/"
                                f"{CHECKPOINTS_DIR}/<step>), a checkpoint folder or a run directory holding one")
    failures = []
    for step in candidates:
        try:
            found = step_metadata(step)
        except ValueError as e:
            if len(candidates) == 1:
                raise
            failures.append(str(e))
            continue
        for failure in failures:
            logger.warning("skipped a newer checkpoint step that does not read: %s", failure)
        return step, found
    raise ValueError(f"no checkpoint step under {path} reads: " + "; ".join(failures))


def step_folder(path: str | os.PathLike) -> str:
    """The step folder `path` means: the "train-step" pin of `formats.TABLE`."""
    return newest_readable_step(path)[0]


def read_train_step(path: str | os.PathLike, *, task: str | None = None, config: RemBertConfig | None = None,
                    dtype=None, strict: bool = True, rng=0, device: bool = False, mesh=None, shardings=None):
    """The "train-step" reader of `dispatch.load`: (config, params, None, task) of a run's step, its
    newest readable step for a checkpoint folder or run directory; device arrays (on `mesh` /
    `shardings` / the default device) with `device`, else lazy leaves."""
    step, (saved_config, saved_task, leaves) = newest_readable_step(path)
    params = (restore_leaves(saved_config, saved_task, leaves, mesh=mesh, shardings=shardings, dtype=dtype)
              if device else lazy_leaves(leaves, dtype))
    return for_task(params, config or saved_config, saved_task, task, source=step, rng=rng, device=device)
