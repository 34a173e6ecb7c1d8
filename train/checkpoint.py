"""Checkpoints: orbax `CheckpointManager` holding the train state, the data position and the run config.

Each checkpoint is one step directory with three items:
    state    the TrainState pytree (params, optimizer state, step, rng)
    data     the data iterator's position (JSON), so a resumed run sees exactly the next batches
    config   {"run": the run config, "model": the RemBertConfig} (JSON), so a checkpoint is
             usable on its own (eval, predict, export) without the starting weights

Saves are asynchronous (the device-to-host copy happens before `save` returns, the writes in the
background) and atomic (orbax writes into a temporary directory and renames it when complete, so a
run killed mid-save leaves the previous checkpoints intact). What is kept: the `keep` most recent
checkpoints plus the `keep_best` best by an eval metric, through a `preservation_policy`.

What a killed run can leave, and how the next run reads it: unfinished saves
(`STEP.orbax-checkpoint-tmp-*`) are not checkpoints (`unfinished_saves` names them, the manager
removes them); a step folder that does not restore (truncated files, an empty folder) is skipped
by `restore_newest`, which falls back to the newest one that does.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import jax
import orbax.checkpoint as ocp

from rembert_jax.convert.formats import CONFIG_ITEM, STATE_ITEM  # the items convert's train-step reader opens

from .fault_injection import ENV as _FAULT_ENV
from .fault_injection import fault_point
from .run_config import CheckpointSection

_ITEMS = (STATE_ITEM, "data", CONFIG_ITEM)
_STEP_NAME = re.compile(r"\d+")
SKIPPED_DIR = "checkpoints.skipped"  # next to the checkpoint directory: steps a resume could not restore


def finished_steps(directory: str | os.PathLike) -> list[int]:
    """The step folders in a checkpoint directory, as on disk (without opening orbax)."""
    if not os.path.isdir(directory):
        return []
    return sorted(int(name) for name in os.listdir(directory)
                  if _STEP_NAME.fullmatch(name) and os.path.isdir(os.path.join(directory, name)))


def unfinished_saves(directory: str | os.PathLike) -> list[str]:
    """Names of the temporary folders of saves that never completed (a run killed while saving)."""
    if not os.path.isdir(directory):
        return []
    suffix = ocp.path.atomicity.TMP_DIR_SUFFIX
    return sorted(name for name in os.listdir(directory) if suffix in name)


class _CommitWithFaultPoint(ocp.path.atomicity.AtomicRenameTemporaryPath):
    """orbax's atomic rename, with the test-only `commit` fault point just before the rename."""

    async def finalize(self):
        name = self.get_final().name
        fault_point("commit", int(name) if name.isdigit() else None)
        await super().finalize()


class _QuietExpectedWarnings(logging.Filter):
    """Orbax warns about two things we do on purpose: periodic saves between evaluations carry no
    metrics (best-by-metric ranks only the evaluated ones), and eval / predict open the checkpoint
    directory read-only."""

    _EXPECTED = ("did not provide metrics", "Given directory is read only")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self._EXPECTED)


logging.getLogger("absl").addFilter(_QuietExpectedWarnings())


class Checkpoints:
    """A thin owner of an `ocp.CheckpointManager` for one run directory."""

    def __init__(self, directory: str | os.PathLike, options: CheckpointSection, *, read_only: bool = False):
        self.directory = os.path.abspath(os.fspath(directory))
        self.options = options
        policies: list[ocp.checkpoint_managers.PreservationPolicy] = [
            ocp.checkpoint_managers.LatestN(n=options.keep)]
        best_fn = None
        if options.best_metric is not None:
            metric = options.best_metric
            best_fn = lambda metrics: float(metrics[metric])
            if options.keep_best > 0:
                policies.append(ocp.checkpoint_managers.BestN(
                    get_metric_fn=best_fn, reverse=options.best_mode == "min", n=options.keep_best,
                    keep_checkpoints_without_metrics=False))
        manager_options = ocp.CheckpointManagerOptions(
            save_interval_steps=0 if read_only else 1,
            save_decision_policy=(ocp.checkpoint_managers.FixedIntervalPolicy(options.every)
                                  if options.every else ocp.checkpoint_managers.SpecificStepsPolicy(())),
            preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
            best_fn=best_fn,
            best_mode=options.best_mode,
            enable_async_checkpointing=options.async_save and not read_only,
            cleanup_tmp_directories=not read_only,  # leftovers of a save that was killed halfway
            create=not read_only,
            read_only=read_only,
            temporary_path_class=_CommitWithFaultPoint if os.environ.get(_FAULT_ENV) else None,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=manager_options, item_names=_ITEMS)

    # ------------------------------------------------------------------ queries

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best_step(self) -> int | None:
        """The best evaluated checkpoint by `best_metric`, else (none evaluated, or no metric) the latest."""
        best = self.manager.best_step() if self.options.best_metric else None
        return best if best is not None else self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def should_save(self, step: int) -> bool:
        return self.manager.should_save(step)

    def step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))

    # ------------------------------------------------------------------ save / restore

    def save(self, step: int, state, *, data_position: dict[str, Any], run_config: dict[str, Any],
             model_config: dict[str, Any], metrics: dict[str, float] | None = None, force: bool = False) -> bool:
        """Save at optimizer step `step` (asynchronously); True if a save was started."""
        fault_point("save", step)
        args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  data=ocp.args.JsonSave(data_position),
                                  config=ocp.args.JsonSave({"run": run_config, "model": model_config}))
        return self.manager.save(step, args=args, metrics=metrics, force=force)

    def restore(self, abstract_state, step: int | None = None):
        """Restore (state, data_position, {"run": ..., "model": ...}) at `step` (default: the latest).

        `abstract_state` gives the tree, shapes, dtypes and shardings to restore into
        (`jax.ShapeDtypeStruct` leaves, e.g. from `abstract_train_state`).
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory} to resume from; "
                                    "start without --resume")
        if step not in self.all_steps():
            raise FileNotFoundError(f"no checkpoint for step {step} in {self.directory}; "
                                    f"available steps: {self.all_steps()}")
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            data=ocp.args.JsonRestore(),
            config=ocp.args.JsonRestore()))
        return restored.state, restored.data, restored.config

    def restore_newest(self, abstract_state, log: Callable[[str], None]):
        """(step, state, data_position, configs) of the newest checkpoint that restores.

        Newer step folders that fail (truncated or missing files, an empty folder) are named with the
        reason and moved to `checkpoints.skipped/` next to this directory: kept for a look, and out of
        the way of the resumed run, which saves those steps again. If none restores, nothing is moved.
        """
        failures = []
        for step in sorted(self.all_steps(), reverse=True):
            try:
                state, data_position, configs = self.restore(abstract_state, step)
            except Exception as e:  # any reason one checkpoint can't be read: try the one before it
                failures.append((step, _reason(e)))
                continue
            for skipped, reason in failures:
                moved = self._move_aside(skipped)
                log(f"skipped checkpoint step {skipped}: it does not restore ({reason}); moved it to {moved}")
            if failures:
                self.manager.reload()
            return step, state, data_position, configs
        if not failures:
            raise FileNotFoundError(f"no checkpoint in {self.directory} to resume from; start without --resume")
        raise ValueError(f"no checkpoint in {self.directory} restores ("
                         + "; ".join(f"step {step}: {reason}" for step, reason in failures)
                         + "): start a new run in another output_dir, or move this directory away to start over")

    def newest_config(self) -> dict[str, Any] | None:
        """The configs of the newest checkpoint whose configs read (None: no such checkpoint)."""
        for step in sorted(self.all_steps(), reverse=True):
            try:
                return self.restore_config(step)
            except Exception:  # restore_newest names the checkpoints that do not restore, and why
                continue
        return None

    def _move_aside(self, step: int) -> str:
        target = os.path.join(os.path.dirname(self.directory), SKIPPED_DIR, str(step))
        if os.path.exists(target):
            target += f".{len(os.listdir(os.path.dirname(target)))}"
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(self.step_dir(step), target)
        return target

    def restore_config(self, step: int | None = None) -> dict[str, Any]:
        """Only the configs stored with a checkpoint, {"run": ..., "model": ...} (no arrays are read)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

    def wait(self) -> None:
        """Block until every started save is on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _reason(error: Exception) -> str:
    """One line of an exception (TensorStore's run to many lines of context)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first[:300]}" if first else type(error).__name__


def abstract_with_sharding(state, sharding=None):
    """ShapeDtypeStructs for `state` that restore onto `sharding` (default: each leaf's own)."""

    def leaf(x, s=None):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s if s is not None else getattr(x, "sharding", None))

    if sharding is None:
        return jax.tree_util.tree_map(leaf, state)
    if isinstance(sharding, jax.sharding.Sharding):
        return jax.tree_util.tree_map(lambda x: leaf(x, sharding), state)
    return jax.tree_util.tree_map(leaf, state, sharding)
