"""The tokenizer of each model preset, so `RemBertConfig.from_preset(name)` has a matching tokenizer.

    tiny      shipped with the package (configs/tokenizers/tiny/): the demo's 3,000-piece multilingual
              sentencepiece model (train/demo/PROVENANCE.md), `model_max_length` 64 like the preset
    rembert   google/rembert's own files, which come from the Hugging Face Hub

Every preset in `configs/` must appear here (a test holds the two lists together).
"""

from __future__ import annotations

import os
from importlib import resources

from ..config import preset_names

# preset -> folder inside the rembert_jax.configs package
SHIPPED = {"tiny": "tokenizers/tiny"}
# preset -> Hugging Face Hub repository holding its tokenizer files
HUB = {"rembert": "google/rembert"}


def load_preset(cls, name: str, **kwargs):
    """`cls.from_pretrained` on the tokenizer files of preset `name`."""
    if name in SHIPPED:
        folder = resources.files("rembert_jax.configs").joinpath(SHIPPED[name])
        return cls.from_pretrained(os.fspath(folder), **kwargs)
    if name in HUB:
        repo = HUB[name]
        try:
            return cls.from_pretrained(repo, **kwargs)
        except OSError as err:  # FileNotFoundError, or the Hub client's "not in the local cache"
            raise FileNotFoundError(
                f"the {name!r} preset's tokenizer is {repo}'s, which comes from the Hugging Face Hub and is "
                f"not available here ({err}); download it once with network access (e.g. `hf download "
                f"{repo}`) or pass the directory holding its files to from_pretrained"
            ) from err
    known = sorted(set(SHIPPED) | set(HUB))
    if name in preset_names():
        raise ValueError(f"preset {name!r} has no tokenizer registered in rembert_jax.tokenization._presets "
                         f"(known: {', '.join(known)})")
    raise ValueError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
