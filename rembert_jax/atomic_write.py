"""`write_text_atomic`: a text file that is either the old one or the whole new one, never half.

The text goes to a temporary file next to the target, then `os.replace` swaps it in (atomic on
POSIX and Windows within one filesystem). If anything fails before the swap, the temporary file
is removed and the target is untouched. Used for config.json, run metrics and summaries, and the
eval / predict output files.
"""

from __future__ import annotations

import os


def write_text_atomic(path: str | os.PathLike, text: str) -> str:
    """Write `text` (UTF-8) to `path` atomically, creating its directory; returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
