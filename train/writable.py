"""Where a run writes is checked before it trains: a read-only or misplaced output_dir or export.dir
is named at start, not discovered when the first checkpoint or, worse, the export after the whole
run fails."""

from __future__ import annotations

import os
import tempfile


def check_writable(path: str | os.PathLike, what: str) -> None:
    """Raise an `OSError` naming `what` and `path` unless a file can be created in `path` (or, while
    it doesn't exist yet, in its nearest existing parent, where it would be created). Nothing is left
    behind. A real probe, not `os.access`, which is wrong for root, ACLs and read-only mounts."""
    path = os.path.abspath(os.fspath(path))
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(f"{what} {path} can't be created: {existing} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=existing)
    except OSError as e:
        where = "" if existing == path else f" (it would be created in {existing})"
        raise PermissionError(f"{what} {path} is not writable{where}: {e.strerror or e}") from None
    os.close(fd)
    os.remove(probe)
