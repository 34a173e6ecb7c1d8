"""One writer per run: an exclusive OS lock on `<output_dir>/train.lock` while a run trains.

Two runs writing one output_dir interleave `metrics.jsonl` and collide inside orbax. The lock is
`flock` (BSD file lock): the kernel releases it when its holder exits, however it exits (SIGKILL,
OOM, a power cut of the process), so a lock left by a dead run is never "stale" and needs no
clean-up. The holder's PID and host are written into the file, only to name the holder in the
message another run gets. The file itself stays (removing it on release would let a third run lock
a new file while a second still waits on the old one).
"""

from __future__ import annotations

import os
import socket

LOCK_FILE = "train.lock"


class RunLockedError(RuntimeError):
    """Another process holds the output_dir's lock."""


class RunLock:
    def __init__(self, directory: str | os.PathLike):
        self.path = os.path.join(os.fspath(directory), LOCK_FILE)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's PID stays readable
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "a process that has not written its PID yet"
            os.close(fd)
            raise RunLockedError(f"{os.path.dirname(self.path)} is in use by another training run ({holder}, "
                                 f"holding {self.path}): wait for it to finish or stop it, or choose another "
                                 "output_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
