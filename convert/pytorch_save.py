"""PyTorch out: `save_pytorch(dir, config, params, task=...)` writes what transformers loads.

`config.json` (with `architectures`) and `model.safetensors`, or shards
`model-0000k-of-0000n.safetensors` plus `model.safetensors.index.json` above `max_shard_size`,
into a staging directory that replaces `dir` only when everything is written.
"""

from __future__ import annotations

import os
import re

from rembert_jax.config import RemBertConfig

from .assemble import PROGRESS_MIN_ELEMENTS
from .files import atomic_directory, parse_size, write_sharded_safetensors
from .names import ARCHITECTURES
from .sources import SAFETENSORS_INDEX_NAME, SAFETENSORS_NAME
from .write_plan import tensors_to_write

DEFAULT_MAX_SHARD_SIZE = "5GB"
# Every name this writer can produce; with force=True only these are replaced in an existing folder
# (a stale shard of an earlier sharded write included), never e.g. a pytorch_model.bin it did not write.
_PRODUCED = re.compile(r"config\.json|model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json")


def _dtype_name(tensors) -> str | None:
    names = {t.dtype.name for t in tensors}
    return names.pop() if len(names) == 1 else None


def save_pytorch(directory: str | os.PathLike, config: RemBertConfig, params: dict, *, task: str | None = None,
                 max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE, dtype=None, force: bool = False) -> list[str]:
    """Write `params` as a transformers PyTorch checkpoint that `RemBertFor*.from_pretrained` loads
    with no missing or unexpected keys.

    Args:
      params: a bare encoder tree (saved as `RemBertModel`) or `{"encoder", "head"}` of `task`.
      task: the head's task; inferred for bare encoders and from `config.architectures`.
      max_shard_size: bytes (or "5GB"-style) above which the weights are sharded with an index.
      dtype: cast tensors on the way out (e.g. "bfloat16"); None keeps them.
      force: write into an existing non-empty `directory`, replacing only the files this writer
        produces (config.json, model*.safetensors, the index); without it such a folder is refused.

    Returns the files written, relative to `directory`.
    """
    from tqdm.auto import tqdm

    task, tensors = tensors_to_write(config, params, task, "pytorch", dtype=dtype)
    items = [(t.name.pytorch, t) for t in tensors]
    out_config = config.replace(architectures=[ARCHITECTURES[task]], dtype=_dtype_name(tensors))
    total = sum(t.nbytes for t in tensors)
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"writing {directory}", leave=False,
              disable=total < 4 * PROGRESS_MIN_ELEMENTS) as progress, \
            atomic_directory(directory, produces=lambda f: bool(_PRODUCED.fullmatch(f)), force=force,
                             needed_bytes=total) as staging:
        files = write_sharded_safetensors(
            staging, items, max_shard_size=parse_size(max_shard_size), weights_name=SAFETENSORS_NAME,
            index_name=SAFETENSORS_INDEX_NAME, metadata={"format": "pt"}, progress=progress)
        out_config.save_pretrained(staging)
    return [*files, "config.json"]
