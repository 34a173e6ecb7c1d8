"""`train(run_config)`: the training run, top to bottom in phases.

    1. data        the task's data pipeline (tokenizer, labels, resumable train iterator, eval split)
    2. model       the RemBERT config and starting weights (from scratch, or any format the
                   converters read), the task model with its dtype policy
    3. optimizer   the optax chain and the train state, placed on the mesh
    4. resume      with `resume=True`, the latest checkpoint's state and data position
    5. loop        jitted steps; metrics fetched only when logging, checking, evaluating or saving
    6. finish      final evaluation, final checkpoint, summary, export

A non-finite loss or gradient stops the run with `NonFiniteLossError`; checkpoints are only ever
written for states whose every step so far had a finite loss and gradient norm, so the last
checkpoint on disk is a good one to resume from with a lower learning rate.

Before any of that, the output_dir (and export.dir) must be writable and free: `RunLock` keeps a
second run out. Ctrl-C and SIGTERM stop the run between steps (`interrupts`), raising
`RunInterrupted` after the checkpoints are safe; a run killed outright (SIGKILL) leaves only what
`--resume` reads: finished checkpoints, unfinished saves it ignores, and a metrics log it trims.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
from typing import Any

import numpy as np

from rembert_jax.convert.formats import CHECKPOINTS_DIR as CHECKPOINT_DIR  # what train-step reads

from .run_config import RunConfig


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN or infinite; the run stopped."""


@dataclasses.dataclass
class TrainResult:
    output_dir: str
    step: int
    checkpoint_dir: str
    last_checkpoint: int | None
    best_checkpoint: int | None
    metrics_file: str
    summary_file: str
    eval_metrics: dict[str, float]
    test_metrics: dict[str, float]
    train_loss: float | None
    seconds: float
    export_dirs: dict[str, str]
    task: str = ""
    tensorboard_dir: str | None = None


def train(cfg: RunConfig, *, resume: bool = False, log=print) -> TrainResult:
    """Run the training `cfg` describes (continuing the latest checkpoint with `resume`); `log` gets
    one-line messages (evaluations, where things went)."""
    import jax

    from .checkpoint import Checkpoints, finished_steps, unfinished_saves
    from .export import export_dir
    from .interrupts import StopSignals
    from .run_lock import RunLock
    from .writable import check_writable

    started = time.perf_counter()
    out = os.path.abspath(cfg.output_dir)
    check_writable(out, "output_dir")
    if cfg.export.formats:
        check_writable(export_dir(cfg), "export.dir")
    ckpt_dir = os.path.join(out, CHECKPOINT_DIR)
    os.makedirs(out, exist_ok=True)
    lock = RunLock(out)
    if jax.process_index() == 0:  # in a multi-process run the processes share the output_dir
        lock.acquire()
    try:
        unfinished = unfinished_saves(ckpt_dir)
        if unfinished:  # the manager removes them; say so, they are what a killed save leaves
            log(f"ignoring {len(unfinished)} unfinished checkpoint save(s) in {ckpt_dir} (a save that was "
                f"interrupted; the checkpoints before it are complete): {', '.join(unfinished)}")
        if not resume and (finished := finished_steps(ckpt_dir)):
            raise FileExistsError(f"{ckpt_dir} already holds checkpoints: continue that run with --resume (latest "
                                  f"step {finished[-1]}), or choose another output_dir "
                                  "(output_dir=runs/NEW)")
        os.makedirs(ckpt_dir, exist_ok=True)
        with StopSignals() as stop, Checkpoints(ckpt_dir, cfg.checkpoint) as checkpoints:
            if resume:
                _check_resumable(checkpoints, cfg, log, unfinished)
            return _run(cfg, checkpoints, stop, resume=resume, log=log, started=started)
    finally:
        lock.release()


def _run(cfg: RunConfig, checkpoints, stop, *, resume: bool, log, started: float) -> TrainResult:
    import jax

    from rembert_jax import DTypePolicy
    from rembert_jax.heads import TaskModel

    from . import export
    from .checkpoint import abstract_with_sharding
    from .fault_injection import fault_point
    from .interrupts import RunInterrupted
    from .optim import make_optimizer
    from .placement import make_placement
    from .run_data import open_run_data
    from .run_log import RunLog
    from .starting_model import starting_model
    from .state import abstract_train_state
    from .step import make_eval_step, make_train_step

    out = os.path.abspath(cfg.output_dir)
    ckpt_dir = checkpoints.directory
    if not cfg.data.get("tokenizer") and cfg.model.init_from:
        # A model directory usually carries its tokenizer (as transformers' from_pretrained expects).
        cfg = cfg.replace(**{"data.tokenizer": _config_dir(cfg.model.init_from)})

    # 1. data ----------------------------------------------------------------------------------
    data = open_run_data(cfg)
    if cfg.checkpoint.best_metric is not None and not data.has_eval:
        raise ValueError(f"checkpoint.best_metric={cfg.checkpoint.best_metric!r} needs an eval split to measure it: "
                         "set data.eval, or checkpoint.best_metric=null")

    # 2. model ---------------------------------------------------------------------------------
    model_config, params = starting_model(cfg, data)
    policy = DTypePolicy.from_name(cfg.model.dtype)
    model = TaskModel(model_config, cfg.task, policy, remat=cfg.model.remat)
    init_rng = jax.random.PRNGKey(cfg.train.seed)
    # From scratch, only the shapes exist on the host: the weights are made on the devices, sharded.
    shapes = jax.eval_shape(model.init, init_rng) if params is None else params

    # 3. optimizer and state ----------------------------------------------------------------------
    k = cfg.optim.grad_accum_steps
    tx, schedule = make_optimizer(cfg.optim, shapes, total_steps=cfg.train.steps,
                                  num_layers=model_config.num_hidden_layers)
    rng = jax.random.fold_in(jax.random.PRNGKey(cfg.train.seed), 1)  # dropout stream, apart from init
    abstract = abstract_train_state(shapes, tx, rng)
    batch_sizes = {"train.batch_size": cfg.train.batch_size, "train.eval_batch_size": cfg.eval_batch_size}
    placement = make_placement(cfg.mesh, config=model_config, task=cfg.task, abstract_state=abstract,
                               batch_sizes=batch_sizes, log=log)

    # 4. fresh start or resume ------------------------------------------------------------------
    data_position = None
    if resume:
        saved_step, state, data_position, _ = checkpoints.restore_newest(
            abstract_with_sharding(abstract, placement.state), log)
        log(f"resuming from step {int(state.step) // k} ({checkpoints.step_dir(saved_step)})")
    elif params is None:
        state = placement.create_state(tx, rng, init=model.init, init_rng=init_rng)
    else:
        state = placement.create_state(tx, rng, params=params)
        del params
    start_step = int(state.step) // k
    if stop.requested():  # a signal during the set-up: nothing trained, nothing to save
        raise RunInterrupted(stop.signum)
    run_log = RunLog(out, resume_step=start_step if resume else None, log=log)

    train_step = make_train_step(model, tx, schedule, grad_accum_steps=k, dropout=cfg.train.dropout,
                                 state_sharding=placement.state, batch_sharding=placement.batch)
    eval_step = make_eval_step(model, params_sharding=placement.params, batch_sharding=placement.batch)
    batches = data.train_iterator(data_position)

    def evaluate(params, *dataset) -> dict[str, float]:  # the eval split, or the one given
        return data.evaluate(lambda batch: placement.fetch(eval_step(params, placement.put_batch(batch))), *dataset)

    # what every checkpoint records besides the state (the same for the whole run)
    configs = {"run_config": cfg.to_dict(), "model_config": model_config.to_dict()}

    # 5. loop ----------------------------------------------------------------------------------
    progress = _progress_bar(cfg, start_step)
    pending: list[tuple[int, list[Any]]] = []  # (optimizer step, device metrics of its micro-batches)
    last_good = checkpoints.latest_step() if resume else None
    # The last evaluation before the resume (a run killed during export resumes past its last step).
    eval_metrics: dict[str, float] = run_log.last_eval()
    # The summary's train loss averages the last steps, also those logged before a resume.
    recent_losses: list[float] = [r["loss"] for r in run_log.resumed_records if r.get("loss") is not None]
    window_start, window_examples = time.perf_counter(), 0

    def drain() -> None:
        """Fetch pending metrics (the one host sync), check them, write them."""
        nonlocal window_examples
        if not pending:
            return
        fetched = placement.fetch([m for _, m in pending])
        elapsed = max(time.perf_counter() - window_start, 1e-9)
        rate = window_examples / elapsed
        for (step, _), micro in zip(pending, fetched, strict=True):
            record = {
                "loss": float(np.mean([m["loss"] for m in micro])),
                "grad_norm": float(micro[-1]["grad_norm"]),  # of the accumulated gradient the update applied
                "learning_rate": float(micro[-1]["learning_rate"]),
            }
            finite = all(math.isfinite(float(m["loss"])) and math.isfinite(float(m["grad_norm"])) for m in micro)
            if not finite:
                run_log.write(step, record)
                run_log.flush()
                pending.clear()
                _stop_non_finite(step, record, checkpoints, last_good, cfg)
            run_log.write(step, {**record, "examples_per_second": rate})
            recent_losses.append(record["loss"])
        pending.clear()
        run_log.flush()
        progress.set_postfix(loss=f"{recent_losses[-1]:.4f}", ex_per_s=f"{rate:.0f}")
        window_examples = 0

    step, stopped = start_step, False
    try:
        for step in range(start_step + 1, cfg.train.steps + 1):
            micro = []
            for _ in range(k):
                state, metrics = train_step(state, placement.put_batch(next(batches)))
                micro.append(metrics)
                window_examples += batches.last_examples
            pending.append((step, micro))
            progress.update(1)
            fault_point("step", step)
            last = step == cfg.train.steps
            do_eval = data.has_eval and (last or (cfg.train.eval_every and step % cfg.train.eval_every == 0))
            do_save = last or checkpoints.should_save(step) or (do_eval and cfg.checkpoint.best_metric)
            synced = do_save or do_eval or step % cfg.train.log_every == 0
            if synced:
                drain()  # before saving: a checkpoint is written only after its steps were checked
            if do_eval:
                eval_metrics = evaluate(state.params)
                run_log.write(step, {f"eval/{k_}": v for k_, v in eval_metrics.items()})
                run_log.flush()
                log(_format_eval(step, eval_metrics))
            if do_save:
                metrics = dict(eval_metrics) if do_eval else None
                _check_best_metric(cfg, metrics)
                checkpoints.save(step, state, data_position=batches.position(), metrics=metrics, force=True,
                                 **configs)
                last_good = step
            if synced:
                window_start = time.perf_counter()  # throughput counts training only, not evals or saves
            if stop.requested(synced=synced):
                break
        drain()
        stopped = stop.requested()
        if stopped and last_good != step and stop.signum == signal.SIGTERM:
            # Preemption: the grace period before SIGKILL (30 s by default on Slurm and Kubernetes) is
            # for saving. The save is the periodic one (its only blocking part is the copy to the host),
            # and if SIGKILL still comes first, its unfinished temporary is ignored on resume.
            checkpoints.save(step, state, data_position=batches.position(), force=True, **configs)
            last_good = step
    finally:
        progress.close()
        checkpoints.wait()  # the in-flight save finishes, also on the way out of an error or a signal
        run_log.close()
    if stopped or stop.requested():  # stopped during the loop, or during its last step's save
        log(f"stopped after step {step}; the latest checkpoint is step {checkpoints.latest_step()}")
        raise RunInterrupted(stop.signum, step)

    # 6. finish (a signal from here on lets the run complete: its last checkpoint is already saved) ----
    test_metrics: dict[str, float] = {}
    if data.test is not None and data.test.labeled:
        # The test split is never looked at during training: the unbiased held-out number.
        test_metrics = evaluate(state.params, data.test)
        log(_format_eval(step, test_metrics).replace(": eval ", ": test "))
    params = placement.fetch(state.params)
    export_dirs = {}
    if cfg.export.formats and jax.process_index() == 0:  # one writer, also with several processes
        export_dirs = export.export_model(cfg, model_config, params, data, log=log)
    seconds = time.perf_counter() - started
    result = TrainResult(
        output_dir=out, step=step, checkpoint_dir=ckpt_dir, last_checkpoint=checkpoints.latest_step(),
        best_checkpoint=checkpoints.best_step(), metrics_file=run_log.metrics_path,
        summary_file=run_log.summary_path, eval_metrics=eval_metrics, test_metrics=test_metrics,
        train_loss=float(np.mean(recent_losses[-10:])) if recent_losses else None, seconds=seconds,
        export_dirs=export_dirs, task=cfg.task, tensorboard_dir=run_log.tensorboard_dir)
    summary = {k_: v for k_, v in dataclasses.asdict(result).items() if k_ != "summary_file"}
    summary["parameters"] = int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))
    RunLog.write_summary(run_log, summary)
    return result


# What a resumed run may not change: the checkpoint's arrays or the data position would not fit.
_FIXED_ON_RESUME = ("task", "model", "data", "train.batch_size", "train.seed", "optim.grad_accum_steps",
                    "optim.layer_decay")
# What changes nothing in the numbers.
_FREE_ON_RESUME = ("output_dir", "train.log_every", "train.eval_every", "train.progress_bar",
                   "train.eval_batch_size", "checkpoint", "export", "mesh", "distributed")


def _check_resumable(checkpoints, cfg: RunConfig, log, unfinished: list[str]) -> None:
    """Refuse changes that don't fit the checkpoint; name the ones that make the run diverge from
    the uninterrupted one (a lower learning rate after a NaN stop is such a deliberate change)."""
    if checkpoints.latest_step() is None:
        ignored = f" (only {len(unfinished)} unfinished save(s), ignored)" if unfinished else ""
        raise FileNotFoundError(f"--resume: no finished checkpoint in {checkpoints.directory}{ignored}; "
                                "start without --resume")
    configs = checkpoints.newest_config()
    if configs is None:  # no step folder holds a readable config: restore_newest names each one's fault
        return
    saved = RunConfig.from_dict(configs["run"], source="checkpoint").to_dict()
    now = cfg.to_dict()

    def under(key, prefixes):
        return any(key == p or key.startswith(p + ".") for p in prefixes)

    differing = sorted(k for k in _dotted_keys(saved) | _dotted_keys(now) if _get(saved, k) != _get(now, k))
    fixed = [k for k in differing if under(k, _FIXED_ON_RESUME)]
    if fixed:
        raise ValueError(f"--resume: the run config differs from the checkpoint's in {', '.join(fixed)}, which the "
                         "checkpoint can't continue with; resume with the checkpoint's values, or start a new run "
                         "in another output_dir")
    changed = [f"{k} {_get(saved, k)} -> {_get(now, k)}" for k in differing if not under(k, _FREE_ON_RESUME)]
    if changed:
        log(f"resuming with changed settings: {'; '.join(changed)} (the run continues from the checkpoint "
            "but will no longer match one trained with the old settings)")


def _config_dir(path: str) -> str:
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


def _dotted_keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            keys |= _dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


def _get(tree: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _check_best_metric(cfg: RunConfig, metrics: dict | None) -> None:
    name = cfg.checkpoint.best_metric
    if name is not None and metrics is not None and name not in metrics:
        raise ValueError(f"checkpoint.best_metric={name!r} is not an eval metric of this task; "
                         f"choose one of {sorted(metrics)}")


def _stop_non_finite(step: int, record: dict, checkpoints, last_good: int | None, cfg: RunConfig):
    checkpoints.wait()
    lower = f"optim.learning_rate={cfg.optim.learning_rate / 10:g}"
    clip = "" if cfg.optim.max_grad_norm else " optim.max_grad_norm=1.0"
    if last_good is not None:
        where = (f"The last good checkpoint is step {last_good} in {checkpoints.directory}; continue from it with "
                 f"a lower learning rate (now {cfg.optim.learning_rate:g}): "
                 f"rembert-jax train CONFIG --resume {lower}{clip}")
    else:
        where = (f"No checkpoint was written before it; start again with a lower learning rate (now "
                 f"{cfg.optim.learning_rate:g}), e.g. {lower}{clip}")
    raise NonFiniteLossError(f"training stopped at step {step}: the loss is {record['loss']} and the gradient "
                             f"norm {record['grad_norm']} (not finite). {where}")


def _format_eval(step: int, metrics: dict[str, float]) -> str:
    shown = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items()))
    return f"step {step}: eval {shown}"


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


def _progress_bar(cfg: RunConfig, start: int):
    if not cfg.train.progress_bar:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=cfg.train.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
