"""Training RemBERT with optax: what the `rembert-jax train | eval | predict` commands (`rembert_jax.cli`) run.

Run level:
    load_run_config, RunConfig     the YAML run config (dotted overrides, errors naming the key)
    train                          a whole run: data, model, optimizer, resume, loop, checkpoints, export
    NonFiniteLossError             raised when the loss or gradient stops being finite
    RunInterrupted                 raised (a KeyboardInterrupt) when Ctrl-C / SIGTERM stopped the run
                                   cleanly between steps; `exit_code` 130 / 143
    RunLockedError                 another run holds the output_dir
Step level (for your own loop):
    TrainState, create_train_state     step, params, opt_state, rng as one pytree
    make_optimizer, make_schedule      AdamW + warmup/decay, decay mask, clipping, accumulation, layer decay
    make_train_step, make_eval_step    jitted once; the state is donated; no host syncs inside
    Checkpoints                        orbax CheckpointManager: state + data position + configs
Data (see `rembert_jax.train.data`): DataSpec, load_tokenizer, load_task_dataset, BatchIterator.

Names are imported lazily, so the command line starts without importing jax.
"""

from __future__ import annotations

from rembert_jax._lazy import lazy_exports

_LAZY = {
    "RunConfig": "rembert_jax.train.run_config",
    "load_run_config": "rembert_jax.train.run_config",
    "train": "rembert_jax.train.trainer",
    "TrainResult": "rembert_jax.train.trainer",
    "NonFiniteLossError": "rembert_jax.train.trainer",
    "RunInterrupted": "rembert_jax.train.interrupts",
    "RunLockedError": "rembert_jax.train.run_lock",
    "TrainState": "rembert_jax.train.state",
    "create_train_state": "rembert_jax.train.state",
    "make_optimizer": "rembert_jax.train.optim",
    "make_schedule": "rembert_jax.train.optim",
    "make_train_step": "rembert_jax.train.step",
    "make_eval_step": "rembert_jax.train.step",
    "Checkpoints": "rembert_jax.train.checkpoint",
    "DataSpec": "rembert_jax.train.data",
    "load_tokenizer": "rembert_jax.train.data",
    "load_task_dataset": "rembert_jax.train.data",
    "BatchIterator": "rembert_jax.train.data",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
