"""A test-only hook: kill or signal the training process at a named phase, deterministically.

    REMBERT_JAX_FAULT="PHASE[@STEP]:ACTION"      e.g. commit@3:kill, save@6:sigint, export:kill

Phases (where the trainer calls `fault_point`):
    step      after optimizer step STEP was trained (its metrics not yet fetched)
    save      as the save of step STEP starts, in the main thread (before orbax is called)
    commit    in orbax's background commit of step STEP: every file written, the temporary
              directory (`STEP.orbax-checkpoint-tmp-*`) not yet renamed into place
    export    during export, after the first format's weights are written
Actions: `kill` (SIGKILL: no handler runs, like a power cut or the OOM killer), `sigint`, `sigterm`
(the signal is sent and the phase then lingers for half a second, so the main thread handles it
while the phase is still in progress).

Tests use this instead of timing luck: a save of the tiny test models takes milliseconds, so a
signal sent from outside almost never lands inside one, and a test that only sometimes reaches
the phase it names can't show that phase is handled. Unset (always, outside tests), `fault_point`
does nothing.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "REMBERT_JAX_FAULT"
_ACTIONS = {"kill": signal.SIGKILL, "sigint": signal.SIGINT, "sigterm": signal.SIGTERM}
PHASES = ("step", "save", "commit", "export")


def _planned() -> tuple[str, int | None, str] | None:
    text = os.environ.get(ENV)
    if not text:
        return None
    where, _, action = text.partition(":")
    phase, _, step = where.partition("@")
    if phase not in PHASES or action not in _ACTIONS or (step and not step.isdigit()):
        raise ValueError(f"{ENV}={text!r}: expected PHASE[@STEP]:ACTION with PHASE one of {', '.join(PHASES)} "
                         f"and ACTION one of {', '.join(_ACTIONS)}")
    return phase, int(step) if step else None, action


def fault_point(phase: str, step: int | None = None) -> None:
    """Act as `REMBERT_JAX_FAULT` says if it names this phase (and this step, when it names one)."""
    planned = _planned()
    if planned is None or planned[0] != phase or planned[1] not in (None, step):
        return
    os.kill(os.getpid(), _ACTIONS[planned[2]])
    time.sleep(0.5)
