"""Ctrl-C and SIGTERM stop a training run between steps, never inside JAX or orbax.

Python's default SIGINT handler raises `KeyboardInterrupt` wherever the main thread happens to be.
Inside XLA's `compile_and_load` (every new shape compiles) that abandons a compilation half done,
and the interpreter later segfaults while tearing the XLA client down (rc -11/139 after the resume
hint was printed); inside `CheckpointManager.save` it leaves orbax's commit thread waiting on a
save that never started, and shutdown hangs. So the handlers here only record the signal; the
trainer looks at it between steps and shuts down in order: the metrics fetched and written, on
SIGTERM the current state saved, the in-flight save finished, the checkpoint manager closed, and
then `RunInterrupted` raised.

Exit codes are 128 + the signal, what a shell reports for a process the signal killed: 130 for
Ctrl-C, 143 for SIGTERM. SIGTERM is how Slurm (`scancel`, preemption, the time limit) and
Kubernetes stop a job, followed by SIGKILL after a grace period (30 s by default in both); 143 tells
a wrapper or scheduler "terminated as asked" apart from a failure (1) or a user's Ctrl-C (130).
A second Ctrl-C raises `KeyboardInterrupt` at once, wherever the main thread is, as Python's own
handler does (so it can hit the crash above: it is the way out of a step that never ends).
"""

from __future__ import annotations

import os
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run stopped cleanly on a signal; `step` is the last step trained, `exit_code` 128 + signal."""

    def __init__(self, signum: int, step: int | None = None):
        self.signum, self.step = signum, step
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}" + (f" after step {step}" if step else ""))


class StopSignals:
    """While entered (in the main thread), SIGINT and SIGTERM only set `signum`; elsewhere a no-op.

    In a multi-process run every process must stop at the same step (a lone process leaving would
    hang the others in their next collective), so there `requested(synced=True)` agrees on it with
    one small all-gather, and `requested(synced=False)` is always False.
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt  # the second Ctrl-C: stop at once
        if self.signum is None:
            self.signum = signum
            # os.write, not print: a handler that prints while the interrupted code is printing to the
            # same stream raises "reentrant call" from inside the buffered writer.
            os.write(2, f"\n{signal.Signals(signum).name} received: stopping after the current step (finishing "
                        "the checkpoint in progress; Ctrl-C again to stop at once)\n".encode())

    def requested(self, *, synced: bool = True) -> bool:
        import jax

        if jax.process_count() == 1:
            return self.signum is not None
        if not synced:
            return False
        import numpy as np
        from jax.experimental import multihost_utils

        every = multihost_utils.process_allgather(np.int32(self.signum or 0))
        if self.signum is None and every.max():
            self.signum = int(every.max())  # another process was signalled: stop with it
        return bool(every.max())
