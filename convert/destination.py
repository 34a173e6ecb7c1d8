"""Where a writer may write, decided before any work: nothing a user owns is ever destroyed.

Every checkpoint writer (`save_pytorch`, `save_keras`, `save_tf_checkpoint`, `save_orbax`, and so
`rembert-jax convert`) goes through `check_destination` first:

- paths are compared by real path (symlinks resolved), so a source file inside the destination
  folder, or a symlink to the source folder, is caught;
- an existing non-empty destination is refused unless `force` (`--force` on the command line),
  and even then only the files that format writes are replaced (`atomic_directory` in files.py);
- the destination (or the folder it will be made in) must accept files: probed by creating one,
  since permission bits say nothing for root and nothing about read-only or full filesystems;
- the output must fit in the free space of that filesystem.

Failures are `OSError`s that name the path and the cause (`DestinationError`) or a
`DestinationExistsError`, whose advice names `force=True` in Python and `--force` on the CLI.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable

# Writers' files are a little larger than their tensors (headers, HDF5 / orbax metadata).
_ROOM_SLACK_BYTES = 4 * 2**20
_ROOM_SLACK_FRACTION = 0.02


class DestinationError(OSError):
    """A destination that can't be written: the path and the cause are in the message."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno N]" prefix
        return self.strerror or super().__str__()


class DestinationExistsError(FileExistsError):
    """The destination holds files and the writer was not told it may write among them."""

    def __init__(self, path: str, entries: Iterable[str]):
        self.path, self.entries = path, sorted(entries)
        super().__init__(self.advice("force=True"))

    def advice(self, option: str) -> str:
        """The message, naming `option` ("force=True", "--force") as the way to go ahead."""
        shown = ", ".join(self.entries[:6]) + (", ..." if len(self.entries) > 6 else "")
        return (f"{self.path} already exists and is not empty (it holds {shown}); pass {option} to write into it "
                "(only the files this format writes are replaced, others are kept), or choose a new or empty "
                "directory")


def _size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB"):
        if nbytes < 1000:
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} GB"


def write_failure(target: str | os.PathLike, cause: BaseException) -> DestinationError:
    """A `DestinationError` for a write into `target` that failed with `cause` (an `OSError`, or a
    library's error such as tensorstore's, whose text may carry `os_error_code='28'`)."""
    text = str(cause).strip()
    code = getattr(cause, "errno", None)
    if code is None:
        match = re.search(r"os_error_code='?(\d+)", text)
        code = int(match.group(1)) if match else errno.EIO
    reason = getattr(cause, "strerror", None) or (text.splitlines()[0] if text else type(cause).__name__)
    if code == errno.ENOSPC:
        reason = f"{reason} (the disk is full: free some space or write elsewhere)"
    return DestinationError(code, f"cannot write {os.fspath(target)}: {reason}")


def _nearest_existing(path: str) -> str:
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _source_paths(source: str) -> list[str]:
    """Real paths of what a source reads: itself, and the files of its folder (a weights file reads
    config.json and shards beside it; a file of the folder may be a symlink to elsewhere)."""
    real = os.path.realpath(source)
    folder = real if os.path.isdir(real) else os.path.dirname(real)
    out = [real]
    if os.path.isdir(folder):
        for entry in os.scandir(folder):
            if entry.is_file():  # follows symlinks
                out.append(os.path.realpath(entry.path))
    return out


def check_sources(target: str, sources: Iterable[str | os.PathLike]) -> None:
    """ValueError when writing `target` could overwrite or delete a source (compared by real path)."""
    for source in sources:
        source = os.fspath(source)
        for path in _source_paths(source):
            if _inside(path, target):
                same = os.path.realpath(source) == target
                raise ValueError(
                    f"the destination {target} {'is' if same else 'holds'} the source {source}"
                    f"{'' if path == os.path.realpath(source) else f' (its file {path})'}: writing there would "
                    "replace or delete it; write somewhere else")


def check_room(folder: str, needed_bytes: int, target: str) -> None:
    """DestinationError when the filesystem of `folder` has less free space than `needed_bytes` needs."""
    if needed_bytes <= 0:
        return
    need = int(needed_bytes * (1 + _ROOM_SLACK_FRACTION)) + _ROOM_SLACK_BYTES
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DestinationError(errno.ENOSPC, f"cannot write {target}: it needs about {_size(need)} but only "
                                             f"{_size(free)} are free on that disk; free some space or write "
                                             "elsewhere")


def _probe(folder: str, target: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".rembert-jax-probe-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise write_failure(target, e) from None


def check_destination(directory: str | os.PathLike, *, force: bool = False, sources: Iterable = (),
                      needed_bytes: int = 0) -> str:
    """The real path of output directory `directory`, once it is safe to write there.

    Refuses (before anything is read or written) a destination that is or holds one of `sources`,
    a non-directory, a non-empty directory unless `force`, a place where no file can be created,
    or a filesystem without room for `needed_bytes`."""
    target = os.path.realpath(os.fspath(directory))
    check_sources(target, sources)
    if os.path.exists(target):
        if not os.path.isdir(target):
            raise DestinationError(errno.ENOTDIR, f"cannot write {target}: it is a file, not a directory")
        entries = os.listdir(target)
        if entries and not force:
            raise DestinationExistsError(target, entries)
    existing = _nearest_existing(os.path.dirname(target))
    if not os.path.isdir(existing):
        raise DestinationError(errno.ENOTDIR, f"cannot write {target}: {existing} is a file, not a directory")
    _probe(existing, target)  # where the staging folder goes (the parent, once created)
    if os.path.isdir(target):
        _probe(target, target)  # where the new files are renamed into
    check_room(existing, needed_bytes, target)
    return target
